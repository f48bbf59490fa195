import CLibBPF
import CNetBPFShims
import Glibc
import Synchronization

/// A dynamic-probe PMU (kprobe or uprobe, kernel 4.17): its perf type and the config bit that
/// makes a return probe, read from /sys/bus/event_source/devices/NAME.
struct ProbePMU: Sendable, Equatable {
    var name: String
    var type: UInt32
    var retprobeBit: Int

    static func named(_ name: String) -> ProbePMU? {
        let dir = "/sys/bus/event_source/devices/\(name)"
        guard let t = readTextFile(dir + "/type"), let type = UInt32(t.trimmingCharacters(in: " \n")) else { return nil }
        // format/retprobe reads "config:0".
        var bit = 0
        if let f = readTextFile(dir + "/format/retprobe"), let colon = f.firstIndex(of: ":"),
           let b = Int(String(f[f.index(after: colon)...]).trimmingCharacters(in: " \n")) { bit = b }
        return ProbePMU(name: name, type: type, retprobeBit: bit)
    }
}

extension BPFProgram {
    /// Attaches a kprobe (or kretprobe) to a kernel function: the kprobe PMU (perf_event_open,
    /// 4.17), else a tracefs kprobe_events entry opened as a tracepoint perf event. On a kernel
    /// built without CONFIG_KPROBES this fails with `.unsupported` and says so.
    /// - Throws: `BPFError(.unsupported)` without kprobes; `.notFound` for a function the kernel
    ///   cannot probe (not in /proc/kallsyms, or blacklisted).
    public func attachKprobe(function: String, offset: UInt64 = 0, retprobe: Bool = false, cookie: UInt64 = 0) throws -> BPFLink {
        let p = try requirePointer("attach kprobe")
        let what = "\(retprobe ? "kretprobe" : "kprobe"):\(function)\(offset > 0 ? "+\(offset)" : "")"
        try Self.requireKprobes(what)
        if let pmu = ProbePMU.named("kprobe") {
            let fd = nb_perf_open_probe(pmu.type, Int32(pmu.retprobeBit), retprobe ? 1 : 0, function, offset, -1)
            if fd >= 0 { return try attachPerfEventFD(p, fd: fd, cookie: cookie, description: what) }
            if -fd == ENOENT || -fd == EINVAL {
                throw BPFError(.notFound, operation: "attach kprobe", subject: what, errno: -fd,
                               message: "the kernel cannot probe \(function) (\(ErrnoName.describe(fd)))",
                               hint: "it must be a function in /proc/kallsyms and not blacklisted")
            }
        }
        let event = try KprobeEvents.add(function: function, offset: offset, retprobe: retprobe)
        let fd = nb_perf_open_tracepoint(UInt64(event.id), -1, 0)
        guard fd >= 0 else {
            KprobeEvents.remove(event)
            throw BPFError.system("perf_event_open(kprobe_events)", subject: what, errno: fd)
        }
        return try attachPerfEventFD(p, fd: fd, cookie: cookie, description: what + " (kprobe_events)")
    }

    /// Attaches one kprobe_multi link (5.18) to every kernel function matching a glob
    /// (`tcp_*`), through bpf_program__attach_kprobe_multi_opts. The program must be loaded as
    /// SEC("kprobe.multi") (attach type BPF_TRACE_KPROBE_MULTI).
    /// - Throws: `BPFError(.unsupported)` without kprobes; otherwise the errno of
    ///   bpf_program__attach_kprobe_multi_opts (a kernel without CONFIG_FPROBE refuses kprobe.multi).
    public func attachKprobeMulti(pattern: String, retprobe: Bool = false) throws -> BPFLink {
        let p = try requirePointer("attach kprobe_multi")
        let what = "\(retprobe ? "kretprobe" : "kprobe").multi:\(pattern)"
        try Self.requireKprobes(what)
        let ((link, err), log) = LibbpfLog.capture { (nb_attach_kprobe_multi(p, pattern, nil, nil, 0, retprobe ? 1 : 0), errno) }
        guard let link else {
            throw AttachErrors.error(operation: "attach kprobe_multi", subject: what, section: "kprobe.multi", errno: err, log: log)
        }
        return BPFLink(libbpfLink: link, program: self, description: what)
    }

