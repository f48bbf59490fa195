import Glibc
import NetBPF

/// sofdsnoop: file descriptors passed over Unix sockets (SCM_RIGHTS), BCC's sofdsnoop columns
/// and options, on syscalls:sys_enter/exit_sendmsg and _recvmsg (BCC: kprobes on __scm_send
/// and scm_detach_fds).
public enum Sofdsnoop {
    /// What to trace and print; the fields are the command's flags.
    public struct Options: Sendable {
        /// -p: only this process.
        public var pid: UInt32?
        /// -t: only this thread.
        public var tid: UInt32?
        /// -n: only commands whose name contains this.
        public var name: String?
        /// -T: a TIME(s) column, seconds since the first event.
        public var timestamp = false
        /// Every process.
        public init() {}
    }

    /// One message carrying descriptors (printed as one line per descriptor).
    public struct Event: Sendable, Encodable, Equatable {
        /// bpf_ktime_get_ns() when the call returned.
        public var timestampNs: UInt64
        /// The process.
        public var pid: UInt32
        /// The thread.
        public var tid: UInt32
        /// Its command name.
        public var comm: String
        /// "SEND" or "RECV".
        public var action: String
        /// The Unix socket's descriptor in that process.
        public var socketFD: Int32
        /// What /proc/TID/fd/SOCKET links to ("socket:[1234]"), "N/A" when gone.
        public var socketName: String
        /// The descriptors passed (the sender's numbers for SEND, the receiver's new ones for RECV).
        public var fds: [Int32]
        /// For SEND, what each descriptor links to (read from /proc when the line is printed,
        /// as BCC does: "N/A" when it is already closed); empty strings for RECV.
        public var names: [String]
        /// How many descriptors the message held (fds has the first 32).
        public var count: UInt32
    }

    /// Compiles, loads and attaches sofdsnoop.
    /// - Throws: `BPFError(.notFound)` for a `pid` that does not exist; what `ToolSession.start` throws.
    public static func start(_ o: Options) throws -> ToolSession {
        if let pid = o.pid { try ProcessCheck.require(Int32(bitPattern: pid)) }
        return try ToolSession.start("sofdsnoop") { spec in
            if let pid = o.pid { try spec.setGlobal("target_pid", to: pid) }
            if let tid = o.tid { try spec.setGlobal("target_tid", to: tid) }
        }
    }

    /// What /proc/TID/fd/FD links to, "N/A" when it cannot be read (BCC's get_file).
    static func link(_ tid: UInt32, _ fd: Int32) -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/\(tid)/fd/\(fd)", &buf, buf.count - 1)
        return n < 0 ? "N/A" : String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Decodes one record of the `events` ring buffer, resolving descriptor names from /proc.
    public static func decode(_ r: UnsafeRawBufferPointer) -> Event {
        let tid = r.u32(12), count = r.u32(24), send = r.i32(16) == 0, sock = r.i32(20)
        let fds = (0..<Int(min(count, 32))).map { r.i32(32 + $0 * 4) }
        return Event(timestampNs: r.u64(0), pid: r.u32(8), tid: tid, comm: r.cString(160, max: 16), action: send ? "SEND" : "RECV",
                     socketFD: sock, socketName: link(tid, sock), fds: fds, names: fds.map { send ? link(tid, $0) : "" }, count: count)
    }

    /// Whether the event passes -n.
    public static func matches(_ e: Event, _ o: Options) -> Bool { o.name.map { e.comm.contains($0) } ?? true }

    /// The column header: [TIME(s)] ACTION TID COMM SOCKET FD NAME, BCC's widths.
    public static func header(_ o: Options) -> String {
        (o.timestamp ? pad("TIME(s)", 14) : "") + pad("ACTION", 6) + " " + pad("TID", 6) + " " + pad("COMM", 16) + " "
            + pad("SOCKET", 25) + " " + pad("FD", 5) + " NAME"
    }

    /// The lines of one event, one per descriptor, as BCC prints them; `startNs` is the first
    /// event's time (the TIME(s) origin).
    public static func lines(_ e: Event, _ o: Options, startNs: UInt64) -> [String] {
        let seconds = Double(Int64(bitPattern: e.timestampNs &- startNs)) / 1e9
        return e.fds.indices.map { i in
            (o.timestamp ? pad(fixed(seconds, 9), 14) : "") + pad(e.action, 6) + " " + pad(String(e.tid), 6) + " " + pad(e.comm, 16) + " "
                + pad("\(e.socketFD):\(e.socketName)", 25) + " " + pad(String(e.fds[i]), 5) + " " + e.names[i]
        }
    }
}
