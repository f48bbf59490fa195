// swift-tools-version:6.0
// netbpf: BPF networking on Linux, in Swift, on libbpf + libmnl.
import PackageDescription

/// clang 14 and LLVM 14 linked into netbpf-cc, the compiler helper, from Debian's static
/// archives (libclang-14-dev, llvm-14-dev) instead of libclang-cpp.so + libLLVM-14.so: only the
/// members a BPF compile reaches are pulled in, and starting it costs no dynamic symbol
/// resolution. `clang-14 --version` spends 23 ms loading the two shared libraries.
/// The archives are grouped because clang's and LLVM's libraries refer to each other.
let clangArchives = [
    "clangCodeGen", "clangFrontend", "clangDriver", "clangSerialization", "clangParse", "clangSema",
    "clangAnalysis", "clangEdit", "clangASTMatchers", "clangAST", "clangLex", "clangBasic",
]
/// `llvm-config-14 --link-static --libs bpfcodegen bpfasmparser bpfdesc bpfinfo option coverage
/// lto passes frontendopenmp` without Polly (see polly_stub.cpp).
let llvmArchives = [
    "LLVMLTO", "LLVMExtensions", "LLVMPasses", "LLVMObjCARCOpts", "LLVMCoroutines", "LLVMCoverage",
    "LLVMOption", "LLVMBPFAsmParser", "LLVMBPFCodeGen", "LLVMSelectionDAG", "LLVMipo",
    "LLVMInstrumentation", "LLVMVectorize", "LLVMLinker", "LLVMIRReader", "LLVMAsmParser",
    "LLVMFrontendOpenMP", "LLVMBPFDesc", "LLVMBPFInfo", "LLVMAsmPrinter", "LLVMDebugInfoMSF",
    "LLVMCodeGen", "LLVMTarget", "LLVMScalarOpts", "LLVMInstCombine", "LLVMAggressiveInstCombine",
    "LLVMTransformUtils", "LLVMBitWriter", "LLVMAnalysis", "LLVMProfileData", "LLVMDebugInfoDWARF",
    "LLVMObject", "LLVMTextAPI", "LLVMMCParser", "LLVMMC", "LLVMDebugInfoCodeView", "LLVMBitReader",
    "LLVMCore", "LLVMRemarks", "LLVMBitstreamReader", "LLVMBinaryFormat", "LLVMSupport", "LLVMDemangle",
]
let staticClangLinkFlags: [String] =
    ["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "--gc-sections", "-Xlinker", "--exclude-libs=ALL", "-Xlinker", "--as-needed",
     "-Xlinker", "--start-group"]
    + (clangArchives + llvmArchives).flatMap { ["-Xlinker", "/usr/lib/llvm-14/lib/lib\($0).a"] }
    + ["-Xlinker", "--end-group", "-lz", "-ltinfo", "-lstdc++", "-lm"]

