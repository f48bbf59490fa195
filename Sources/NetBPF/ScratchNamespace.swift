import CNetBPFShims
import Foundation
import Glibc

/// Runs a closure in a brand-new, empty network namespace on a dedicated thread, so probes can
/// attach to a loopback device without touching the host. The namespace disappears with the
/// thread. (unshare changes only the calling thread; Swift tasks hop threads, hence a Thread.)
enum ScratchNamespace {
    private final class Box<T>: @unchecked Sendable { var value: Result<T, BPFError>? }

    static func run<T>(_ body: @escaping @Sendable () -> T) -> Result<T, BPFError> {
        let box = Box<T>()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { done.signal() }
            let err = nb_unshare_netns()
            guard err == 0 else {
                box.value = .failure(BPFError.system("unshare(CLONE_NEWNET)", errno: err))
                return
            }
            box.value = .success(body())
        }
        thread.start()
        done.wait()
        return box.value ?? .failure(BPFError(.state, operation: "unshare", message: "probe thread did not run"))
    }
}
