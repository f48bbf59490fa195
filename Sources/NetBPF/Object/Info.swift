import CLibBPF
import Glibc

/// What the kernel reports about a loaded program (BPF_OBJ_GET_INFO_BY_FD, bpf_prog_info).
public struct ProgramInfo: Sendable, Encodable, Equatable {
    /// The kernel's id for the program, unique while it is loaded (`bpftool prog show id N`).
    public var id: UInt32
    /// The program type.
    public var type: ProgramType
    /// The name the kernel keeps: at most the first 15 bytes of the C function's name.
    public var name: String
    /// The 8-byte program tag (hash of the instructions) in hex, as bpftool prints it.
    public var tag: String
    /// Bytes of instructions after the verifier's rewrites (xlated_prog_len; 0 for unprivileged callers).
    public var translatedBytes: UInt32
    /// Bytes of JIT-compiled machine code (jited_prog_len; 0 with the JIT off or for unprivileged callers).
    public var jitedBytes: UInt32
    /// Wall-clock load time (seconds since the epoch).
    public var loadTime: Double
    /// The uid of the process that loaded it.
    public var createdByUID: UInt32
    /// Ids of the maps the program uses.
    public var mapIDs: [UInt32]
    /// Id of the program's BTF object; 0 when it was loaded without BTF.
    public var btfID: UInt32
    /// Whether its license is GPL-compatible, which GPL-only helpers require.
    public var gplCompatible: Bool
    /// Bytes charged to memlock, from /proc/self/fdinfo (as bpftool shows it).
    public var memlockBytes: UInt64?
    /// Times the program ran; non-zero only with kernel.bpf_stats_enabled=1 (5.1).
    public var runCount: UInt64
    /// Total time spent running, in nanoseconds; non-zero only with kernel.bpf_stats_enabled=1.
    public var runTimeNanoseconds: UInt64
    /// Instructions the verifier processed to accept it (verified_insns, 5.16; 0 before).
    public var verifiedInstructions: UInt32

    init(fd: Int32) throws {
        var info = bpf_prog_info()
        var len = UInt32(MemoryLayout<bpf_prog_info>.size)
        if bpf_obj_get_info_by_fd(fd, &info, &len) != 0 {
            throw BPFError.system("BPF_OBJ_GET_INFO_BY_FD", subject: "program", errno: errno)
        }
        guard info.type != 0 || info.id != 0 else {
            throw BPFError(.invalidArgument, operation: "open program", message: "the fd is not a BPF program")
        }
        var mapIDs: [UInt32] = []
        if info.nr_map_ids > 0 {
            let count = info.nr_map_ids
            mapIDs = [UInt32](repeating: 0, count: Int(count))
            var again = bpf_prog_info()
            again.nr_map_ids = count
            mapIDs.withUnsafeMutableBufferPointer { again.map_ids = UInt64(UInt(bitPattern: $0.baseAddress)) ; _ = bpf_obj_get_info_by_fd(fd, &again, &len) }
        }
        id = info.id
        type = ProgramType(rawValue: info.type)
        name = withUnsafeBytes(of: info.name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        tag = withUnsafeBytes(of: info.tag) { $0.map { String(format2: $0) }.joined() }
        translatedBytes = info.xlated_prog_len
        jitedBytes = info.jited_prog_len
        loadTime = BootClock.wallTime(sinceBootNanoseconds: info.load_time)
        createdByUID = info.created_by_uid
        self.mapIDs = mapIDs
        btfID = info.btf_id
        gplCompatible = info.gpl_compatible != 0
        memlockBytes = FDInfo.memlock(fd: fd)
        runCount = info.run_cnt
        runTimeNanoseconds = info.run_time_ns
        verifiedInstructions = info.verified_insns
    }
}

/// What the kernel reports about a map (bpf_map_info).
public struct MapInfo: Sendable, Encodable, Equatable {
    /// The kernel's id for the map, unique while it exists (`bpftool map show id N`).
    public var id: UInt32
    /// The map type.
    public var type: MapType
    /// The name the kernel keeps: at most 15 bytes (libbpf names global-data maps "OBJ.rodata" and the like).
    public var name: String
    /// Bytes of a key.
    public var keySize: UInt32
    /// Bytes of a value; for per-CPU maps, of one CPU's value.
    public var valueSize: UInt32
    /// The most entries it holds (for a ring buffer: its data size in bytes).
    public var maxEntries: UInt32
    /// map_flags from creation (BPF_F_NO_PREALLOC, BPF_F_RDONLY_PROG, BPF_F_MMAPABLE, ...).
    public var flags: UInt32
    /// Id of the BTF object describing key and value; 0 when the map has no BTF.
    public var btfID: UInt32
    /// The key's type id in that BTF, for `BTFFormatter.decode`; 0 when not declared.
    public var btfKeyTypeID: UInt32
    /// The value's type id in that BTF, for `BTFFormatter.decode`; 0 when not declared.
    public var btfValueTypeID: UInt32
    /// Bytes charged to memlock, from /proc/self/fdinfo (as bpftool shows it); nil when not reported.
    public var memlockBytes: UInt64?

