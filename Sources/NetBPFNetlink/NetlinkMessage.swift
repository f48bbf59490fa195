internal import CMnl
import Glibc

/// One received netlink message, copied out of the receive buffer: the nlmsghdr fields and the
/// whole message bytes (header included), from which the family header and attributes are read.
package struct NetlinkMessage: Sendable {
    package var type: UInt16
    package var flags: UInt16
    package var sequence: UInt32
    package var portID: UInt32
    /// The whole message, nlmsghdr included (nlmsg_len bytes).
    package var bytes: [UInt8]

    static let headerSize = MemoryLayout<nlmsghdr>.size

    package init(bytes: [UInt8]) {
        self.bytes = bytes
        let h = bytes.withUnsafeBytes { $0.loadUnaligned(as: nlmsghdr.self) }
        type = h.nlmsg_type
        flags = h.nlmsg_flags
        sequence = h.nlmsg_seq
        portID = h.nlmsg_pid
    }

    /// Splits a datagram from recvmsg into messages (the walk of mnl_nlmsg_ok / mnl_nlmsg_next).
    /// A truncated trailing message is reported as nil, which the socket turns into a protocol error.
    /// The length check is done here on unsigned values: libmnl's mnl_nlmsg_ok casts nlmsg_len to
    /// int, so a length above 2 GiB passed it as a negative number and was copied from past the
    /// end of the buffer (found by fuzz/netlink.swift).
    package static func split(_ raw: UnsafeRawBufferPointer) -> [NetlinkMessage]? {
        var out: [NetlinkMessage] = []
        var offset = 0
        while raw.count - offset >= headerSize {
            let len = Int(raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) // nlmsg_len
            guard len >= headerSize, len <= raw.count - offset else { break }
            out.append(NetlinkMessage(bytes: Array(UnsafeRawBufferPointer(rebasing: raw[offset..<offset + len]))))
            offset += align(len)  // the last message may lack its padding
        }
        return offset < raw.count ? nil : out
    }

    /// Splits an in-memory byte array (a captured reply) into messages.
    package static func split(_ bytes: [UInt8]) -> [NetlinkMessage]? {
        bytes.withUnsafeBytes { split($0) }
    }

    /// The family header that follows nlmsghdr (ifinfomsg, tcmsg, ...), or nil if too short.
    package func familyHeader<T>(_: T.Type) -> T? {
        guard bytes.count >= Self.headerSize + MemoryLayout<T>.size else { return nil }
        return bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: Self.headerSize, as: T.self) }
    }

    /// The attributes after a family header of `T`.
    package func attributes<T>(after _: T.Type) -> AttributeTable {
        AttributeTable(message: bytes, familyHeaderSize: Self.align(MemoryLayout<T>.size))
    }

    static func align(_ n: Int) -> Int { (n + 3) & ~3 }

    package var isMulti: Bool { flags & UInt16(NLM_F_MULTI) != 0 }
    package var dumpInterrupted: Bool { flags & UInt16(NLM_F_DUMP_INTR) != 0 }
}

/// The kernel's answer inside NLMSG_ERROR (and the error code of NLMSG_DONE): errno 0 is an ACK.
/// With NETLINK_EXT_ACK (kernel 4.12) the kernel appends TLVs: NLMSGERR_ATTR_MSG (a text),
/// NLMSGERR_ATTR_OFFS (byte offset of the offending attribute in our request),
/// NLMSGERR_ATTR_MISS_TYPE (6.0, a required attribute that was missing).
package struct NetlinkAck: Sendable, Equatable {
    /// Positive errno, 0 for success.
    package var errno: Int32
    package var message: String?
    package var offendingAttributeOffset: UInt32?
    package var missingAttributeType: UInt32?

    /// Decodes NLMSG_ERROR: `int error; struct nlmsghdr msg;` then, unless NLM_F_CAPPED, the rest
    /// of our request; then, if NLM_F_ACK_TLVS, the extack attributes.
    package init?(error message: NetlinkMessage) {
        guard message.type == UInt16(NLMSG_ERROR),
              message.bytes.count >= NetlinkMessage.headerSize + MemoryLayout<nlmsgerr>.size else { return nil }
        let err = message.bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: NetlinkMessage.headerSize, as: nlmsgerr.self) }
        let code = Self.errno(fromKernel: err.error)
        var offset = MemoryLayout<nlmsgerr>.size
        if message.flags & UInt16(NLM_F_CAPPED) == 0 {
            offset += NetlinkMessage.align(max(0, Int(err.msg.nlmsg_len) - NetlinkMessage.headerSize))
        }
        if message.flags & UInt16(NLM_F_ACK_TLVS) != 0 {
            self.init(errno: code, tlvs: AttributeTable(message: message.bytes, familyHeaderSize: offset))
        } else {
            self.init(errno: code, tlvs: AttributeTable())
        }
    }

    /// Decodes the error code of NLMSG_DONE (`int`), followed by extack TLVs when NLM_F_ACK_TLVS.
    package init?(done message: NetlinkMessage) {
        guard message.type == UInt16(NLMSG_DONE) else { return nil }
        var code: Int32 = 0
        if message.bytes.count >= NetlinkMessage.headerSize + 4 {
            code = message.bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: NetlinkMessage.headerSize, as: Int32.self) }
        }
        let tlvs = message.flags & UInt16(NLM_F_ACK_TLVS) != 0
            ? AttributeTable(message: message.bytes, familyHeaderSize: 4) : AttributeTable()
        self.init(errno: Self.errno(fromKernel: code), tlvs: tlvs)
    }

    /// The kernel sends -errno; Int32.min has no negation (it trapped, found by fuzz/netlink.swift)
    /// and is no errno anyway, so it reads as a malformed reply.
    static func errno(fromKernel value: Int32) -> Int32 {
        value == Int32.min ? EBADMSG : -value
    }

    private init(errno: Int32, tlvs: AttributeTable) {
        self.errno = errno
        message = tlvs.string(UInt16(NLMSGERR_ATTR_MSG.rawValue)).flatMap { $0.isEmpty ? nil : $0 }
        offendingAttributeOffset = tlvs.u32(UInt16(NLMSGERR_ATTR_OFFS.rawValue))
        missingAttributeType = tlvs.u32(UInt16(NLMSGERR_ATTR_MISS_TYPE.rawValue))
    }
}
