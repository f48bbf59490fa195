import CNetBPFShims
import Foundation
import NetBPF

/// Kernel types without kernel headers: vmlinux.h generated from /sys/kernel/btf/vmlinux with
/// libbpf's btf_dump (no bpftool), cached per kernel under the cache directory.
package enum KernelTypes {
    /// SHA-256 of the running kernel's BTF. Hashing 5 MB costs ~20 ms, so it is remembered per
    /// boot (kernel BTF cannot change without a reboot) in the cache directory.
    package static func btfChecksum(cache: CacheDirectory) throws -> String {
        let bootID = ((try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? "unknown")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let memo = cache.path + "/btf-\(bootID)"
        if let data = cache.read(memo), let text = String(data: data, encoding: .utf8), text.count == 64 { return text }
        var hex = [CChar](repeating: 0, count: 65)
        let err = nb_btf_checksum(nil, &hex, hex.count)
        guard err == 0 else {
            throw CompileError(kind: .toolchain, message: "cannot read kernel BTF (/sys/kernel/btf/vmlinux): \(ErrnoName.describe(err))",
                               hint: "the kernel needs CONFIG_DEBUG_INFO_BTF for vmlinux.h")
        }
        let sum = String(cString: hex)
        try? cache.writeAtomically(Data(sum.utf8), to: memo)
        return sum
    }

    /// The directory holding vmlinux.h for the running kernel, generating it on first use.
    package static func includeDirectory(cache: CacheDirectory, btfChecksum: String) throws -> String {
        let dir = cache.path + "/kernel-" + btfChecksum.prefix(16)
        let header = dir + "/vmlinux.h"
        try cache.makeDirectory(dir)
        if cache.isTrusted(header) { return dir }
        var err = [CChar](repeating: 0, count: 256)
        let rc = nb_write_vmlinux_h(nil, header, &err, err.count)
        guard rc == 0 else {
            throw CompileError(kind: .toolchain, message: "generating vmlinux.h failed: \(String(cString: err))")
        }
        return dir
    }
}
