internal import CMnl

/// One netlink request being built: a `struct nlmsghdr`, the family header (ifinfomsg, tcmsg, ...)
/// and attributes, written with libmnl (mnl_nlmsg_put_header, mnl_attr_put_*_check,
/// mnl_attr_nest_start_check) into a buffer this object owns. Puts never overrun the buffer:
/// a put that does not fit marks the request as overflowed and sending it throws.
/// The sequence number and port id are filled in by `NetlinkSocket` when it is sent.
package final class NetlinkRequest {
    /// 64 KiB is the largest message the kernel accepts from a netlink socket by default; the
    /// biggest request here (an HTB class with two 1 KiB rate tables) is ~2.2 KiB.
    package static let capacity = 65536

    private let buffer: UnsafeMutableRawPointer
    private let header: UnsafeMutablePointer<nlmsghdr>
    /// Set when a put did not fit; `NetlinkSocket` refuses to send such a request.
    package private(set) var overflowed = false
    /// The message type as a name, for errors: "RTM_NEWTFILTER".
    package let operation: String

    /// Starts a message of `type` (RTM_*) with `flags` (NLM_F_*); NLM_F_REQUEST is always added.
    package init(type: UInt16, flags: Int32) {
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.capacity, alignment: 8)
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: Self.capacity)
        header = mnl_nlmsg_put_header(buffer)
        header.pointee.nlmsg_type = type
        header.pointee.nlmsg_flags = UInt16(truncatingIfNeeded: flags | NLM_F_REQUEST)
        operation = NetlinkMessageType.name(type)
    }

    deinit { buffer.deallocate() }

    package var type: UInt16 { header.pointee.nlmsg_type }
    package var flags: UInt16 {
        get { header.pointee.nlmsg_flags }
        set { header.pointee.nlmsg_flags = newValue }
    }
    package var sequence: UInt32 {
        get { header.pointee.nlmsg_seq }
        set { header.pointee.nlmsg_seq = newValue }
    }
    package var length: Int { Int(header.pointee.nlmsg_len) }

    /// The message as sent, header included.
    package var bytes: [UInt8] { Array(UnsafeRawBufferPointer(start: buffer, count: length)) }

    /// The raw message for mnl_socket_sendto.
    package var rawPointer: UnsafeRawPointer { UnsafeRawPointer(buffer) }

    private var room: Int { Self.capacity - length }

    /// Appends a fixed family header or any raw struct (mnl_nlmsg_put_extra_header, which pads to
    /// 4 bytes). Also used inside a nest, e.g. the peer's ifinfomsg in VETH_INFO_PEER.
    package func putHeader<T>(_ value: T) {
        let size = MemoryLayout<T>.size
        guard (size + 3) & ~3 <= room else { overflowed = true; return }
        let p = mnl_nlmsg_put_extra_header(header, size)!
        withUnsafeBytes(of: value) { p.copyMemory(from: $0.baseAddress!, byteCount: size) }
    }

    /// Appends attribute `type` with `bytes` as payload (mnl_attr_put_check).
    package func put(_ type: UInt16, bytes: [UInt8]) {
        let ok = bytes.withUnsafeBytes { raw in
            mnl_attr_put_check(header, Self.capacity, type, raw.count, raw.baseAddress)
        }
        if !ok { overflowed = true }
    }

    /// Appends attribute `type` with the bytes of a POD struct as payload.
    package func put<T>(_ type: UInt16, raw value: T) {
        let ok = withUnsafeBytes(of: value) { raw in
            mnl_attr_put_check(header, Self.capacity, type, raw.count, raw.baseAddress)
        }
        if !ok { overflowed = true }
    }

    package func put(_ type: UInt16, u8 value: UInt8) {
        if !mnl_attr_put_u8_check(header, Self.capacity, type, value) { overflowed = true }
    }
    package func put(_ type: UInt16, u16 value: UInt16) {
        if !mnl_attr_put_u16_check(header, Self.capacity, type, value) { overflowed = true }
    }
    package func put(_ type: UInt16, u32 value: UInt32) {
        if !mnl_attr_put_u32_check(header, Self.capacity, type, value) { overflowed = true }
    }
    package func put(_ type: UInt16, s32 value: Int32) {
        put(type, u32: UInt32(bitPattern: value))
    }
    package func put(_ type: UInt16, u64 value: UInt64) {
        if !mnl_attr_put_u64_check(header, Self.capacity, type, value) { overflowed = true }
    }
    /// A big-endian 16-bit value (ports, protocols): the bytes in network order.
    package func put(_ type: UInt16, be16 value: UInt16) {
        put(type, u16: value.bigEndian)
    }
    /// A NUL-terminated string (mnl_attr_put_strz_check), as the kernel's NLA_STRING/NLA_NUL_STRING want.
    package func put(_ type: UInt16, string value: String) {
        if !mnl_attr_put_strz_check(header, Self.capacity, type, value) { overflowed = true }
    }

    /// Writes a nested attribute around what `body` puts (mnl_attr_nest_start_check / _end).
    /// libmnl marks every nest with NLA_F_NESTED, which the kernel accepts everywhere
    /// (nla_type() masks it; strict policies require it).
    package func nest(_ type: UInt16, _ body: () throws -> Void) rethrows {
        guard let start = mnl_attr_nest_start_check(header, Self.capacity, type) else {
            overflowed = true
            return
        }
        try body()
        if overflowed { mnl_attr_nest_cancel(header, start); return }
        mnl_attr_nest_end(header, start)
    }
}
