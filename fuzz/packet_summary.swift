// libFuzzer target: the one-line packet summaries of `netbpf attach socket` (PacketSummary.swift)
// on arbitrary frames.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPacketSummary(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    _ = PacketSummary.describe(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
