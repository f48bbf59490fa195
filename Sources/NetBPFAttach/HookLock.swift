import Foundation
import Glibc
import NetBPF
import NetBPFNetlink

/// One owner per hook at a time: an exclusive `flock(2)` on /run/netbpf/locks/NS__IFACE__HOOK,
/// held from the duplicate check through the kernel change to the record write. The kernel
/// drops the lock when the holder exits, however it exits, so a killed command never leaves a
/// hook locked. The lock directory is the same for every NETBPF_STATE_DIR: the hook is one.
///
/// Hooks are "ingress", "egress" (tc, tcx and clsact alike) and "xdp". Several are taken in
/// name order, so two commands that need the same two never wait for each other in a circle.
package final class HookLock {
    static let directory = "/run/netbpf/locks"
    private var fds: [Int32] = []

    /// Waits up to `timeout` seconds for every hook in `hooks` (on `interface` in `namespace`).
    /// - Throws: `AttachError(.busy)` naming the holder's pid when the wait runs out.
    package init(namespace: String?, interface: String, hooks: [String], timeout: Double = 30) throws {
        try Self.makeDirectory()
        for hook in Set(hooks).sorted() {
            let path = Self.path(namespace: namespace, interface: interface, hook: hook)
            do throws(LockFile.Failure) {
                let fd = try LockFile.acquire(path, mode: 0o600, timeout: timeout, interval: 0.005)
                fds.append(fd)
                LockFile.write("\(getpid())\n", to: fd) // for a waiter's "busy" message
            } catch {
                release()
                switch error {
                case .open(let e), .flock(let e):
                    throw AttachError(.system, "cannot lock \(path): \(ErrnoName.describe(-e))")
                case .timedOut(let holder):
                    throw AttachError(.busy, "another netbpf process\(Int32(holder).map { " (pid \($0))" } ?? "") is changing \(namespace.map { "\($0)/" } ?? "")\(interface) \(hook)",
                                      hint: "wait for it to finish, then try again")
                }
            }
        }
    }

    /// Takes every hook only if none is held now; nil when one is (someone is changing it).
    static func tryLock(namespace: String?, interface: String, hooks: [String]) -> HookLock? {
        try? HookLock(namespace: namespace, interface: interface, hooks: hooks, timeout: 0)
    }

    deinit { release() }

    /// Releases the hooks (also done on deinit). Idempotent.
    package func release() {
        for fd in fds { close(fd) }
        fds = []
    }

    /// Runs `body` holding the hooks.
    package static func with<T>(namespace: String?, interface: String, hooks: [String], _ body: () throws -> T) throws -> T {
        let lock = try HookLock(namespace: namespace, interface: interface, hooks: hooks)
        defer { lock.release() }
        return try body()
    }

    static func path(namespace: String?, interface: String, hook: String) -> String {
        "\(directory)/\(namespace ?? "-")__\(interface)__\(hook)"
    }

    /// Removes the lock files of network namespaces that no longer exist (each taken first,
    /// without waiting; one in use stays). Returns how many went.
    @discardableResult
    public static func removeStale() -> Int {
        var removed = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            let parts = name.components(separatedBy: "__")
            guard parts.count == 3, parts[0] != "-", !NetworkNamespace.exists(parts[0]),
                  let lock = tryLock(namespace: parts[0], interface: parts[1], hooks: [parts[2]]) else { continue }
            if unlink(directory + "/" + name) == 0 { removed += 1 }
            lock.release()
        }
        return removed
    }

    private static func makeDirectory() throws {
        for dir in ["/run/netbpf", directory] where mkdir(dir, 0o700) != 0 && errno != EEXIST {
            throw AttachError(.system, "cannot create \(dir): \(ErrnoName.describe(-errno))")
        }
    }
}
