// libFuzzer target: the checks netbpf runs on object bytes before libbpf sees them
// (ELFHeaderCheck) and the section-name reader used after compiling (ELFSections).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzELF(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let valid = (try? bytes.withUnsafeBytes { try ELFHeaderCheck.validate($0, name: "fuzz.o") }) != nil
    if valid { _ = ELFSections.names(bytes) }
    _ = ELFSections.names(bytes) // must also survive what the header check would refuse
    return 0
}
