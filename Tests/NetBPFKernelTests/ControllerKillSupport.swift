import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFAttach
import NetBPFNetlink
import NetBPFTestSupport

/// One long-running controller as ControllerKillTests drives it: the command, where its records
/// go, when it has started, what it changes in traffic, and the traffic to kill it under.
struct SweptController {
    let name: String
    /// netbpf's arguments: it runs until a signal (`again` adds a short --seconds).
    let arguments: [String]
    let stateDirectory: String
    var environment: [String: String] = [:]
    /// `doctor --netns`, and the namespace whose records, pins and kernel state are checked.
    let namespace: String
    /// Text on its stdout or stderr once it has started (everything attached).
    let readyText: String
    /// True when traffic is as it is without the controller; nil for controllers that only watch.
    var trafficIsPlain: (() throws -> Bool)?
    /// True when the running command (ready) does its work.
    let works: (BackgroundProcess) throws -> Bool
    /// Starts traffic through its hooks, for the kill under traffic; finished after the kill.
    let traffic: () throws -> [BackgroundProcess]
    /// A short run of the same command that exits 0 by itself.
    var again: [String] = ["--seconds", "0.5"]
}

/// When the sweep kills: `starting` milliseconds after posix_spawn, `attached` once a finished
/// record is in its state directory, `underTraffic` once started and traffic flows.
enum KillMoment: CustomStringConvertible {
    case starting(milliseconds: Int), attached, underTraffic
    var description: String {
        switch self {
        case .starting(let ms): return "\(ms) ms after start"
        case .attached: return "once attached"
        case .underTraffic: return "under traffic"
        }
    }
    static let sweep: [KillMoment] = [.starting(milliseconds: 30), .attached, .underTraffic]
}

/// The SIGKILL sweep of one controller (docs/hardening.md): at each moment, kill it, then
/// `netbpf doctor --fix --netns NS` leaves nothing netbpf made (records, pins, hooks, qdiscs,
/// devices, routes: the namespace is as before the first start), traffic is plain again, and the
/// same command runs again and exits 0. Last, a kill once started and a restart without doctor:
/// the restart heals the stale records itself, works, and its SIGINT leaves nothing.
struct ControllerSweep {
    let controller: SweptController
    let before: NetworkSnapshot

    init(_ controller: SweptController) throws {
        self.controller = controller
        before = try NetworkSnapshot(controller.namespace)
    }

    var store: AttachmentStore { AttachmentStore(directory: controller.stateDirectory + "/attach") }
    func records() -> [AttachmentRecord] { store.all().filter { $0.namespace == controller.namespace } }

    func netbpf(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        var env = controller.environment
        env["NETBPF_STATE_DIR"] = controller.stateDirectory
        return try NetlinkLab.spawn([CLI.binary] + args, environment: env)
    }

    func start() throws -> BackgroundProcess {
        var env = controller.environment
        env["NETBPF_STATE_DIR"] = controller.stateDirectory
        return try BackgroundProcess([CLI.binary] + controller.arguments, environment: env)
    }

    /// Waits (up to 30 s) for `ready`, or for the process to end.
    func wait(for ready: () -> Bool, _ process: BackgroundProcess) -> Bool {
        let deadline = Date().addingTimeInterval(30)
        while !ready() && process.isRunning && Date() < deadline { usleep(10_000) }
        return ready()
    }

    func waitStarted(_ run: BackgroundProcess) -> Bool {
        wait(for: { (run.stdout + run.stderr).contains(controller.readyText) }, run)
    }

    /// What netbpf left in the namespace: records, pins, and every change to its kernel state.
    func leftovers() throws -> [String] {
        var out = records().map { "record of \($0.programName) on \($0.place)\($0.madeAlso)" }
        if access(Pinning.root + "/" + controller.namespace, F_OK) == 0 { out.append("pins under \(Pinning.root)/\(controller.namespace)") }
        let now = try NetworkSnapshot(controller.namespace)
        out += now.lines.subtracting(before.lines).sorted().map { "added: \($0)" }
        out += before.lines.subtracting(now.lines).sorted().map { "missing: \($0)" }
        return out
    }

