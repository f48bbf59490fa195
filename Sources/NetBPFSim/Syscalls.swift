import Foundation
import Glibc
import NetBPF

/// System calls Swift's Glibc module does not expose (they sit behind _GNU_SOURCE or in
/// <sys/mount.h>), looked up once in libc with dlsym. Each returns 0 or -errno.
enum Syscalls {
    private typealias SetnsFn = @convention(c) (Int32, Int32) -> Int32
    private typealias UnshareFn = @convention(c) (Int32) -> Int32
    private typealias MountFn = @convention(c) (UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UInt, UnsafeRawPointer?) -> Int32
    private typealias Umount2Fn = @convention(c) (UnsafePointer<CChar>?, Int32) -> Int32

    /// The process's own symbol table: an immutable handle, used only with dlsym.
    nonisolated(unsafe) private static let libc = dlopen(nil, RTLD_NOW)

    private static func symbol<T>(_ name: String, as type: T.Type) -> T? {
        guard let p = dlsym(libc, name) else { return nil }
        return unsafeBitCast(p, to: type)
    }

    static let CLONE_NEWNET: Int32 = 0x4000_0000
    static let CLONE_NEWNS: Int32 = 0x0002_0000
    static let MS_REC: UInt = 16384
    static let MS_SLAVE: UInt = 1 << 19
    static let MNT_DETACH: Int32 = 2

    static func setns(_ fd: Int32, _ type: Int32) -> Int32 {
        guard let f = symbol("setns", as: SetnsFn.self) else { return -ENOSYS }
        return f(fd, type) == 0 ? 0 : -errno
    }

    static func unshare(_ flags: Int32) -> Int32 {
        guard let f = symbol("unshare", as: UnshareFn.self) else { return -ENOSYS }
        return f(flags) == 0 ? 0 : -errno
    }

    static func mount(_ source: String?, _ target: String, _ type: String?, _ flags: UInt) -> Int32 {
        guard let f = symbol("mount", as: MountFn.self) else { return -ENOSYS }
        let rc = withOptionalCString(source) { s in withOptionalCString(type) { t in f(s, target, t, flags, nil) } }
        return rc == 0 ? 0 : -errno
    }

    static func umount2(_ target: String, _ flags: Int32) -> Int32 {
        guard let f = symbol("umount2", as: Umount2Fn.self) else { return -ENOSYS }
        return f(target, flags) == 0 ? 0 : -errno
    }

    private static func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let s else { return body(nil) }
        return s.withCString { body($0) }
    }

    /// Mounts bpffs at /sys/fs/bpf when it is not there (the machines boot without it).
    static func ensureBPFFS() throws {
        if Pinning.isOnBPFFS("/sys/fs/bpf") { return }
        let rc = mount("bpf", "/sys/fs/bpf", "bpf", 0)
        if rc != 0 {
            throw SimError.system("mount -t bpf bpf /sys/fs/bpf", subject: "/sys/fs/bpf", errno: -rc)
        }
    }
}
