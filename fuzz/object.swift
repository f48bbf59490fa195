// libFuzzer target: netbpf's object-opening path on arbitrary bytes. BPFObjectSpec.open(bytes:)
// runs ELFHeaderCheck, then libbpf's bpf_object__open_mem (ELF sections, BTF, .maps, relocations
// recorded for later), and the inspection netbpf does before any load: every program's name,
// section, type and instruction count and every map's type and sizes. Nothing reaches the kernel
// (open never loads). libbpf itself is the system library, not instrumented: a bad read there
// shows up as a crash, not as an AddressSanitizer report, and coverage guides only netbpf's side.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzObject(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard let spec = try? BPFObjectSpec.open(bytes: bytes, name: "fuzz") else { return 0 }
    var total = 0
    for program in spec.programs { total &+= program.name.count &+ program.section.count &+ program.instructionCount }
    for map in spec.maps { total &+= Int(map.keySize) &+ Int(map.valueSize) &+ (map.pinPath?.count ?? 0) }
    if total == -1 { print(total) } // keeps the reads from being optimised away
    return 0
}
