import CLibBPF
import CNetBPFShims
import Foundation
import Synchronization

/// One probed kernel capability.
public struct Feature: Sendable, Encodable, Equatable {
    /// What was probed, in words ("program type xdp", "bpf_loop from sched_cls", "tcx links").
    public var name: String
    /// Whether the kernel offers it; a probe that could not run (no privilege) also reads false,
    /// with the reason in `detail`.
    public var available: Bool
    /// How it was decided, or what is missing.
    public var detail: String
}

/// Kernel feature probes. Each is decided by trying the thing (loading a program of the type,
/// creating the map, calling the command), never from the kernel version, and computed once per
/// process on first use.
public final class Features: Sendable {
    /// The process-wide cache; every probe runs at most once per process.
    public static let shared = Features()
    private let cache = Mutex<[String: Feature]>([:])

    /// Holds the lock while probing, so two threads asking at once run the probe once.
    private func cached(_ key: String, _ probe: () -> Feature) -> Feature {
        cache.withLock { cache in
            if let f = cache[key] { return f }
            let f = probe()
            cache[key] = f
            return f
        }
    }

    static let programTypes: [(String, UInt32)] = [
        ("socket_filter", BPF_PROG_TYPE_SOCKET_FILTER.rawValue), ("kprobe", BPF_PROG_TYPE_KPROBE.rawValue),
        ("sched_cls", BPF_PROG_TYPE_SCHED_CLS.rawValue), ("sched_act", BPF_PROG_TYPE_SCHED_ACT.rawValue),
        ("tracepoint", BPF_PROG_TYPE_TRACEPOINT.rawValue), ("xdp", BPF_PROG_TYPE_XDP.rawValue),
        ("perf_event", BPF_PROG_TYPE_PERF_EVENT.rawValue), ("cgroup_skb", BPF_PROG_TYPE_CGROUP_SKB.rawValue),
        ("raw_tracepoint", BPF_PROG_TYPE_RAW_TRACEPOINT.rawValue), ("tracing", BPF_PROG_TYPE_TRACING.rawValue),
        ("lsm", BPF_PROG_TYPE_LSM.rawValue), ("sk_lookup", BPF_PROG_TYPE_SK_LOOKUP.rawValue),
        ("syscall", BPF_PROG_TYPE_SYSCALL.rawValue),
    ]

    static let mapTypes: [(String, UInt32)] = [
        ("hash", BPF_MAP_TYPE_HASH.rawValue), ("array", BPF_MAP_TYPE_ARRAY.rawValue),
        ("prog_array", BPF_MAP_TYPE_PROG_ARRAY.rawValue), ("perf_event_array", BPF_MAP_TYPE_PERF_EVENT_ARRAY.rawValue),
        ("percpu_hash", BPF_MAP_TYPE_PERCPU_HASH.rawValue), ("percpu_array", BPF_MAP_TYPE_PERCPU_ARRAY.rawValue),
        ("stack_trace", BPF_MAP_TYPE_STACK_TRACE.rawValue), ("lru_hash", BPF_MAP_TYPE_LRU_HASH.rawValue),
        ("lru_percpu_hash", BPF_MAP_TYPE_LRU_PERCPU_HASH.rawValue), ("lpm_trie", BPF_MAP_TYPE_LPM_TRIE.rawValue),
        ("devmap", BPF_MAP_TYPE_DEVMAP.rawValue), ("ringbuf", BPF_MAP_TYPE_RINGBUF.rawValue),
        ("user_ringbuf", BPF_MAP_TYPE_USER_RINGBUF.rawValue), ("bloom_filter", BPF_MAP_TYPE_BLOOM_FILTER.rawValue),
    ]

    /// Helpers netbpf's own programs rely on, per program type.
    static let helpers: [(String, UInt32, [(String, UInt32)])] = [
        ("sched_cls", BPF_PROG_TYPE_SCHED_CLS.rawValue, [
            ("bpf_skb_vlan_push", BPF_FUNC_skb_vlan_push.rawValue), ("bpf_skb_vlan_pop", BPF_FUNC_skb_vlan_pop.rawValue),
            ("bpf_redirect", BPF_FUNC_redirect.rawValue), ("bpf_skb_get_tunnel_key", BPF_FUNC_skb_get_tunnel_key.rawValue),
            ("bpf_skb_set_tunnel_key", BPF_FUNC_skb_set_tunnel_key.rawValue), ("bpf_ringbuf_output", BPF_FUNC_ringbuf_output.rawValue),
            ("bpf_ktime_get_ns", BPF_FUNC_ktime_get_ns.rawValue), ("bpf_loop", BPF_FUNC_loop.rawValue)]),
        ("xdp", BPF_PROG_TYPE_XDP.rawValue, [
            ("bpf_redirect_map", BPF_FUNC_redirect_map.rawValue), ("bpf_xdp_adjust_head", BPF_FUNC_xdp_adjust_head.rawValue),
            ("bpf_fib_lookup", BPF_FUNC_fib_lookup.rawValue)]),
        ("tracepoint", BPF_PROG_TYPE_TRACEPOINT.rawValue, [
            ("bpf_probe_read_kernel", BPF_FUNC_probe_read_kernel.rawValue), ("bpf_get_current_task_btf", BPF_FUNC_get_current_task_btf.rawValue),
            ("bpf_get_stackid", BPF_FUNC_get_stackid.rawValue), ("bpf_perf_event_output", BPF_FUNC_perf_event_output.rawValue),
            ("bpf_probe_write_user", BPF_FUNC_probe_write_user.rawValue)]),
    ]

