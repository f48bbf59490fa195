import Foundation
import Testing
import NetBPFControllers
import NetBPFNetlink

/// struct icmp6_echo_event (programs/include/tc_icmp6_events.h) decoded from bytes laid out as
/// the BPF program writes them, without root.
struct ICMPv6EchoEventTests {
    static func record(seq: UInt16) -> [UInt8] {
        var b: [UInt8] = []
        func le<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        le(UInt64(123_456_789))
        b += IPAddress("fd00:9::1")!.bytes
        b += IPAddress("fd00:9::2")!.bytes
        le(UInt32(7)); le(UInt32(118)); le(UInt16(0xBEEF)); le(seq)
        b += [63, 0, 0, 0]
        return b
    }

    @Test func decodesEveryField() throws {
        let bytes = Self.record(seq: 513)
        #expect(bytes.count == ICMPv6EchoEvent.size)
        let e = try #require(bytes.withUnsafeBytes { ICMPv6EchoEvent(bytes: $0) })
        #expect(e == ICMPv6EchoEvent(timestampNanoseconds: 123_456_789, source: IPAddress("fd00:9::1")!, destination: IPAddress("fd00:9::2")!,
                                     ifindex: 7, length: 118, id: 0xBEEF, sequence: 513, hopLimit: 63))
        let json = String(decoding: try JSONEncoder().encode(e), as: UTF8.self)
        #expect(json.contains("\"source\":\"fd00:9::1\"") && json.contains("\"sequence\":513"), "\(json)")
    }

    @Test func refusesARecordOfAnotherSize() {
        let short = Array(Self.record(seq: 1).dropLast())
        #expect(short.withUnsafeBytes { ICMPv6EchoEvent(bytes: $0) } == nil)
    }
}
