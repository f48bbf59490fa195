import NetBPFNetlink
internal import CNetBPFProgramTypes

/// One ICMPv6 echo request seen leaving an interface: struct icmp6_echo_event of
/// programs/include/tc_icmp6_events.h (imported through CNetBPFProgramTypes; the program writes
/// the integers in host order, the addresses in network order).
public struct ICMPv6EchoEvent: Sendable, Equatable, Encodable {
    /// sizeof(struct icmp6_echo_event): a ring buffer record of any other size is not an event.
    public static let size = MemoryLayout<icmp6_echo_event>.size
    /// bpf_ktime_get_ns() when the packet passed the classifier (CLOCK_MONOTONIC).
    public var timestampNanoseconds: UInt64
    /// The IPv6 source address.
    public var source: IPAddress
    /// The IPv6 destination address.
    public var destination: IPAddress
    /// The interface the packet leaves by (skb->ifindex).
    public var ifindex: UInt32
    /// The packet's length as the classifier sees it (skb->len): Ethernet header included on
    /// Ethernet devices; on L3 devices (tun, wireguard, ip6tnl) it starts at the IPv6 header.
    public var length: UInt32
    /// The echo identifier.
    public var id: UInt16
    /// The echo sequence number.
    public var sequence: UInt16
    /// The IPv6 hop limit.
    public var hopLimit: UInt8

    /// Decodes a ring buffer record; nil when it is not exactly one event.
    public init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count == Self.size else { return nil }
        let e = bytes.loadUnaligned(as: icmp6_echo_event.self)
        timestampNanoseconds = e.timestamp_ns
        source = IPAddress(bytes: withUnsafeBytes(of: e.src) { Array($0) })!
        destination = IPAddress(bytes: withUnsafeBytes(of: e.dst) { Array($0) })!
        ifindex = e.ifindex
        length = e.len
        id = e.id
        sequence = e.seq
        hopLimit = e.hop_limit
    }

    /// An event from its fields (tests and fakes).
    public init(timestampNanoseconds: UInt64, source: IPAddress, destination: IPAddress, ifindex: UInt32,
                length: UInt32, id: UInt16, sequence: UInt16, hopLimit: UInt8) {
        self.timestampNanoseconds = timestampNanoseconds
        self.source = source
        self.destination = destination
        self.ifindex = ifindex
        self.length = length
        self.id = id
        self.sequence = sequence
        self.hopLimit = hopLimit
    }

    private enum CodingKeys: String, CodingKey { case timestampNanoseconds, source, destination, ifindex, length, id, sequence, hopLimit }

    /// JSON with the field names as keys and the addresses as text.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(timestampNanoseconds, forKey: .timestampNanoseconds)
        try c.encode(source.description, forKey: .source)
        try c.encode(destination.description, forKey: .destination)
        try c.encode(ifindex, forKey: .ifindex)
        try c.encode(length, forKey: .length)
        try c.encode(id, forKey: .id)
        try c.encode(sequence, forKey: .sequence)
        try c.encode(hopLimit, forKey: .hopLimit)
    }
}