    /// Whether a program of `type` loads (libbpf_probe_bpf_prog_type).
    func programType(_ name: String, _ type: UInt32) -> Feature {
        cached("prog:\(name)") {
            let r = libbpf_probe_bpf_prog_type(bpf_prog_type(type), nil)
            return Feature(name: "program type \(name)", available: r == 1, detail: r == 1 ? "loads" : r == 0 ? "kernel refuses it" : "probe failed: \(ErrnoName.describe(r))")
        }
    }

    /// Whether a map of `type` can be created (libbpf_probe_bpf_map_type).
    func mapType(_ name: String, _ type: UInt32) -> Feature {
        cached("map:\(name)") {
            let r = libbpf_probe_bpf_map_type(bpf_map_type(type), nil)
            return Feature(name: "map type \(name)", available: r == 1, detail: r == 1 ? "creates" : r == 0 ? "kernel refuses it" : "probe failed: \(ErrnoName.describe(r))")
        }
    }

    /// Whether a program of `programType` may call helper `id` (libbpf_probe_bpf_helper).
    func helper(_ name: String, programType: (String, UInt32), id: UInt32) -> Feature {
        cached("helper:\(programType.0):\(name)") {
            let (r, _) = LibbpfLog.capture { libbpf_probe_bpf_helper(bpf_prog_type(programType.1), bpf_func_id(id), nil) }
            var detail = r == 1 ? "callable" : r == 0 ? "not callable" : "probe failed: \(ErrnoName.describe(r))"
            if name == "bpf_probe_write_user" && r != 1 { detail += " (refused under lockdown)" }
            return Feature(name: "\(name) from \(programType.0)", available: r == 1, detail: detail)
        }
    }

    /// The BPF ring buffer map (5.8).
    public var ringBuffer: Feature { mapType("ringbuf", BPF_MAP_TYPE_RINGBUF.rawValue) }

    /// BPF_MAP_LOOKUP_BATCH on hash maps (5.6): an empty map answers ENOENT when supported.
    public var batchOperations: Feature {
        cached("batch") {
            let fd = bpf_map_create(BPF_MAP_TYPE_HASH, "netbpf_probe", 4, 8, 4, nil)
            guard fd >= 0 else { return Feature(name: "batch map operations", available: false, detail: "map create failed: \(ErrnoName.describe(errno))") }
            defer { close(fd) }
            var keys = [UInt32](repeating: 0, count: 4), values = [UInt64](repeating: 0, count: 4)
            var out: UInt64 = 0, count: UInt32 = 4
            let r = nb_map_lookup_batch(fd, nil, &out, &keys, &values, &count, 0)
            return Feature(name: "batch map operations", available: r == 0 || r == -ENOENT,
                           detail: r == 0 || r == -ENOENT ? "BPF_MAP_LOOKUP_BATCH answers" : "BPF_MAP_LOOKUP_BATCH: \(ErrnoName.describe(r))")
        }
    }

    /// tcx links (6.6): BPF_LINK_CREATE with attach type 46 reaches the device lookup (ENODEV for
    /// ifindex 0) on kernels that know tcx, and fails with EINVAL on those that do not.
    public var tcx: Feature {
        cached("tcx") {
            let prog = nb_load_trivial_prog(BPF_PROG_TYPE_SCHED_CLS.rawValue, 0, 0)
            guard prog >= 0 else { return Feature(name: "tcx links", available: false, detail: "sched_cls load failed: \(ErrnoName.describe(prog))") }
            defer { close(prog) }
            let r = nb_link_create_plain(prog, 0, 46)
            if r >= 0 { close(r) }
            return Feature(name: "tcx links", available: r == -ENODEV || r >= 0,
                           detail: r == -ENODEV || r >= 0 ? "BPF_LINK_CREATE knows BPF_TCX_INGRESS" : "BPF_LINK_CREATE(tcx): \(ErrnoName.describe(r)); netbpf uses clsact instead")
        }
    }

