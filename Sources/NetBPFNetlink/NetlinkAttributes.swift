internal import CMnl

/// The attributes of a received message or nest, parsed with libmnl (mnl_attr_parse /
/// mnl_attr_parse_payload) and copied out, so the table outlives the receive buffer.
/// Types are stored without the NLA_F_NESTED / NLA_F_NET_BYTEORDER flag bits (mnl_attr_get_type).
/// Later duplicates win on lookup; `all` keeps every attribute in order (action lists use it).
package struct AttributeTable: Sendable {
    /// Every attribute in message order.
    package private(set) var all: [(type: UInt16, payload: [UInt8])] = []
    private var index: [UInt16: Int] = [:]

    package init() {}

    /// Parses the attributes of a whole netlink message (`bytes` starts at its nlmsghdr) that
    /// follow a family header of `familyHeaderSize` bytes (ifinfomsg 16, tcmsg 20, ...).
    package init(message bytes: [UInt8], familyHeaderSize: Int) {
        let collector = Collector()
        // libmnl walks up to NLMSG_ALIGN(nlmsg_len) (mnl_nlmsg_get_payload_tail). The last
        // message of a datagram may come without its padding, and then that walk read up to 3
        // bytes past the copy (found by fuzz/netlink.swift): parse a zero-padded copy instead.
        var bytes = bytes
        if bytes.count >= MemoryLayout<nlmsghdr>.size {
            let len = Int(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
            if len <= bytes.count, bytes.count < NetlinkMessage.align(len) {
                bytes += [UInt8](repeating: 0, count: NetlinkMessage.align(len) - bytes.count)
            }
        }
        bytes.withUnsafeBytes { raw in
            guard raw.count >= MemoryLayout<nlmsghdr>.size, let base = raw.baseAddress else { return }
            let nlh = base.assumingMemoryBound(to: nlmsghdr.self)
            // mnl_attr_parse walks from payload+offset to nlmsg_len; never past what we hold.
            guard Int(nlh.pointee.nlmsg_len) <= raw.count,
                  Int(nlh.pointee.nlmsg_len) >= MemoryLayout<nlmsghdr>.size + familyHeaderSize else { return }
            _ = mnl_attr_parse(nlh, UInt32(familyHeaderSize), collectAttribute,
                               Unmanaged.passUnretained(collector).toOpaque())
        }
        self.init(collector.items)
    }

    /// Parses a run of attributes (the payload of a nest).
    package init(payload bytes: [UInt8]) {
        let collector = Collector()
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, raw.count > 0 else { return }
            _ = mnl_attr_parse_payload(base, raw.count, collectAttribute,
                                       Unmanaged.passUnretained(collector).toOpaque())
        }
        self.init(collector.items)
    }

    private init(_ items: [(type: UInt16, payload: [UInt8])]) {
        all = items
        for (i, item) in items.enumerated() { index[item.type] = i }
    }

    package func contains(_ type: UInt16) -> Bool { index[type] != nil }

    package func bytes(_ type: UInt16) -> [UInt8]? { index[type].map { all[$0].payload } }

    package func u8(_ type: UInt16) -> UInt8? { scalar(type) }
    package func u16(_ type: UInt16) -> UInt16? { scalar(type) }
    package func u32(_ type: UInt16) -> UInt32? { scalar(type) }
    package func s32(_ type: UInt16) -> Int32? { scalar(type) }
    package func u64(_ type: UInt16) -> UInt64? { scalar(type) }
    /// A 16-bit value in network byte order (ports).
    package func be16(_ type: UInt16) -> UInt16? { u16(type).map { UInt16(bigEndian: $0) } }

    /// A string attribute, up to its first NUL.
    package func string(_ type: UInt16) -> String? {
        guard let b = bytes(type) else { return nil }
        let end = b.firstIndex(of: 0) ?? b.endIndex
        return String(decoding: b[..<end], as: UTF8.self)
    }

    /// The attributes inside nest `type`.
    package func nested(_ type: UInt16) -> AttributeTable? { bytes(type).map { AttributeTable(payload: $0) } }

    /// A fixed-size struct payload (family-specific, e.g. tc_htb_opt), when the payload is large enough.
    package func raw<T>(_ type: UInt16, as: T.Type) -> T? {
        guard let b = bytes(type), b.count >= MemoryLayout<T>.size else { return nil }
        return b.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }

    private func scalar<T: FixedWidthInteger>(_ type: UInt16) -> T? {
        guard let b = bytes(type), b.count >= MemoryLayout<T>.size else { return nil }
        return b.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }
}

/// Receives attributes from libmnl's parse callbacks.
private final class Collector {
    var items: [(type: UInt16, payload: [UInt8])] = []
}

private let collectAttribute: mnl_attr_cb_t = { attr, data in
    guard let attr, let data else { return MNL_CB_ERROR }
    let collector = Unmanaged<Collector>.fromOpaque(data).takeUnretainedValue()
    let length = Int(mnl_attr_get_payload_len(attr))
    let payload: [UInt8]
    if length > 0, let p = mnl_attr_get_payload(attr) {
        payload = Array(UnsafeRawBufferPointer(start: p, count: length))
    } else {
        payload = []
    }
    collector.items.append((mnl_attr_get_type(attr), payload))
    return MNL_CB_OK
}
