import CNetBPFShims
import Glibc
import NetBPF
import NetBPFCompiler

/// Finds, compiles (through the in-process compiler and its cache) and loads the BPF C of the
/// tools in Tools/NAME/NAME.bpf.c.
enum ToolSources {
    /// The path of a tool's BPF C, Tools/NAME/NAME.bpf.c: `$NETBPF_TOOLS_DIR`, else Tools/ of
    /// the checkout the executable was built in, else `<prefix>/share/netbpf/Tools` beside an
    /// installed executable, else /usr/share/netbpf/Tools; never the working directory, and
    /// only if owned by root (or the user) and not writable by others (BundledPrograms).
    static func source(_ tool: String) throws -> String {
        try BundledPrograms.path("\(tool)/\(tool).bpf.c", in: "Tools", override: "NETBPF_TOOLS_DIR")
    }

    /// Compiles (or takes from the cache) a tool's program and opens it for configuration.
    ///
    /// CO-RE relocations are resolved against the object's own BTF: the tools compile against
    /// this kernel's vmlinux.h (the compile cache is keyed by the kernel BTF's checksum), so the
    /// types they carry are the kernel's. libbpf then skips parsing /sys/kernel/btf/vmlinux,
    /// which is most of a tool's start-up memory (about 10 MB at peak). The object reaches
    /// libbpf through a memfd that `BTFSource` keeps open until load.
    /// NETBPF_KERNEL_BTF=1 makes libbpf use the kernel's BTF instead.
    /// `transform`, when given, rewrites the source text before the compile (a generated filter
    /// pasted in: drops' pcap expression); the compile cache keys on the text compiled.
    static func open(_ tool: String, defines: [String] = [], transform: ((String) throws -> String)? = nil) throws -> (BPFObjectSpec, BTFSource?) {
        var options = CompileOptions()
        options.defines = defines
        let path = try source(tool)
        let compiled: CompiledObject
        if let transform {
            guard let text = readTextFile(path) else { throw BPFError.system("read tool source", subject: path, errno: errno) }
            compiled = try BPFCompiler().compile(source: try transform(text), path: path, options: options)
        } else {
            compiled = try BPFCompiler().compile(file: path, options: options)
        }
        if getenv("NETBPF_KERNEL_BTF") == nil, let btf = ELFSections.section(".BTF", in: compiled.bytes) {
            // Only the raw .BTF section (tens of KB): libbpf's btf__parse reads raw BTF first.
            let fd = compiled.bytes.withUnsafeBytes { nb_memfd_with(tool, $0.baseAddress! + btf.lowerBound, btf.count) }
            if fd > 0 {
                let source = BTFSource(fd: OwnedFD(owning: fd))
                return (try BPFObjectSpec.open(bytes: compiled.bytes, name: compiled.name, coreBTFPath: source.path), source)
            }
        }
        return (try compiled.open(), nil)
    }
}

/// Finds a section of a 64-bit little-endian ELF object by name.
enum ELFSections {
    static func section(_ name: String, in bytes: [UInt8]) -> Range<Int>? {
        bytes.withUnsafeBytes { b -> Range<Int>? in
            guard b.count >= 64, b[0] == 0x7f, b[4] == 2, b[5] == 1 else { return nil }
            let shoff = Int(b.u64(40)), shentsize = Int(b.u16(58)), shnum = Int(b.u16(60)), shstrndx = Int(b.u16(62))
            guard shoff > 0, shentsize >= 64, shoff + shnum * shentsize <= b.count, shstrndx < shnum else { return nil }
            let strOff = Int(b.u64(shoff + shstrndx * shentsize + 24))
            for i in 0..<shnum {
                let h = shoff + i * shentsize
                let nameOff = strOff + Int(b.u32(h))
                guard nameOff < b.count, b.cString(nameOff, max: 64) == name else { continue }
                let off = Int(b.u64(h + 24)), size = Int(b.u64(h + 32))
                guard off + size <= b.count else { return nil }
                return off..<(off + size)
            }
            return nil
        }
    }
}

/// Keeps the memfd holding an object's BTF open until libbpf has loaded the object.
final class BTFSource: Sendable {
    let fd: OwnedFD
    init(fd: OwnedFD) { self.fd = fd }
    /// The path libbpf opens.
    var path: String { "/proc/self/fd/\(fd.rawValue)" }
}


/// A tool's loaded object and its links; links detach when this goes away.
/// Not Sendable: a tool runs its session on one thread (its links and lost-event count change).
public final class ToolSession {
    /// The tool's loaded object.
    public let object: BPFObject
    /// The links made so far; released (and so detached) with the session or by `close()`.
    public private(set) var links: [BPFLink] = []

    /// A session over an object loaded elsewhere, with no links yet.
    public init(object: BPFObject) { self.object = object }

