import CNetBPFShims
import Foundation
import Glibc
import Synchronization

/// Runs a closure in a brand-new, empty network namespace on a dedicated thread, so probes can
/// attach to a loopback device without touching the host. The namespace disappears with the
/// thread. (unshare changes only the calling thread; Swift tasks hop threads, hence a Thread.)
enum ScratchNamespace {
    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) -> Result<T, BPFError> {
        let box = Mutex<Result<T, BPFError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { done.signal() }
            let err = nb_unshare_netns()
            guard err == 0 else {
                box.withLock { $0 = .failure(BPFError.system("unshare(CLONE_NEWNET)", errno: err)) }
                return
            }
            let value = body()
            box.withLock { $0 = .success(value) }
        }
        thread.start()
        done.wait()
        return box.withLock { $0 } ?? .failure(BPFError(.state, operation: "unshare", message: "probe thread did not run"))
    }
}
