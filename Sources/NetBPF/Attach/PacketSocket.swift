import CNetBPFShims
import CNetBPFPcap
import Glibc

/// A classic BPF program (struct sock_filter[]) as used by SO_ATTACH_FILTER and tcpdump.
public struct ClassicFilter: Sendable, Equatable {
    /// One `struct sock_filter`.
    public struct Instruction: Sendable, Equatable {
        /// The opcode (BPF_LD | BPF_H | BPF_ABS, ...).
        public var code: UInt16
        /// Instructions to skip when a conditional jump is taken.
        public var jt: UInt8
        /// Instructions to skip when it is not.
        public var jf: UInt8
        /// The operand: a constant, an offset or a length, depending on `code`.
        public var k: UInt32
    }
    /// The program, at most 4096 instructions (the kernel's BPF_MAXINSNS).
    public var instructions: [Instruction]
    /// The pcap expression it came from, if any.
    public var expression: String?

    /// Compiles a pcap filter expression ("tcp port 80") for Ethernet frames with libpcap's
    /// pcap_compile (optimised), the way tcpdump does, without opening a capture device.
    /// libpcap is opened (dlopen) on first use.
    /// - Parameter snapshotLength: bytes of each frame the filter accepts, as tcpdump's `-s`.
    /// - Throws: `BPFError(.invalidArgument)` with libpcap's message for an expression it
    ///   rejects (or when libpcap cannot be loaded), or one over 4096 instructions.
    public static func compile(pcap expression: String, snapshotLength: Int32 = 262_144) throws -> ClassicFilter {
        var insns = [nb_classic_insn](repeating: nb_classic_insn(), count: 4096)
        var err = [CChar](repeating: 0, count: 512)
        let n = nb_pcap_compile(expression, snapshotLength, &insns, insns.count, &err, err.count)
        guard n >= 0 else {
            throw BPFError(.invalidArgument, operation: "pcap_compile", subject: expression, message: String(cString: err),
                           hint: "pcap filter syntax, as in tcpdump: 'tcp port 80', 'icmp or arp', 'host 10.0.0.1'")
        }
        guard n <= insns.count else {
            throw BPFError(.invalidArgument, operation: "pcap_compile", subject: expression, message: "the filter compiles to \(n) instructions; the kernel takes at most 4096")
        }
        let instructions = insns.prefix(Int(n)).map { Instruction(code: $0.code, jt: $0.jt, jf: $0.jf, k: $0.k) }
        return ClassicFilter(instructions: instructions, expression: expression)
    }
}

/// A frame received on a packet socket.
public struct CapturedFrame: Sendable {
    /// The bytes received (at most the buffer size).
    public var data: [UInt8]
    /// The frame's length on the wire (larger than data.count when truncated).
    public var length: Int
    /// The interface it was seen on (sll_ifindex).
    public var ifindex: Int32
    /// PACKET_OUTGOING (4) for frames this host sent; others were received.
    public var packetType: Int32
    /// Whether this host sent the frame (`packetType` is PACKET_OUTGOING).
    public var isOutgoing: Bool { packetType == 4 }
}

/// An AF_PACKET socket with a filter: the socket is opened with protocol 0 (it receives
/// nothing), the filter is attached, and only then is it bound to ETH_P_ALL, so no unfiltered
/// frame slips in between. Open it on a thread inside the target network namespace; the socket
/// stays in that namespace. (SO_ATTACH_BPF, kernel 3.19; AF_PACKET.)
public final class PacketSocket: Sendable {
    private let socket: OwnedFD
    /// The program stays loaded while the socket lives.
    public let program: BPFProgram?
    /// The interface the socket is bound to; 0 for every interface of its namespace.
    public let ifindex: Int32

    /// A socket filtered by an eBPF socket-filter program (returns bytes to keep, 0 to drop),
    /// attached with SO_ATTACH_BPF (3.19).
    /// - Parameter ifindex: the interface to capture on, 0 for all (in the calling thread's namespace).
    /// - Throws: `BPFError(.invalidArgument)` unless the program is a socket_filter;
    ///   `.permission` without CAP_NET_RAW; ENODEV when there is no such interface.
    public init(program: BPFProgram, ifindex: Int32 = 0) throws {
        guard program.type == .socketFilter else {
            throw BPFError(.invalidArgument, operation: "attach socket filter", subject: program.name,
                           message: "program type is \(program.type), a socket filter must be socket_filter",
                           hint: "put the program in SEC(\"socket\")")
        }
        socket = try Self.open()
        self.program = program
        self.ifindex = ifindex
        let err = nb_attach_bpf_socket(socket.rawValue, program.fd)
        if err != 0 { throw BPFError.system("SO_ATTACH_BPF", subject: program.name, errno: err) }
        try bind()
    }

    /// A socket filtered by a classic BPF program (e.g. from a pcap expression), attached with
    /// SO_ATTACH_FILTER.
    /// - Parameter ifindex: the interface to capture on, 0 for all (in the calling thread's namespace).
    /// - Throws: `BPFError(.permission)` without CAP_NET_RAW; the errno of SO_ATTACH_FILTER or
    ///   bind (ENODEV: no such interface).
    public init(classic filter: ClassicFilter, ifindex: Int32 = 0) throws {
        socket = try Self.open()
        program = nil
        self.ifindex = ifindex
        let err = filter.instructions.withUnsafeBytes { nb_attach_classic_filter(socket.rawValue, $0.baseAddress, UInt16(filter.instructions.count)) }
        if err != 0 { throw BPFError.system("SO_ATTACH_FILTER", subject: filter.expression, errno: err) }
        try bind()
    }

    private static func open() throws -> OwnedFD {
        let s = nb_packet_socket()
        guard s >= 0 else {
            throw BPFError.system("socket(AF_PACKET)", errno: s, hint: -s == EPERM ? "packet sockets need CAP_NET_RAW" : nil)
        }
        return OwnedFD(owning: s)
    }

    private func bind() throws {
        let err = nb_packet_bind(socket.rawValue, ifindex)
        if err != 0 {
            throw BPFError.system("bind(AF_PACKET)", subject: InterfaceNames.name(of: UInt32(ifindex)), errno: err,
                                  hint: -err == ENODEV ? "no such interface in this network namespace" : nil)
        }
    }

    /// Waits up to `timeoutMilliseconds` for one frame that passed the filter; nil on timeout
    /// or when a signal interrupted the wait.
    /// - Parameter capacity: the most bytes kept of a frame; `CapturedFrame.length` has its full length.
    /// - Throws: `BPFError` with the errno of recvfrom.
    public func receive(timeoutMilliseconds: Int32, capacity: Int = 65_536) throws -> CapturedFrame? {
        var buf = [UInt8](repeating: 0, count: capacity)
        var index: Int32 = 0, type: Int32 = 0
        let n = buf.withUnsafeMutableBytes { nb_packet_recv(socket.rawValue, $0.baseAddress, $0.count, timeoutMilliseconds, &index, &type) }
        if n < 0 {
            if -n == EINTR { return nil }
            throw BPFError.system("recvfrom(AF_PACKET)", errno: Int32(n))
        }
        if n == 0 { return nil }
        return CapturedFrame(data: Array(buf.prefix(min(Int(n), capacity))), length: Int(n), ifindex: index, packetType: type)
    }
}
