import Foundation

/// A pcap-ng writer (draft-ietf-opsawg-pcapng): a section header, one interface description
/// block per capture point, enhanced packet blocks with options, and interface statistics at
/// the end. Little-endian, nanosecond timestamps (if_tsresol 9), read by Wireshark/tshark 3+.
package struct PcapNGWriter {
    /// The bytes written so far and not yet taken by `take()`.
    private(set) var buffer: [UInt8] = []

    package init(application: String) {
        var options: [UInt8] = []
        Self.option(4, Array(application.utf8), into: &options)   // shb_userappl
        Self.endOfOptions(&options)
        var body: [UInt8] = []
        Self.u32(0x1A2B_3C4D, &body)                              // byte-order magic
        Self.u16(1, &body); Self.u16(0, &body)                     // version 1.0
        Self.u64(UInt64.max, &body)                                // section length: unknown
        body += options
        block(0x0A0D_0D0A, body)
    }

    /// An interface description block: Ethernet, `snaplen`, nanosecond timestamps, a name and
    /// a description (tshark's frame.interface_name / frame.interface_description).
    package mutating func interface(name: String, description: String, snaplen: UInt32) {
        var body: [UInt8] = []
        Self.u16(1, &body); Self.u16(0, &body)                     // LINKTYPE_ETHERNET, reserved
        Self.u32(snaplen, &body)
        Self.option(2, Array(name.utf8), into: &body)             // if_name
        Self.option(3, Array(description.utf8), into: &body)      // if_description
        Self.option(9, [9], into: &body)                          // if_tsresol: 10^-9 s
        Self.endOfOptions(&body)
        block(1, body)
    }

    /// An enhanced packet block. `inbound`: epb_flags direction (1 inbound, 2 outbound).
    package mutating func packet(interface: UInt32, timestampNs: UInt64, data: UnsafeRawBufferPointer, originalLength: UInt32,
                                 inbound: Bool, comment: String?) {
        var body: [UInt8] = []
        body.reserveCapacity(data.count + 64 + (comment?.utf8.count ?? 0))
        Self.u32(interface, &body)
        Self.u32(UInt32(truncatingIfNeeded: timestampNs >> 32), &body)
        Self.u32(UInt32(truncatingIfNeeded: timestampNs), &body)
        Self.u32(UInt32(data.count), &body)
        Self.u32(originalLength, &body)
        body.append(contentsOf: data)
        Self.pad(&body)
        var flags: [UInt8] = []
        Self.u32(inbound ? 1 : 2, &flags)
        Self.option(2, flags, into: &body)                        // epb_flags
        if let comment { Self.option(1, Array(comment.utf8), into: &body) }  // opt_comment
        Self.endOfOptions(&body)
        block(6, body)
    }

    /// An interface statistics block: packets received (matched) and dropped (lost on the way
    /// to user space) for one interface.
    package mutating func statistics(interface: UInt32, timestampNs: UInt64, received: UInt64, dropped: UInt64) {
        var body: [UInt8] = []
        Self.u32(interface, &body)
        Self.u32(UInt32(truncatingIfNeeded: timestampNs >> 32), &body)
        Self.u32(UInt32(truncatingIfNeeded: timestampNs), &body)
        var v: [UInt8] = []
        Self.u64(received, &v); Self.option(4, v, into: &body)    // isb_ifrecv
        v = []; Self.u64(dropped, &v); Self.option(5, v, into: &body)  // isb_ifdrop
        Self.endOfOptions(&body)
        block(5, body)
    }

    /// The bytes written since the last call.
    package mutating func take() -> [UInt8] {
        defer { buffer.removeAll(keepingCapacity: true) }
        return buffer
    }

    private mutating func block(_ type: UInt32, _ body: [UInt8]) {
        let total = UInt32(12 + body.count)
        Self.u32(type, &buffer); Self.u32(total, &buffer)
        buffer += body
        Self.u32(total, &buffer)
    }

    static func u16(_ v: UInt16, _ out: inout [UInt8]) { out.append(UInt8(v & 0xff)); out.append(UInt8(v >> 8)) }
    static func u32(_ v: UInt32, _ out: inout [UInt8]) { for i in 0..<4 { out.append(UInt8((v >> (8 * UInt32(i))) & 0xff)) } }
    static func u64(_ v: UInt64, _ out: inout [UInt8]) { for i in 0..<8 { out.append(UInt8((v >> (8 * UInt64(i))) & 0xff)) } }
    static func pad(_ out: inout [UInt8]) { while out.count % 4 != 0 { out.append(0) } }
    static func option(_ code: UInt16, _ value: [UInt8], into out: inout [UInt8]) {
        u16(code, &out); u16(UInt16(value.count), &out)
        out += value
        pad(&out)
    }
    static func endOfOptions(_ out: inout [UInt8]) { u32(0, &out) }
}