    init(fd: Int32) throws {
        var info = bpf_map_info()
        var len = UInt32(MemoryLayout<bpf_map_info>.size)
        if bpf_obj_get_info_by_fd(fd, &info, &len) != 0 {
            throw BPFError.system("BPF_OBJ_GET_INFO_BY_FD", subject: "map", errno: errno)
        }
        id = info.id
        type = MapType(rawValue: info.type)
        name = withUnsafeBytes(of: info.name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        keySize = info.key_size
        valueSize = info.value_size
        maxEntries = info.max_entries
        flags = info.map_flags
        btfID = info.btf_id
        btfKeyTypeID = info.btf_key_type_id
        btfValueTypeID = info.btf_value_type_id
        memlockBytes = FDInfo.memlock(fd: fd)
    }
}

/// What the kernel reports about a link (bpf_link_info), with the attach point decoded where known.
public struct LinkInfo: Sendable, Encodable, Equatable {
    /// The kernel's id for the link (`bpftool link show id N`).
    public var id: UInt32
    /// The link type (how the program is attached: tracing, xdp, tcx, perf_event, ...).
    public var type: LinkType
    /// Id of the program the link runs.
    public var programID: UInt32
    /// Interface index for XDP, tcx and netkit links.
    public var ifindex: UInt32?
    /// The hook for XDP, tcx and netkit links (`.xdp`, `.tcxIngress`, ...); nil for other links.
    public var attachType: AttachType?
    /// Tracepoint name for raw_tracepoint links.
    public var tracepoint: String?

    init(fd: Int32) throws {
        var info = bpf_link_info()
        var len = UInt32(MemoryLayout<bpf_link_info>.size)
        var nameBuffer = [CChar](repeating: 0, count: 256)
        let isRawTP: Bool = {
            var probe = bpf_link_info()
            var plen = len
            return bpf_obj_get_info_by_fd(fd, &probe, &plen) == 0 && probe.type == BPF_LINK_TYPE_RAW_TRACEPOINT.rawValue
        }()
        let rc: Int32 = nameBuffer.withUnsafeMutableBufferPointer { buf in
            if isRawTP {
                info.raw_tracepoint.tp_name = UInt64(UInt(bitPattern: buf.baseAddress))
                info.raw_tracepoint.tp_name_len = UInt32(buf.count)
            }
            return bpf_obj_get_info_by_fd(fd, &info, &len)
        }
        if rc != 0 { throw BPFError.system("BPF_OBJ_GET_INFO_BY_FD", subject: "link", errno: errno) }
        id = info.id
        type = LinkType(rawValue: info.type)
        programID = info.prog_id
        switch type {
        case .xdp:
            ifindex = info.xdp.ifindex
            attachType = .xdp
        case .tcx, .netkit:
            // Kernel 6.6+ union member { __u32 ifindex; __u32 attach_type; }: the same two words as
            // the netns member the 1.1-era headers know.
            ifindex = info.netns.netns_ino
            attachType = AttachType(rawValue: info.netns.attach_type)
        default:
            if isRawTP { tracepoint = String(cString: nameBuffer) }
        }
    }
}

/// CLOCK_BOOTTIME to wall clock, for load times the kernel reports since boot.
enum BootClock {
    static func wallTime(sinceBootNanoseconds ns: UInt64) -> Double {
        var real = timespec(), boot = timespec()
        clock_gettime(CLOCK_REALTIME, &real)
        clock_gettime(CLOCK_BOOTTIME, &boot)
        let nowReal = Double(real.tv_sec) + Double(real.tv_nsec) / 1e9
        let nowBoot = Double(boot.tv_sec) + Double(boot.tv_nsec) / 1e9
        return nowReal - nowBoot + Double(ns) / 1e9
    }
}

/// Reads fields of /proc/self/fdinfo/FD the kernel exposes for BPF objects.
enum FDInfo {
    static func memlock(fd: Int32) -> UInt64? {
        guard let text = try? readSmallFile("/proc/self/fdinfo/\(fd)") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("memlock:") {
            return UInt64(line.dropFirst("memlock:".count).trimmed)
        }
        return nil
    }
}

extension String {
    /// Two lowercase hex digits.
    init(format2 byte: UInt8) {
        let digits = Array("0123456789abcdef")
        self = String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }
}

/// Reads a small text file (proc, sys, tracefs) in one go.
package func readSmallFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw BPFError.system("open", subject: path, errno: errno) }
    defer { close(fd) }
    do {
        return String(decoding: try SystemCall.readAll(fd), as: UTF8.self)
    } catch {
        throw BPFError.system("read", subject: path, errno: error.errno)
    }
}
