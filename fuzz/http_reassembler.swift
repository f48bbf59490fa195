// libFuzzer target: the HTTP frame decoder, parser and reassembler (Sources/NetBPFControllers/
// HTTP*.swift) on arbitrary bytes. The input is cut into frames at 0xFF 0x00 0xFF markers, so the
// fuzzer also explores reassembly across segments; each frame is also fed on its own.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let reassembler = HTTPReassembler()
    var frames: [[UInt8]] = [[]]
    var i = 0
    while i < bytes.count {
        if i + 2 < bytes.count && bytes[i] == 0xFF && bytes[i + 1] == 0x00 && bytes[i + 2] == 0xFF {
            frames.append([])
            i += 3
            continue
        }
        frames[frames.count - 1].append(bytes[i])
        i += 1
    }
    var t = 1.0
    for frame in frames {
        _ = reassembler.process(frame: frame, time: t)
        t += 0.5
    }
    reassembler.expire(now: t + 3600)
    return 0
}
