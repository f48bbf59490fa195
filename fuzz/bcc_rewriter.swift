import Foundation

// libFuzzer target: BCC mode's token rewrite (BCCRewriter.swift, BCCTokenizer.swift) on
// arbitrary text. Seeds: fuzz/corpus/bcc, plus BCC's own programs captured from the installed
// bpfcc-tools at run time (scripts/fuzz.sh; never committed).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBCCRewriter(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    _ = BCCRewriter.rewrite(text, sections: ["f": "tc"], defines: ["CTXTYPE=xdp_md", "MAPTYPE=\"hash\""], kernelHas: { $0 == "sock" })
    return 0
}

/// The compiler's record of a function given a section (Compiler.swift has the real one).
struct AutoAttachedFunction: Equatable {
    let function: String
    let section: String
}
