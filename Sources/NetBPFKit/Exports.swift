// `import NetBPFKit` is the one import a tool needs, as `from bcc import BPF` is in Python: the
// front door (`BPF`) and the layers under it.
@_exported import NetBPF
@_exported import NetBPFCompiler
@_exported import NetBPFNetlink
@_exported import NetBPFTracing