let package = Package(
    name: "netbpf",
    platforms: [.macOS(.v13)],
    products: [
        // Every layer a tool author needs is a product; `NetBPFKit` re-exports the usual ones
        // behind the BCC-shaped front door (`BPF`). The CLI uses nothing a consumer cannot.
        .library(name: "NetBPFKit", targets: ["NetBPFKit"]),
        .library(name: "NetBPF", targets: ["NetBPF"]),
        .library(name: "NetBPFCompiler", targets: ["NetBPFCompiler"]),
        .library(name: "NetBPFNetlink", targets: ["NetBPFNetlink"]),
        .library(name: "NetBPFAttach", targets: ["NetBPFAttach"]),
        .library(name: "NetBPFTracing", targets: ["NetBPFTracing"]),
        .library(name: "NetBPFControllers", targets: ["NetBPFControllers"]),
        .library(name: "NetBPFSim", targets: ["NetBPFSim"]),
        .executable(name: "netbpf", targets: ["netbpf"]),
        .executable(name: "netbpf-bench", targets: ["netbpf-bench"]),
        // The compiler helper: clang/LLVM in a process of its own, started for each compile.
        .executable(name: "netbpf-cc", targets: ["netbpf-cc"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        // etcd's v3 JSON gateway over HTTPS with client certificates (NIOSSL), for NetBPFFleet only.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.29.0"),
    ],
    targets: [
        // System libraries (Debian: libbpf-dev, libmnl-dev), nothing else.
        .systemLibrary(name: "CLibBPF", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev"])]),
        .systemLibrary(name: "CMnl", pkgConfig: "libmnl", providers: [.apt(["libmnl-dev"])]),
        // C helpers for what Swift cannot call directly (varargs print callback, LIBBPF_OPTS, raw bpf(2)).
        .target(name: "CNetBPFShims", dependencies: ["CLibBPF"], linkerSettings: [.linkedLibrary("z")]),
        // pcap expressions -> classic BPF, kept apart (libpcap's struct bpf_program clashes with libbpf's);
        // libpcap (Debian: libpcap-dev for the header) is dlopen'd on first use, not linked.
        .target(name: "CNetBPFPcap"),
        // The structs, enums and limits the BPF programs share with Swift: programs/include/*.h
        // imported as they are (an umbrella header including them by relative path), so each
        // key, value and record layout has one definition, in C.
        .target(name: "CNetBPFProgramTypes"),
        // The commit netbpf was built from, when the release scripts recorded it (scripts/build-info.sh).
        .target(name: "CNetBPFBuildInfo"),
        // Attach, detach and list programs on interfaces (tcx, clsact, XDP) with records of what netbpf did.
        .target(name: "NetBPFAttach", dependencies: ["NetBPF", "NetBPFNetlink"]),
        // Controllers driven by maps: rate limiter (and HTTP filter, VLAN learning, tunnel monitor).
        .target(name: "NetBPFControllers", dependencies: ["NetBPF", "NetBPFCompiler", "NetBPFNetlink", "NetBPFAttach", "CNetBPFProgramTypes", "Yams"],
                resources: [.embedInCode("TunnelMonitor/tunnel-page.html")]),
        // The compiler helper's protocol: its types, and the client half that starts it.
        .target(name: "CNetBPFClangABI"),
        // clang 14 / LLVM 14 (Debian's llvm-14-dev, libclang-14-dev): the helper's compile.
        .target(
            name: "CNetBPFClang",
            dependencies: ["CNetBPFClangABI"],
            publicHeadersPath: ".",
            cxxSettings: [
                .unsafeFlags(["-I/usr/lib/llvm-14/include"]),
                .define("_GNU_SOURCE"), .define("__STDC_CONSTANT_MACROS"),
                .define("__STDC_FORMAT_MACROS"), .define("__STDC_LIMIT_MACROS"),
            ],
            linkerSettings: [.unsafeFlags(staticClangLinkFlags)]),
        // netbpf-cc: main() of the helper, which is all CNetBPFClang. Linked static (libc,
        // libstdc++, zlib, tinfo too): it starts for every compile, and without ld.so binding
        // ~6,000 symbolic relocations (LLVM's vtables and typeinfo against libstdc++) it starts
        // in ~3 ms instead of ~6.5 (docs/benchmarks.md).
        .executableTarget(name: "netbpf-cc", dependencies: ["CNetBPFClang", "CNetBPFClangABI"],
                          linkerSettings: [.unsafeFlags(["-static-executable"])]),
        // BPF C -> ELF in memory, vmlinux.h from BTF, the compile cache, diagnostics.
        .target(name: "NetBPFCompiler", dependencies: ["NetBPF", "CNetBPFClangABI", "CNetBPFShims"]),
        // The loader: objects, programs, maps, links, buffers, probes, introspection.
        .target(name: "NetBPF", dependencies: ["CLibBPF", "CNetBPFShims", "CNetBPFPcap"]),
        // rtnetlink over libmnl: namespaces, links, addresses, routes, qdiscs/classes/filters, XDP, extack errors.
        .target(name: "NetBPFNetlink", dependencies: ["CMnl", "CNetBPFShims"]),
        // Topology file -> namespaces, veths, bridges, VXLAN, VLAN access ports, processes; guaranteed teardown.
        .target(name: "NetBPFSim", dependencies: [
            "NetBPF", "NetBPFNetlink", "NetBPFCompiler",
            .product(name: "Yams", package: "Yams"),
        ]),
        // Tracing: probes (tracepoints, raw tracepoints, uprobes, kprobes, fentry, perf events),
        // symbols, stacks, histograms, and the tools of Tools/.
        .target(name: "NetBPFTracing", dependencies: ["NetBPF", "NetBPFCompiler", "NetBPFNetlink", "CLibBPF", "CNetBPFShims"]),
        // The front door: BCC's BPF(text=...) for Swift, re-exporting the layers under it.
        .target(name: "NetBPFKit", dependencies: ["NetBPF", "NetBPFCompiler", "NetBPFNetlink", "NetBPFTracing"]),
        // The fleet: node agent and operator client over etcd's v3 JSON gateway (TLS client certs).
        .target(name: "NetBPFFleet", dependencies: [
            "NetBPF", "NetBPFAttach", "NetBPFControllers", "NetBPFNetlink",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // Argument parsing and output formatting only.
        .target(name: "NetBPFCLI", dependencies: [
            "CNetBPFBuildInfo",
            "NetBPF", "NetBPFCompiler", "NetBPFNetlink", "NetBPFAttach", "NetBPFControllers", "NetBPFSim", "NetBPFTracing", "NetBPFKit", "NetBPFFleet",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Release links with lld and packed relative relocations (DT_RELR, glibc 2.36): the
        // executable's RELA relocations, all read by ld.so at start-up, shrink from 1.8 MB to
        // 15 KB, and peak RSS of `netbpf trace execsnoop` drops from 21 to 18 MB.
        .executableTarget(name: "netbpf", dependencies: ["NetBPFCLI", "NetBPF"],
                          linkerSettings: [.unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"],
                                                        .when(configuration: .release))]),
        // Side-by-side benchmarks against libbpf C, bpftool and BCC (benchmarks/run.sh).
        .executableTarget(name: "netbpf-bench", dependencies: ["NetBPF", "NetBPFCompiler", "NetBPFAttach", "NetBPFControllers"]),
        // Helpers shared by the test targets: programs/ compiled, fd-leak checks, the CLI binary.
        .target(name: "NetBPFTestSupport", dependencies: ["NetBPF", "NetBPFCompiler"]),
        // Pure-logic tests: no root, no kernel state.
        .testTarget(name: "NetBPFUnitTests", dependencies: ["CNetBPFProgramTypes", "NetBPF", "NetBPFCompiler", "NetBPFCLI", "NetBPFKit", "NetBPFNetlink", "NetBPFControllers", "NetBPFSim", "NetBPFTestSupport"]),
        // Tests against the real kernel: root, bpffs, namespaces.
        .testTarget(name: "NetBPFKernelTests", dependencies: ["CNetBPFProgramTypes", "NetBPF", "NetBPFCompiler", "NetBPFNetlink", "NetBPFAttach", "NetBPFControllers", "NetBPFSim", "NetBPFTestSupport"]),
        // Tracing: unit tests (formats, ELF, histograms) and kernel tests of the probes and tools.
        .testTarget(name: "NetBPFTracingTests", dependencies: ["NetBPF", "NetBPFCompiler", "NetBPFTracing", "NetBPFTestSupport"]),
        // The fleet agent and operator client against a real etcd (and the kernel).
        .testTarget(name: "NetBPFFleetTests", dependencies: ["NetBPF", "NetBPFAttach", "NetBPFControllers", "NetBPFFleet", "NetBPFTestSupport"]),
        // The front door, against the real kernel.
        .testTarget(name: "NetBPFKitTests", dependencies: ["NetBPFKit", "NetBPFTestSupport"]),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
