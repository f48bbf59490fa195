import Glibc
import NetBPF

/// Kernel symbols from /proc/kallsyms, sorted by address, looked up by binary search.
/// Addresses read as 0 without CAP_SYSLOG (kptr_restrict); then lookups find nothing.
public final class KernelSymbols: Sendable {
    /// One text symbol of /proc/kallsyms.
    public struct Symbol: Sendable, Equatable {
        /// Its address in the running kernel.
        public var address: UInt64
        /// Its name ("tcp_v4_connect").
        public var name: String
        /// The module in brackets, nil for the kernel image.
        public var module: String?
    }

    /// The text symbols (t, T, w, W) with a non-zero address, sorted by address.
    public let symbols: [Symbol]

    /// Reads and sorts the symbols of `path` (about 200,000 lines on a distribution kernel).
    /// - Throws: `BPFError` with the errno when the file cannot be read.
    public init(path: String = "/proc/kallsyms") throws {
        guard let text = readTextFile(path) else { throw BPFError.system("read kallsyms", subject: path, errno: errno) }
        var out: [Symbol] = []
        out.reserveCapacity(200_000)
        for line in text.utf8.split(separator: UInt8(ascii: "\n")) {
            // "ffffffff81000000 T _stext [module]"
            let parts = line.split(maxSplits: 3, whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
            guard parts.count >= 3, let type = parts[1].first else { continue }
            // Text symbols only: what stack frames and probes point at.
            guard type == UInt8(ascii: "t") || type == UInt8(ascii: "T") || type == UInt8(ascii: "w") || type == UInt8(ascii: "W") else { continue }
            guard let address = UInt64(String(decoding: parts[0], as: UTF8.self), radix: 16), address != 0 else { continue }
            var module: String?
            if parts.count == 4 {
                let m = String(decoding: parts[3], as: UTF8.self).trimmingCharacters(in: " \t[]")
                module = m.isEmpty ? nil : m
            }
            out.append(Symbol(address: address, name: String(decoding: parts[2], as: UTF8.self), module: module))
        }
        symbols = out.sorted { $0.address < $1.address }
    }

    /// The symbol containing `address` and the offset into it.
    public func lookup(_ address: UInt64) -> (Symbol, UInt64)? {
        var lo = 0, hi = symbols.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if symbols[mid].address <= address { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return nil }
        return (symbols[lo - 1], address - symbols[lo - 1].address)
    }

    /// "func+0x1c" (or "func" with `offset: false`, "[unknown]" when nothing contains it).
    public func describe(_ address: UInt64, offset: Bool = true) -> String {
        guard let (s, off) = lookup(address) else { return "[unknown]" }
        var text = s.name
        if offset { text += "+0x" + String(off, radix: 16) }
        if let m = s.module { text += " [\(m)]" }
        return text
    }

    /// The address of a symbol by exact name.
    public func address(of name: String) -> UInt64? { symbols.first { $0.name == name }?.address }

    /// Names matching a glob (what a kprobe pattern would attach to).
    public func names(matching glob: String) -> [String] {
        var seen = Set<String>()
        return symbols.compactMap { fnmatch(glob, $0.name, 0) == 0 && seen.insert($0.name).inserted ? $0.name : nil }
    }
}

/// User-space symbols of one process: its executable mappings from /proc/PID/maps, each file's
/// ELF symbols loaded on first use.
/// Not Sendable: it loads ELF files into a cache on first use; symbolize on one thread.
public final class ProcessSymbols {
    struct Mapping { var start: UInt64; var end: UInt64; var fileOffset: UInt64; var path: String }
    /// The process whose mappings were read.
    public let pid: Int32
    private let mappings: [Mapping]
    private var files: [String: ELFFile?] = [:]

    /// Reads the executable file mappings of `pid` once; later mappings (a dlopen) are not seen.
    /// - Throws: `BPFError(.notFound)` when the process does not exist.
    public init(pid: Int32) throws {
        self.pid = pid
        guard let text = readTextFile("/proc/\(pid)/maps") else {
            throw BPFError(.notFound, operation: "read process maps", subject: "pid \(pid)", errno: errno, message: "no such process (or it exited)")
        }
        var maps: [Mapping] = []
        for line in text.split(separator: "\n") {
            // 55d0c6a00000-55d0c6a02000 r-xp 00002000 fd:01 1234 /usr/bin/true
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 6, f[1].contains("x"), f[5].hasPrefix("/") else { continue }
            let range = f[0].split(separator: "-")
            guard range.count == 2, let s = UInt64(range[0], radix: 16), let e = UInt64(range[1], radix: 16),
                  let off = UInt64(f[2], radix: 16) else { continue }
            maps.append(Mapping(start: s, end: e, fileOffset: off, path: f[5...].joined(separator: " ")))
        }
        mappings = maps
    }

    /// "func+0x10" for an address in the process, "[unknown]" when it cannot be resolved.
    public func describe(_ address: UInt64, offset: Bool = true) -> String {
        guard let m = mappings.first(where: { address >= $0.start && address < $0.end }) else { return "[unknown]" }
        let fileOffset = address - m.start + m.fileOffset
        if files[m.path] == nil { files[m.path] = try? ELFFile(path: m.path) }
        guard let elf = files[m.path] ?? nil else { return "[unknown] (\(m.path))" }
        // File offset -> virtual address of the file through its segments.
        guard let seg = elf.segments.first(where: { fileOffset >= $0.fileOffset && fileOffset < $0.fileOffset + $0.fileSize }) else {
            return "[unknown] (\(m.path))"
        }
        let vaddr = fileOffset - seg.fileOffset + seg.virtualAddress
        guard let (s, off) = elf.symbolize(vaddr) else { return "[unknown] (\(m.path))" }
        return offset ? "\(s.name)+0x\(String(off, radix: 16))" : s.name
    }
}