    func run(_ moments: [KillMoment] = KillMoment.sweep) throws {
        // After a failure, what a killed run left must not outlive the lab (pins outlive namespaces).
        defer { _ = try? netbpf(["doctor", "--fix", "--netns", controller.namespace]) }
        if let plain = controller.trafficIsPlain { try #require(try plain(), "\(controller.name): traffic is not plain before the first start") }
        for moment in moments { try killAndFix(at: moment) }
        try killAndRestartWithoutDoctor()
    }

    private func killAndFix(at moment: KillMoment) throws {
        let name = "\(controller.name) killed \(moment)"
        let run = try start()
        var traffic: [BackgroundProcess] = []
        switch moment {
        case .starting(let ms):
            usleep(UInt32(ms) * 1000)
        case .attached:
            #expect(wait(for: { records().contains { !$0.isPending } }, run), "\(name): no finished record within 30 s: \(run.stderr)")
        case .underTraffic:
            try #require(waitStarted(run), "\(name): did not start: \(run.stderr)")
            traffic = try controller.traffic()
            usleep(300_000)
        }
        let atKill = records()
        kill(run.pid, SIGKILL)
        let killed = run.finish(timeout: 10)
        #expect(killed.status == 128 + SIGKILL, "\(name): ended with \(killed.status) before the kill: \(killed.stderr)")
        for t in traffic { _ = t.finish(timeout: 15) }
        if case .underTraffic = moment, let plain = controller.trafficIsPlain {
            #expect(try !plain(), "\(name): what it attached should still act until it is cleaned")
        }
        let doctor = try netbpf(["doctor", "--fix", "--netns", controller.namespace])
        #expect(doctor.status == 0, "\(name): doctor --fix: \(doctor.stderr)")
        let left = try leftovers()
        #expect(left.isEmpty, "\(name), after doctor --fix: \(left)")
        if let plain = controller.trafficIsPlain { #expect(try plain(), "\(name): traffic is not plain after doctor --fix") }
        let again = try netbpf(controller.arguments + controller.again)
        #expect(again.status == 0, "\(name): the same command again: \(again.stderr)")
        let afterAgain = try leftovers()
        #expect(afterAgain.isEmpty, "\(name), after it ran again: \(afterAgain)")
        print("kill: \(name): \(atKill.count) record(s) at the kill (\(atKill.filter(\.isPending).count) pending); doctor: "
              + doctor.stdout.split(separator: "\n").filter { $0.hasPrefix("stale-record") || $0.hasPrefix("orphan-pin") }.count.description + " fixed")
    }

    /// Killed once started, then started again without doctor: it removes the stale records
    /// (with a notice), works, and a SIGINT leaves nothing.
    private func killAndRestartWithoutDoctor() throws {
        let name = "\(controller.name) restarted without doctor"
        let first = try start()
        try #require(waitStarted(first), "\(name): did not start: \(first.stderr)")
        #expect(try controller.works(first), "\(name): the first run does not work")
        kill(first.pid, SIGKILL)
        _ = first.finish(timeout: 10)
        let second = try start()
        defer { if second.isRunning { kill(second.pid, SIGKILL); _ = second.finish(timeout: 10) } }
        try #require(waitStarted(second), "\(name): did not start: \(second.stderr)")
        #expect(second.stderr.contains("netbpf: removed a stale record of "), "\(name): \(second.stderr)")
        #expect(try controller.works(second), "\(name): does not work")
        kill(second.pid, SIGINT)
        let ended = second.finish(timeout: 20)
        #expect(ended.status == 0, "\(name): SIGINT ended it with \(ended.status): \(ended.stderr)")
        let left = try leftovers()
        #expect(left.isEmpty, "\(name), after SIGINT: \(left)")
        if let plain = controller.trafficIsPlain { #expect(try plain(), "\(name): traffic is not plain after SIGINT") }
    }

    /// A second instance while one runs is refused in one line whose hint names the first's
    /// pid and every hook it holds (`places`); the first stops cleanly on SIGINT.
    func expectSecondInstanceRefused(naming places: [String]) throws {
        let first = try start()
        defer { if first.isRunning { kill(first.pid, SIGKILL); _ = first.finish(timeout: 10) } }
        try #require(waitStarted(first), "\(controller.name) did not start: \(first.stderr)")
        let second = try netbpf(controller.arguments + controller.again)
        #expect(second.status == 1, "\(controller.name) twice: \(second.status) \(second.stderr)")
        #expect(second.stderr.split(separator: "\n").count == 1 && second.stderr.contains("hint: it belongs to the running netbpf process \(first.pid): stop it (kill \(first.pid))"),
                "\(second.stderr)")
        for place in places { #expect(second.stderr.contains(place), "the hint does not name \(place): \(second.stderr)") }
        kill(first.pid, SIGINT)
        #expect(first.finish(timeout: 20).status == 0)
        let left = try leftovers()
        #expect(left.isEmpty, "\(controller.name) after a refused second instance: \(left)")
    }
}

/// A namespace's kernel state that a controller could change, one line per item: devices,
/// qdiscs, tc filters, tcx programs, XDP programs and IPv4 routes.
struct NetworkSnapshot {
    let lines: Set<String>

    init(_ namespace: String) throws {
        let netlink = try NetlinkSocket(namespace: namespace)
        let links = try netlink.interfaces()
        let names = Dictionary(links.map { ($0.index, $0.name) }, uniquingKeysWith: { a, _ in a })
        var lines: Set<String> = []
        for link in links {
            lines.insert("device \(link.name) (\(link.kind ?? "-"))")
            if let id = link.xdp.programID { lines.insert("\(link.name): XDP program \(id)") }
            for hook in [TCHook.ingress, .egress] {
                for f in (try? netlink.filters(on: .index(link.index), hook: hook)) ?? [] {
                    lines.insert("\(link.name) \(hook): tc filter \(f.kind) prio \(f.priority) handle \(f.handle) program \(f.bpf?.programID ?? 0)")
                }
            }
            for direction in TCDirection.allCases {
                let ids = try withNamespace(namespace) { try TCXAttachments.query(ifindex: link.index, direction: direction).programIDs }
                if !ids.isEmpty { lines.insert("\(link.name) \(direction.rawValue): tcx programs \(ids)") }
            }
        }
        for q in try netlink.qdiscs() {
            lines.insert("\(names[q.interfaceIndex] ?? "\(q.interfaceIndex)"): qdisc \(q.kind) \(q.handle) parent \(q.parent)")
        }
        for r in try netlink.routes(family: .v4) {
            lines.insert("route \(r.destination?.description ?? "default") dev \(r.outputInterfaceIndex.flatMap { names[$0] } ?? "-")")
        }
        self.lines = lines
    }
}

/// iperf3 from `client` to `server` at `address`, `bytes` over TCP: Mbit/s received, or nil when
/// it gave no result. 1 MB takes ~10 ms unlimited on veth and ~0.7 s at 10 Mbit/s.
func iperfMbit(server: String, client: String, address: String, bytes: String = "1M") throws -> Double? {
    let listener = try BackgroundProcess(["/usr/sbin/ip", "netns", "exec", server, "iperf3", "-s", "-1", "-B", address])
    defer { _ = listener.finish(timeout: 5) }
    usleep(150_000)
    let r = try NetlinkLab.exec(client, ["iperf3", "-c", address, "-n", bytes, "-J"])
    guard let json = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
          let bps = ((json["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bits_per_second"] as? Double else { return nil }
    return bps / 1e6
}