    /// Attaches one kprobe_multi link (5.18) to the named kernel functions, function i with BPF
    /// cookie `cookies[i]` (bpf_get_attach_cookie), so one program can tell them apart.
    /// - Throws: `BPFError(.unsupported)` without kprobes or, with EOPNOTSUPP, on a kernel built
    ///   without CONFIG_FPROBE (Debian 12's 6.1); otherwise the errno of
    ///   bpf_program__attach_kprobe_multi_opts.
    public func attachKprobeMulti(symbols: [String], cookies: [UInt64], retprobe: Bool = false) throws -> BPFLink {
        let p = try requirePointer("attach kprobe_multi")
        let what = "\(retprobe ? "kretprobe" : "kprobe").multi:\(symbols.count) functions"
        try Self.requireKprobes(what)
        guard symbols.count == cookies.count, !symbols.isEmpty else {
            throw BPFError(.invalidArgument, operation: "attach kprobe_multi", subject: what, message: "one cookie per function is needed")
        }
        let names = symbols.map { strdup($0) }
        defer { names.forEach { free($0) } }
        var pointers: [UnsafePointer<CChar>?] = names.map { $0.map { UnsafePointer($0) } }
        let ((link, err), log) = LibbpfLog.capture {
            pointers.withUnsafeMutableBufferPointer { syms in
                cookies.withUnsafeBufferPointer { c in
                    (nb_attach_kprobe_multi(p, nil, syms.baseAddress, c.baseAddress, symbols.count, retprobe ? 1 : 0), errno)
                }
            }
        }
        guard let link else {
            throw AttachErrors.error(operation: "attach kprobe_multi", subject: what, section: "kprobe.multi", errno: err, log: log)
        }
        return BPFLink(libbpfLink: link, program: self, description: what)
    }

    package static func requireKprobes(_ what: String) throws {
        let k = Features.shared.kprobes
        guard k.available else {
            throw BPFError(.unsupported, operation: "attach kprobe", subject: what,
                           message: "kernel built without CONFIG_KPROBES (no kprobe PMU in /sys/bus/event_source/devices, no kprobe_events in tracefs)",
                           hint: "use a tracepoint (`netbpf trace tplist`), a raw tracepoint or a uprobe")
        }
    }
}

/// tracefs kprobe_events entries netbpf made (the fallback when there is no kprobe PMU); removed
/// by `removeAll()`, which tools call on exit. The list is process-wide, behind a Mutex.
public enum KprobeEvents {
    struct Event: Sendable { var group: String; var name: String; var id: UInt32 }
    private struct Made: Sendable { var events: [Event] = []; var counter = 0 }
    private static let made = Mutex(Made())

    static func add(function: String, offset: UInt64, retprobe: Bool) throws -> Event {
        let root = try Tracefs.root()
        let number = made.withLock { $0.counter += 1; return $0.counter }
        let group = "netbpf", name = "nb_\(getpid())_\(number)"
        let line = "\(retprobe ? "r" : "p"):\(group)/\(name) \(function)\(offset > 0 ? "+\(offset)" : "")\n"
        try appendFile(root + "/kprobe_events", line, what: "kprobe_events")
        guard let idText = readTextFile(root + "/events/\(group)/\(name)/id"), let id = UInt32(idText.trimmingCharacters(in: " \n")) else {
            throw BPFError.system("read kprobe event id", subject: name, errno: errno)
        }
        let event = Event(group: group, name: name, id: id)
        made.withLock { $0.events.append(event) }
        return event
    }

    static func remove(_ event: Event) {
        made.withLock { $0.events.removeAll { $0.name == event.name } }
        guard let root = try? Tracefs.root() else { return }
        try? appendFile(root + "/kprobe_events", "-:\(event.group)/\(event.name)\n", what: "kprobe_events")
    }

    /// Removes every kprobe_events entry this process made (call after its links are released;
    /// `ToolSession.close()` does).
    public static func removeAll() { for e in made.withLock({ $0.events }) { remove(e) } }

    static func appendFile(_ path: String, _ text: String, what: String) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw BPFError.system("open \(what)", subject: path, errno: errno) }
        defer { close(fd) }
        let n = text.withCString { write(fd, $0, strlen($0)) }
        if n < 0 { throw BPFError.system("write \(what)", subject: text.trimmingCharacters(in: "\n"), errno: errno) }
    }
}

