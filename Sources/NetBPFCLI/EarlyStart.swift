import Foundation
import NetBPF
import NetBPFAttach
import NetBPFCompiler
import NetBPFNetlink

/// Work `main` starts before ArgumentParser runs, for the plain forms of `netbpf attach tc` and
/// `netbpf compile`.
///
/// A Swift process reaches `run()` 8-11 ms after exec here (exec and the loader, the runtime,
/// and ArgumentParser's reflection over every command's options). Two things in those commands
/// take longer than that and need only the arguments: the tcx link (BPF_LINK_CREATE waits for an
/// RCU grace period, 5-30 ms; see TCXReservation) and compiling or finding the program in the
/// cache (the compiler library alone takes ~7 ms to open). So `begin` scans the raw arguments
/// (`ArgumentScan`) and starts both on background threads; any option the scan does not know
/// (--clsact, --before, --priority, --help, anything unknown) means no early start.
///
/// The scan decides nothing. The commands take what was started only if it is for exactly
/// what the parsed arguments ask (the hook in `Attacher.attachTC`, the path and compile options
/// in `ProgramInput`), and otherwise do the work themselves as before; an unused reservation is
/// cancelled, an unused compile waited for and dropped (`abandon`, also at exit).
public enum EarlyStart {
    nonisolated(unsafe) private static var reservation: TCXReservation?
    nonisolated(unsafe) private static var compile: EarlyCompile?

    /// `CommandLine.arguments` as netbpf parses them: `-DNAME=VALUE` and `-IDIR` split in two
    /// for the commands that take compile options (CompileArguments.splitJoined).
    public static func normalized(_ arguments: [String]) -> [String] { CompileArguments.splitJoined(arguments) }

    /// Call once from `main` with the normalized arguments, before any other thread starts.
    public static func begin(arguments: [String]) {
        guard let scan = ArgumentScan(arguments) else { return }
        if let hook = scan.hook {
            reservation = TCXReservation(interface: hook.interface, namespace: hook.namespace, direction: hook.direction, position: .last)
        }
        if scan.program.hasSuffix(".c") {
            compile = EarlyCompile(path: scan.program, options: CompileArguments.options(defines: scan.defines, includes: scan.includes, noCache: scan.noCache))
        }
    }

    /// Cancels a reservation no command took and waits for a compile no command took, so the
    /// process never exits while one of them is inside a system call or dlopen. Called at exit
    /// (ProcessExit), however the command ended.
    public static func abandon() {
        takeReservation()?.cancel()
        if let compile { _ = try? compile.result() }
        compile = nil
    }

    /// The reservation `begin` started, handed over once (then nil).
    static func takeReservation() -> TCXReservation? {
        defer { reservation = nil }
        return reservation
    }

    /// The compile `begin` started, if it was of `path` with exactly `options`; handed over
    /// once. Called on the main thread only.
    static func takeCompile(path: String, options: CompileOptions) -> EarlyCompile? {
        // One that does not match stays here for abandon() to wait for.
        guard let early = compile, early.path == path, early.options == options else { return nil }
        compile = nil
        return early
    }
}

/// A compile running on its own thread; `result()` waits for it.
final class EarlyCompile: @unchecked Sendable {
    let path: String
    let options: CompileOptions
    private let done = DispatchSemaphore(value: 0)
    private var outcome: Result<CompiledObject, any Error>?

    init(path: String, options: CompileOptions) {
        self.path = path
        self.options = options
        Thread.detachNewThread { [self] in
            outcome = Result { try BPFCompiler().compile(file: path, options: options) }
            done.signal()
        }
    }

    /// The compiled object, or the error the compile threw; waits for it.
    func result() throws -> CompiledObject {
        done.wait()
        done.signal() // a latch: later waits pass
        return try outcome!.get()
    }
}

/// The plain forms of `attach tc IFACE PROG ...` and `compile SRC ...`, read from the raw
/// arguments: nil for anything else, or for any option not listed here.
struct ArgumentScan: Equatable {
    struct Hook: Equatable {
        var interface: String
        var namespace: String?
        var direction: TCDirection
    }

    /// `attach tc` only: where the program goes.
    var hook: Hook?
    /// The program or source, as given.
    var program: String
    /// -D and -I values in order, and --no-cache, as `CompileArguments` would hold them.
    var defines: [String] = []
    var includes: [String] = []
    var noCache = false

    init?(_ arguments: [String]) {
        guard arguments.count > 2 else { return nil }
        let attachTC = arguments[1] == "attach" && arguments[2] == "tc"
        guard attachTC || arguments[1] == "compile" else { return nil }
        // Options that take a value, and those that do not, that cannot change the hook or
        // the compile; the rest of either command's options stop the scan.
        let valued: Set = attachTC ? ["--section", "--program-name", "--netns"] : ["-o", "--output"]
        let flags: Set = attachTC ? ["--no-cache", "--json", "--verbose", "-v", "--tcx", "--ingress", "--egress"]
                                  : ["--no-cache", "--json", "--verbose", "-v"]
        var positionals: [String] = []
        var values: [String: String] = [:]
        var seen: Set<String> = []
        var defines: [String] = [], includes: [String] = []
        var i = attachTC ? 3 : 2
        while i < arguments.count {
            let a = arguments[i]
            i += 1
            if !a.hasPrefix("-") || a == "-" {
                positionals.append(a)
            } else if a == "-D" || a == "-I" {
                guard i < arguments.count, !arguments[i].hasPrefix("-") else { return nil }
                if a == "-D" { defines.append(arguments[i]) } else { includes.append(arguments[i]) }
                i += 1
            } else if (a.hasPrefix("-D") || a.hasPrefix("-I")) && !a.hasPrefix("-D=") && !a.hasPrefix("-I=") {
                let value = String(a.dropFirst(2)) // not after normalized(), but the scan stands alone
                if a.hasPrefix("-D") { defines.append(value) } else { includes.append(value) }
            } else if flags.contains(a) {
                seen.insert(a)
            } else if valued.contains(a) {
                guard i < arguments.count, !arguments[i].hasPrefix("-") else { return nil }
                values[a] = arguments[i]
                i += 1
            } else if let eq = a.firstIndex(of: "="), valued.contains(String(a[..<eq])) {
                values[String(a[..<eq])] = String(a[a.index(after: eq)...])
            } else {
                return nil // --, --help, --clsact, --before, anything unknown
            }
        }
        guard positionals.count == (attachTC ? 2 : 1), !(seen.contains("--ingress") && seen.contains("--egress")) else { return nil }
        var hook: Hook?
        if attachTC {
            let namespace = values["--netns"]
            guard Interface.isValidName(positionals[0]), namespace.map(NetworkNamespace.isValidName) ?? true else { return nil }
            hook = Hook(interface: positionals[0], namespace: namespace, direction: seen.contains("--egress") ? .egress : .ingress)
        }
        self.hook = hook
        program = positionals.last!
        self.defines = defines
        self.includes = includes
        noCache = seen.contains("--no-cache")
    }
}
