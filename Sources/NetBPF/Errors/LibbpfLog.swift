import CNetBPFShims
import Foundation
import Synchronization

/// Routes libbpf's log output. libbpf prints through one global callback, so this keeps a
/// per-thread capture: a load on one thread sees only its own lines (verifier logs included),
/// and nothing reaches stderr unless `LibbpfLog.verbose` is set.
package enum LibbpfLog {
    private static let key = "netbpf.libbpf.capture"
    private static let installOnce: Void = { nb_set_print(forward) }()
    /// Whether libbpf's lines also go to stderr (`--verbose`); an atomic flag, read on every line.
    package static var verbose: Bool {
        get { verboseFlag.load(ordering: .relaxed) }
        set { verboseFlag.store(newValue, ordering: .relaxed) }
    }
    private static let verboseFlag = Atomic<Bool>(false)

    /// Makes sure libbpf prints through netbpf (idempotent, cheap).
    package static func install() { _ = installOnce }

    /// Runs `body` and returns libbpf's output on this thread during it.
    package static func capture<T>(_ body: () throws -> T) rethrows -> (T, String) {
        install()
        let box = CaptureBox()
        let previous = Thread.current.threadDictionary[key]
        Thread.current.threadDictionary[key] = box
        defer { Thread.current.threadDictionary[key] = previous }
        let result = try body()
        return (result, box.text)
    }

    private final class CaptureBox { var text = "" }

    private static let forward: nb_print_fn = { level, line in
        guard let line else { return }
        let text = String(cString: line)
        if let box = Thread.current.threadDictionary[key] as? CaptureBox {
            box.text += text
        }
        if verbose || (level == 0 && ProcessInfo.processInfo.environment["NETBPF_LIBBPF_WARN"] != nil) {
            StandardStreams.err(text)
        }
    }
}