    /// XDP links (5.9): an XDP link made on the loopback device of a throw-away namespace.
    public var xdpLinks: Feature {
        cached("xdp-link") {
            let result = ScratchNamespace.run { () -> Int32 in
                let prog = nb_load_trivial_prog(BPF_PROG_TYPE_XDP.rawValue, BPF_XDP.rawValue, 0)
                guard prog >= 0 else { return prog }
                defer { close(prog) }
                let link = nb_link_create_plain(prog, 1, BPF_XDP.rawValue)
                if link >= 0 { close(link); return 0 }
                return link
            }
            switch result {
            case .success(0): return Feature(name: "XDP links", available: true, detail: "BPF_LINK_CREATE(BPF_XDP) on a scratch namespace's lo")
            case .success(let r): return Feature(name: "XDP links", available: false, detail: "BPF_LINK_CREATE(BPF_XDP): \(ErrnoName.describe(r))")
            case .failure(let e): return Feature(name: "XDP links", available: false, detail: "could not make a scratch namespace: \(e)")
            }
        }
    }

    /// kprobes: the kprobe PMU (4.17) or tracefs kprobe_events. Absent when the kernel was built
    /// without CONFIG_KPROBES.
    public var kprobes: Feature {
        cached("kprobes") {
            let pmu = FileManager.default.fileExists(atPath: "/sys/bus/event_source/devices/kprobe/type")
            let events = ["/sys/kernel/tracing/kprobe_events", "/sys/kernel/debug/tracing/kprobe_events"].contains { FileManager.default.fileExists(atPath: $0) }
            if pmu || events {
                return Feature(name: "kprobes", available: true, detail: pmu ? "kprobe PMU" : "tracefs kprobe_events")
            }
            return Feature(name: "kprobes", available: false, detail: "no kprobe PMU and no kprobe_events: kernel built without CONFIG_KPROBES")
        }
    }

    /// uprobes: the uprobe PMU (4.17).
    public var uprobes: Feature {
        cached("uprobes") {
            let ok = FileManager.default.fileExists(atPath: "/sys/bus/event_source/devices/uprobe/type")
            return Feature(name: "uprobes", available: ok, detail: ok ? "uprobe PMU" : "no uprobe PMU (CONFIG_UPROBE_EVENTS)")
        }
    }

    /// fentry/fexit (5.5): a trampoline attach to bpf_fentry_test1 must succeed; lockdown or a
    /// kernel without ftrace direct calls refuses it.
    public var fentry: Feature {
        cached("fentry") {
            guard let btf = btf__load_vmlinux_btf() else {
                return Feature(name: "fentry/fexit", available: false, detail: "no kernel BTF")
            }
            defer { btf__free(btf) }
            let id = btf__find_by_name_kind(btf, "bpf_fentry_test1", BTFKind.function)
            guard id > 0 else { return Feature(name: "fentry/fexit", available: false, detail: "bpf_fentry_test1 not in kernel BTF") }
            let prog = nb_load_trivial_prog(BPF_PROG_TYPE_TRACING.rawValue, BPF_TRACE_FENTRY.rawValue, UInt32(id))
            guard prog >= 0 else { return Feature(name: "fentry/fexit", available: false, detail: "fentry program load refused: \(ErrnoName.describe(prog))") }
            defer { close(prog) }
            let link = nb_link_create_plain(prog, 0, BPF_TRACE_FENTRY.rawValue)
            if link >= 0 { close(link); return Feature(name: "fentry/fexit", available: true, detail: "trampoline attached") }
            return Feature(name: "fentry/fexit", available: false, detail: "trampoline attach refused: \(ErrnoName.describe(link))")
        }
    }

    /// Kernel BTF at /sys/kernel/btf/vmlinux (needed for CO-RE and vmlinux.h).
    public var kernelBTF: Feature {
        cached("btf") {
            let ok = FileManager.default.fileExists(atPath: "/sys/kernel/btf/vmlinux")
            return Feature(name: "kernel BTF", available: ok, detail: ok ? "/sys/kernel/btf/vmlinux" : "missing: kernel built without CONFIG_DEBUG_INFO_BTF")
        }
    }

    /// A BPF filesystem mounted at /sys/fs/bpf, where pins live.
    public var bpffs: Feature {
        cached("bpffs") {
            let ok = Pinning.isOnBPFFS("/sys/fs/bpf")
            return Feature(name: "bpffs", available: ok, detail: ok ? "mounted at /sys/fs/bpf" : "not mounted: mount -t bpf bpf /sys/fs/bpf")
        }
    }

    /// Every probe, grouped, for `netbpf features`.
    public func all(includeHelpers: Bool = true) -> [(group: String, features: [Feature])] {
        var out: [(String, [Feature])] = []
        out.append(("system", [kernelBTF, bpffs, kprobes, uprobes, fentry]))
        out.append(("attach", [tcx, xdpLinks, batchOperations, ringBuffer]))
        out.append(("program types", Self.programTypes.map { programType($0.0, $0.1) }))
        out.append(("map types", Self.mapTypes.map { mapType($0.0, $0.1) }))
        if includeHelpers {
            for (name, type, list) in Self.helpers {
                out.append(("helpers (\(name))", list.map { helper($0.0, programType: (name, type), id: $0.1) }))
            }
        }
        return out
    }
}
