import NetBPF
import NetBPFAttach
import NetBPFNetlink

/// Starts the tcx link of `netbpf attach tc IFACE PROG` before ArgumentParser runs.
///
/// A tcx BPF_LINK_CREATE waits for an RCU grace period (6-30 ms here), longer than everything
/// else a warm attach does; TCXReservation already overlaps that wait with compiling and
/// loading, but it can only start once the arguments are parsed, which in a Swift process is
/// 3-8 ms after exec (runtime start-up and ArgumentParser's reflection). This scan of the raw
/// arguments starts the reservation first thing in `main`, for the plain forms only: any
/// option it does not know to leave the hook unchanged (--clsact, --before, --priority, --help,
/// anything unknown) means no early start, and the command reserves after parsing as before.
/// The scan decides nothing: `AttachCommand.TC` takes the reservation only if it matches what
/// the parsed command attaches, and cancels it otherwise.
public enum EarlyTCXReservation {
    nonisolated(unsafe) private static var started: TCXReservation?

    /// Call once from `main` with `CommandLine.arguments`.
    public static func begin(arguments: [String]) {
        guard let plan = plan(for: arguments) else { return }
        started = TCXReservation(interface: plan.interface, namespace: plan.namespace, direction: plan.direction, position: .last)
    }

    /// The reservation started by `begin`, handed over once (then nil).
    static func take() -> TCXReservation? {
        defer { started = nil }
        return started
    }

    struct Plan: Equatable {
        var interface: String
        var namespace: String?
        var direction: TCDirection
    }

    /// What `attach tc` will attach where, if the arguments are of a form whose hook this scan
    /// can tell for sure; nil otherwise.
    static func plan(for arguments: [String]) -> Plan? {
        guard arguments.count > 3, arguments[1] == "attach", arguments[2] == "tc" else { return nil }
        let valued: Set = ["--section", "--program-name", "-D", "-I"]
        let flags: Set = ["--no-cache", "--json", "--verbose", "--tcx"]
        var positionals: [String] = []
        var namespace: String?
        var ingress = false, egress = false
        var i = 3
        while i < arguments.count {
            let a = arguments[i]
            i += 1
            if a == "--" || !a.hasPrefix("-") || a == "-" {
                if a == "--" { return nil } // unusual enough not to guess
                positionals.append(a)
            } else if a == "--ingress" {
                ingress = true
            } else if a == "--egress" {
                egress = true
            } else if a == "--netns" {
                guard i < arguments.count else { return nil }
                namespace = arguments[i]
                i += 1
            } else if a.hasPrefix("--netns=") {
                namespace = String(a.dropFirst("--netns=".count))
            } else if flags.contains(a) {
                continue
            } else if valued.contains(a) {
                guard i < arguments.count else { return nil }
                i += 1
            } else if (a.hasPrefix("-D") || a.hasPrefix("-I")) && a.count > 2 {
                continue // -DNAME=VALUE, -Idir
            } else if let eq = a.firstIndex(of: "="), valued.contains(String(a[..<eq])) {
                continue // --section=tc
            } else {
                return nil
            }
        }
        guard positionals.count == 2, !(ingress && egress), Interface.isValidName(positionals[0]) else { return nil }
        if let namespace, !NetworkNamespace.isValidName(namespace) { return nil }
        return Plan(interface: positionals[0], namespace: namespace, direction: egress ? .egress : .ingress)
    }
}
