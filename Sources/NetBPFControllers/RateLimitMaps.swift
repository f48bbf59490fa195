/// Swift mirrors of programs/include/ratelimit.h (same sizes and field order; a test checks the
/// sizes against the object's BTF through the typed views, which refuse any mismatch).
struct RLKey4: BitwiseCopyable { var prefixLength: UInt32; var address: (UInt8, UInt8, UInt8, UInt8) }
struct RLKey6: BitwiseCopyable {
    var prefixLength: UInt32
    var address: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
}
struct RLLimit: BitwiseCopyable { var rateBytesPerSecond: UInt64; var burstBytes: UInt64; var classID: UInt32; var id: UInt32 }
struct RLBucket: BitwiseCopyable {
    var lock: UInt32 = 0
    var pad: UInt32 = 0
    var tokens: UInt64 = 0
    var lastNanoseconds: UInt64 = 0
    var passedPackets: UInt64 = 0
    var passedBytes: UInt64 = 0
    var droppedPackets: UInt64 = 0
    var droppedBytes: UInt64 = 0
}
struct RLConfig: BitwiseCopyable { var keyOnDestination: UInt32; var shape: UInt32; var learnNeighbors: UInt32; var pad: UInt32 }

enum RLIDs {
    static let defaultLimit: UInt32 = 0
    static let neighborLimit: UInt32 = 1
    static let capacity: UInt32 = 4096
}

extension RLKey4 {
    init(_ p: AddressPrefix) {
        prefixLength = UInt32(p.length)
        address = (p.address[0], p.address[1], p.address[2], p.address[3])
    }
    var prefix: AddressPrefix {
        AddressPrefix(address: withUnsafeBytes(of: address) { Array($0) }, length: Int(prefixLength))
    }
}

extension RLKey6 {
    init(_ p: AddressPrefix) {
        prefixLength = UInt32(p.length)
        var a = (UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0))
        withUnsafeMutableBytes(of: &a) { raw in for i in 0..<16 { raw[i] = p.address[i] } }
        address = a
    }
    var prefix: AddressPrefix {
        AddressPrefix(address: withUnsafeBytes(of: address) { Array($0) }, length: Int(prefixLength))
    }
}