    /// Opens, configures and loads a tool's object, then attaches every program by its section
    /// (tracepoint/, raw_tracepoint/, tp_btf/ ...), skipping those in `skipAttach`.
    /// - Parameters:
    ///   - tool: the tool's name: its program is Tools/NAME/NAME.bpf.c ($NETBPF_TOOLS_DIR, the
    ///     checkout, or the installed share/netbpf/Tools).
    ///   - defines: `-D` macros for the compile.
    ///   - configure: sets globals, autoload and map sizes before load.
    /// - Throws: what finding, compiling (`CompileError`), loading (`BPFError(.verifier)`) or
    ///   attaching throws; links made before a failure are released.
    public static func start(_ tool: String, defines: [String] = [], skipAttach: Set<String> = [],
                             configure: (BPFObjectSpec) throws -> Void = { _ in }) throws -> ToolSession {
        try start(tool, defines: defines, skipAttach: skipAttach, transforming: nil, configure: configure)
    }

    /// `start`, with the tool's source text rewritten by `transforming` before the compile (a
    /// generated filter pasted in: drops' pcap expression).
    public static func start(_ tool: String, defines: [String] = [], skipAttach: Set<String> = [],
                             transforming transform: ((String) throws -> String)?,
                             configure: (BPFObjectSpec) throws -> Void) throws -> ToolSession {
        let (spec, btf) = try ToolSources.open(tool, defines: defines, transform: transform)
        try configure(spec)
        let session = ToolSession(object: try spec.load())
        withExtendedLifetime(btf) {}
        for p in session.object.programs where !skipAttach.contains(p.name) {
            session.links.append(try session.attach(p))
        }
        return session
    }

    /// Attaches by section, checking tracepoints against tracefs first for a precise error.
    func attach(_ p: BPFProgram) throws -> BPFLink {
        let s = p.section
        if s.hasPrefix("tracepoint/") || s.hasPrefix("tp/") {
            let parts = s.split(separator: "/")
            if parts.count == 3 { return try p.attachTracepoint(category: String(parts[1]), name: String(parts[2]), cookie: 0) }
        }
        return try p.attach()
    }

    /// Keeps `link` with the session's (for programs attached by hand).
    public func add(_ link: BPFLink) { links.append(link) }

    /// The object's map called `name`.
    /// - Throws: `BPFError(.notFound)`, its hint listing the maps there are.
    public func map(_ name: String) throws -> BPFMap { try object.map(named: name) }

    /// Polls a ring buffer until a stop signal, the duration, or `shouldStop` says so.
    /// `handler` gets each record; stdout is flushed after every batch so pipes see lines promptly.
    /// Once a second it prints "Lost N events" on stderr when the programs' `lost` counter grew.
    /// - Parameter handler: called on this thread with each record's bytes, valid during the call.
    /// - Throws: `BPFError(.wrongMapType)` for a map that is not a ring buffer; the errno of a
    ///   failed poll or of writing stdout (EPIPE, ENOSPC).
    public func runRing(_ mapName: String, duration: Double? = nil, shouldStop: () -> Bool = { false },
                        handler: @escaping (UnsafeRawBufferPointer) -> Void) throws {
        let ring = try RingBuffer(map: map(mapName), handler: handler)
        let deadline = duration.map { Clock.monotonic() + $0 }
        var nextLostCheck = Clock.monotonic() + 1
        while !StopSignal.requested && !shouldStop() {
            var wait: Int32 = 100
            if let deadline {
                let left = deadline - Clock.monotonic()
                if left <= 0 { break }
                wait = Int32(min(100, max(1, left * 1000)))
            }
            if try ring.poll(timeoutMilliseconds: wait) > 0 { try Self.flushStdout() }
            if Clock.monotonic() >= nextLostCheck {
                reportLost()
                nextLostCheck = Clock.monotonic() + 1
            }
        }
        try ring.consume()
        try Self.flushStdout()
        reportLost()
    }

    /// Flushes what the handlers printed. With SIGPIPE ignored, a reader that went away (EPIPE)
    /// or a full disk (ENOSPC) only shows here: the tool then stops with that error (one line,
    /// exit 1) instead of tracing on unseen; its links detach as the object is released.
    /// `ferror` too: when glibc's own flush inside `print` fails it drops the buffer, and the
    /// next `fflush` succeeds; the stream's error flag is what remembers.
    static func flushStdout() throws {
        errno = 0
        if fflush(nb_stdout()) != 0 || ferror(nb_stdout()) != 0 {
            throw BPFError.system("write events", subject: "stdout", errno: errno != 0 ? errno : EIO)
        }
    }

    /// Events the programs could not put in the ring buffer (it was full), from their `lost`
    /// counter; 0 for tools without one.
    public func lostEvents() -> UInt64 {
        guard let m = try? object.map(named: "lost"), let counter = try? ArrayMap<UInt64>(m) else { return 0 }
        return (try? counter.get(0)) ?? 0
    }

