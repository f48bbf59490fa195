import ArgumentParser
import Foundation
import Synchronization
import Glibc
import NetBPF
import NetBPFControllers

/// `netbpf http-filter`: print HTTP/1.x requests and responses seen on an interface, select
/// some, and block others with a tc program whose list can be changed while it runs.
/// `netbpf http-filter [OPTIONS]` runs `watch` (the default subcommand); `block add|del|list`
/// change the list of a running one. (A group without options of its own: options of a parent
/// command would capture the subcommands' -i/--netns/--host.)
struct HTTPFilterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http-filter",
        abstract: "Show HTTP/1.x requests and responses on an interface; optionally block by host or path prefix.",
        subcommands: [Watch.self, Block.self],
        defaultSubcommand: Watch.self)
}

extension HTTPFilterCommand {
struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Show HTTP/1.x requests and responses (the default: `netbpf http-filter -i IFACE ...`).",
        discussion: """
            A socket filter (programs/http_filter.bpf.c) keeps only TCP segments that start an HTTP/1.x request or \
            response, plus the continuation segments of long request lines, over IPv4/IPv6 with or without VLAN tags; \
            user space reassembles request lines (up to 8192 bytes), matches responses to requests and prints one line \
            for each. With --block-host/--block-path (or --block) a tc program (programs/http_block.bpf.c) on the \
            interface's ingress drops matching requests; `netbpf http-filter block add|del|list` changes its list while \
            this runs. SIGINT/SIGTERM stop it, detach the blocking program and print the counters.
            """)

    @Option(name: [.customShort("i"), .customLong("interface")], help: "The interface to watch (default: all of the namespace); with blocking, the server-side interface.")
    var interface: String?
    @Option(help: "The network namespace (/run/netns/NAME) the interface is in.") var netns: String?
    @Option(help: "Show only requests with this Host (case-insensitive; without a port: any port). Repeatable.") var host: [String] = []
    @Option(help: "Show only requests with this method. Repeatable.") var method: [String] = []
    @Option(name: .customLong("path-prefix"), help: "Show only requests whose target starts with this. Repeatable.") var pathPrefix: [String] = []
    @Option(name: .customLong("block-host"), help: "Drop requests with this Host (exact, case and port ignored, at most 63 bytes). Repeatable.")
    var blockHost: [String] = []
    @Option(name: .customLong("block-path"), help: "Drop requests whose target starts with this (at most 64 bytes). Repeatable.")
    var blockPath: [String] = []
    @Flag(help: "Attach the blocking program even with an empty list (fill it with `http-filter block add`).") var block = false
    @Option(help: "Keep only frames of this VLAN id.") var vlan: UInt16?
    @Option(help: "Stop after this many seconds.") var seconds: Double?
    @Option(help: "Stop after printing this many lines.") var count: Int?
    @Option(name: .customLong("idle-timeout"), help: "Seconds after which an idle session is forgotten.") var idleTimeout: Double = 30
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors(verbose: output.verbose) {
            var options = HTTPFilter.Options()
            options.interface = interface
            options.namespace = netns
            options.vlan = vlan
            options.blocking = block
            options.blockEntries = try blockHost.map(HTTPBlockEntry.host) + blockPath.map(HTTPBlockEntry.path)
            options.reassembler.idleTimeout = idleTimeout
            if let count, count < 1 { throw ValidationError("--count must be at least 1") }
            if let seconds, seconds <= 0 { throw ValidationError("--seconds must be positive") }
            let selection = HTTPSelection(hosts: host, methods: method, pathPrefixes: pathPrefix)

            let stop = StopFlag.installed()
            let filter = try HTTPFilter(options)
            defer { filter.close() }
            let place = (interface ?? "all interfaces") + (netns.map { " (netns \($0))" } ?? "")
            if let record = filter.blockRecord, !output.json {
                let target = (interface.map { " -i \($0)" } ?? "") + (netns.map { " --netns \($0)" } ?? "")
                note("blocking on \(record.place): \(options.blockEntries.count) entr\(options.blockEntries.count == 1 ? "y" : "ies"); change with: netbpf http-filter block add|del|list\(target)")
            }
            let deadline = seconds.map { Date().addingTimeInterval($0) }
            // Written on the capture thread (the namespace's), read by `until` there and here after.
            struct Progress { var printed = 0; var writeFailure: Int32 = 0 } // EPIPE (reader gone, SIGPIPE ignored) or ENOSPC
            let progress = Mutex(Progress())
            let json = output.json
            try filter.run(ready: {
                if !json { note("watching HTTP on \(place); Ctrl-C to stop") }
            }, until: {
                let p = progress.withLock { $0 }
                return stop.isSet || p.writeFailure != 0 || (deadline.map { Date() >= $0 } ?? false) || (count.map { p.printed >= $0 } ?? false)
            }) { event in
                progress.withLock { p in
                    guard p.writeFailure == 0, selection.matches(event), count.map({ p.printed < $0 }) ?? true else { return }
                    print(json ? HTTPEventFormat.json(event) : HTTPEventFormat.text(event))
                    errno = 0
                    // ferror too: a failed flush inside print() drops the buffer; the flag remembers.
                    if fflush(StandardStreams.cOut) != 0 || ferror(StandardStreams.cOut) != 0 { p.writeFailure = errno != 0 ? errno : EIO }
                    p.printed += 1
                }
            }
            let kernel = try? filter.kernelStats()
            filter.close()
            let writeFailure = progress.withLock { $0.writeFailure }
            if writeFailure != 0 {
                StandardStreams.err("netbpf: http-filter: writing to stdout failed (\(ErrnoName.describe(writeFailure))); stopping and removing what it attached\n")
                throw ExitCode(1)
            }
            summarize(filter.counters, kernel: kernel)
        }
    }

    func summarize(_ c: HTTPCounters, kernel: HTTPFilterStats?) {
        if output.json {
            struct Summary: Encodable { let type = "summary"; let counters: HTTPCounters; let kernel: HTTPFilterStats? }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            if let data = try? encoder.encode(Summary(counters: c, kernel: kernel)) { print(String(decoding: data, as: UTF8.self)) }
            fflush(StandardStreams.cOut)
            return
        }
        var line = "\(c.frames) frames, \(c.requests) requests, \(c.responses) responses, \(c.tooLong) too long, "
            + "\(c.parseErrors) parse errors, \(c.expired) expired, \(c.duplicates) duplicates, \(c.incomplete) incomplete, "
            + "\(c.ignored) ignored, \(c.undecodable) undecodable"
        if let k = kernel {
            line += "; kernel kept \(k.requestSegments) request, \(k.responseSegments) response and \(k.continuationSegments) continuation segments"
            if let inspected = k.blockInspected {
                line += "; blocking inspected \(inspected) requests, dropped \(k.blockDroppedPath ?? 0) by path and \(k.blockDroppedHost ?? 0) by host"
            }
        }
        note(line)
    }

}

    // MARK: block add|del|list

    struct Block: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "block", abstract: "Change or show the block list of a running `netbpf http-filter`.",
            discussion: "Works on the pinned map /sys/fs/bpf/netbpf/NETNS/IFACE/ingress/http_block/maps/block_list; changes apply to the next packet. -i/--netns choose among several running filters.",
            subcommands: [Add.self, Del.self, List.self])
    }

    struct Target: ParsableArguments {
        @Option(name: [.customShort("i"), .customLong("interface")], help: "The interface the blocking program is on.") var interface: String?
        @Option(help: "Its network namespace.") var netns: String?

        func open() throws -> (BPFHTTPBlockList, String) {
            let found = BPFHTTPBlockList.pinned(interface: interface, namespace: netns)
            let place = (interface ?? "any interface") + (netns.map { " in netns \($0)" } ?? "")
            guard !found.isEmpty else {
                throw ControllerError("no HTTP blocking program is attached on \(place)",
                                      hint: "start one with: netbpf http-filter -i IFACE [--netns NS] --block (or --block-path/--block-host)")
            }
            guard found.count == 1 else {
                throw ControllerError("\(found.count) HTTP blocking programs are attached: "
                                        + found.map { "\($0.interface)\($0.namespace.map { " (netns \($0))" } ?? "")" }.joined(separator: ", "),
                                      hint: "choose one with -i IFACE and --netns NS")
            }
            return (try BPFHTTPBlockList(pinned: found[0].path), found[0].path)
        }
    }

    struct Entries: ParsableArguments {
        @Option(help: "A Host to block (exact; case and port ignored). Repeatable.") var host: [String] = []
        @Option(help: "A path prefix to block. Repeatable.") var path: [String] = []

        func entries() throws -> [HTTPBlockEntry] {
            let all = try host.map(HTTPBlockEntry.host) + path.map(HTTPBlockEntry.path)
            guard !all.isEmpty else { throw ValidationError("give at least one --host or --path") }
            return all
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Block requests by Host or path prefix.")
        @OptionGroup var entries: Entries
        @OptionGroup var target: Target
        @OptionGroup var output: OutputOptions

        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let wanted = try entries.entries()
                let (list, path) = try target.open()
                for entry in wanted {
                    try list.add(entry)
                    if !output.json { print("blocked \(entry) (\(path))") }
                }
                if output.json { try printJSON(try list.listing()) }
            }
        }
    }

    struct Del: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "del", abstract: "Stop blocking a Host or path prefix.")
        @OptionGroup var entries: Entries
        @OptionGroup var target: Target
        @OptionGroup var output: OutputOptions

        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let wanted = try entries.entries()
                let (list, _) = try target.open()
                for entry in wanted {
                    guard try list.remove(entry) else {
                        throw ControllerError("\(entry) is not in the block list", hint: "netbpf http-filter block list")
                    }
                    if !output.json { print("unblocked \(entry)") }
                }
                if output.json { try printJSON(try list.listing()) }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Show the block list with the requests each entry dropped.")
        @OptionGroup var target: Target
        @OptionGroup var output: OutputOptions

        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let (list, _) = try target.open()
                let rows = try list.listing()
                if output.json { try printJSON(rows); return }
                var ts = timespec()
                clock_gettime(CLOCK_MONOTONIC, &ts)
                let now = UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
                print(table(["KIND", "VALUE", "DROPPED", "LAST DROP"], rows.map { r in
                    let last = r.lastHitNanoseconds == 0 || r.lastHitNanoseconds > now ? "-"
                        : String(format: "%.1fs ago", Double(now - r.lastHitNanoseconds) / 1e9)
                    return [r.entry.kind.rawValue, r.entry.value, "\(r.hits)", last]
                }))
            }
        }
    }
}


private func note(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}