    private var reportedLost: UInt64 = 0

    /// Prints "Lost N events" on stderr when the count grew, as libbpf-tools does.
    func reportLost() {
        let total = lostEvents()
        guard total > reportedLost else { return }
        fputs("Lost \(total - reportedLost) events (ring buffer full)\n", nb_stderr())
        reportedLost = total
    }

    /// Detaches everything now, trying every link (and the kprobe_events entries) before
    /// reporting a failure, as `detachAll(_:)` does.
    /// - Throws: the first `BPFLink.detach()` error.
    public func close() throws {
        defer { links.removeAll(); KprobeEvents.removeAll() }
        try detachAll(links)
    }
}

/// Memory hygiene for long-running tools.
package enum StartupPages {
    /// Unmaps the executable's text pages touched during start-up (the Swift runtime's
    /// metadata scans, argument parsing): a tool runs for minutes and needs a small part of
    /// them; what it needs faults back in from the page cache. Set NETBPF_KEEP_STARTUP_PAGES=1
    /// to skip. Returns the bytes of mappings dropped.
    @discardableResult
    package static func drop() -> Int {
        guard getenv("NETBPF_KEEP_STARTUP_PAGES") == nil else { return 0 }
        return nb_drop_executable_readonly_pages()
    }
}

/// SIGINT/SIGTERM as a flag the tools poll.
package enum StopSignal {
    /// Installs the SIGINT/SIGTERM handlers that set the flag.
    package static func install() { nb_install_stop_signals() }
    /// Whether a stop was signalled or requested.
    package static var requested: Bool { nb_stop_requested() != 0 }
    /// Sets the flag, as a signal would.
    package static func request() { nb_request_stop() }
    /// Clears the flag.
    package static func reset() { nb_reset_stop() }

    /// Sleeps up to `seconds`, waking early on a stop signal; false if stopped.
    package static func sleep(_ seconds: Double) -> Bool {
        let end = Clock.monotonic() + seconds
        while !requested {
            let left = end - Clock.monotonic()
            if left <= 0 { return true }
            usleep(UInt32(min(left, 0.05) * 1_000_000))
        }
        return false
    }
}

/// The clocks the tools print and time with.
package enum Clock {
    /// Seconds on CLOCK_MONOTONIC.
    package static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Nanoseconds since boot, the clock of bpf_ktime_get_ns().
    package static func bootNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Local wall-clock time as HH:MM:SS (the -T column of the tools).
    package static func wallTime() -> String {
        var t = time(nil)
        var parts = tm()
        localtime_r(&t, &parts)
        var buf = [CChar](repeating: 0, count: 16)
        strftime(&buf, buf.count, "%H:%M:%S", &parts)
        return String(cString: buf)
    }
}

/// Helpers to read fixed-layout event records.
extension UnsafeRawBufferPointer {
    package func u8(_ o: Int) -> UInt8 { self[o] }
    package func u16(_ o: Int) -> UInt16 { loadUnaligned(fromByteOffset: o, as: UInt16.self) }
    package func u32(_ o: Int) -> UInt32 { loadUnaligned(fromByteOffset: o, as: UInt32.self) }
    package func i32(_ o: Int) -> Int32 { loadUnaligned(fromByteOffset: o, as: Int32.self) }
    package func u64(_ o: Int) -> UInt64 { loadUnaligned(fromByteOffset: o, as: UInt64.self) }
    package func i64(_ o: Int) -> Int64 { loadUnaligned(fromByteOffset: o, as: Int64.self) }
    /// A NUL-terminated string in [o, o+max).
    package func cString(_ o: Int, max: Int) -> String {
        let end = Swift.min(count, o + max)
        var e = o
        while e < end, self[e] != 0 { e += 1 }
        return String(decoding: self[o..<e], as: UTF8.self)
    }
}

/// Signal numbers to names (killsnoop -n, exitsnoop).
package enum SignalNames {
    static let names = ["", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL",
                        "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT",
                        "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF",
                        "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS"]
    /// "SIGKILL", "SIGRTMIN+3", or "SIGn" for numbers without a name.
    package static func name(_ n: Int32) -> String {
        if n >= 0 && Int(n) < names.count && n > 0 { return names[Int(n)] }
        if n >= 34 && n <= 64 { return "SIGRTMIN+\(n - 34)" }
        return "SIG\(n)"
    }
    /// "9", "KILL" or "SIGKILL" to 9.
    package static func number(_ text: String) -> Int32? {
        if let n = Int32(text), n >= 0, n <= 64 { return n }
        let up = text.uppercased()
        let full = up.hasPrefix("SIG") ? up : "SIG" + up
        return names.firstIndex(of: full).map { Int32($0) }
    }
}
