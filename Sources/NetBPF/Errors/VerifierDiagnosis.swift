/// Reads a verifier log (or libbpf's load output) and picks what a person needs first:
/// the last meaningful line and, where a known pattern matches, a hint. The same words mean
/// different mistakes in different program types (a socket filter's packet is not a kprobe's
/// registers), so the program type, when known, picks among hints.
package struct VerifierDiagnosis: Sendable, Equatable {
    /// The line that says why the program was rejected.
    package var summary: String
    /// Number of log lines not shown in `summary`.
    package var omittedLines: Int
    package var hint: String?

    /// Lines that close every verifier log and say nothing about the failure.
    private static let noise: [String] = [
        "processed ", "verification time", "stack depth", "max_states_per_insn", "peak_states",
        "mark_read", "-- END PROG LOAD LOG --", "-- BEGIN PROG LOAD LOG --",
    ]

    /// - Parameters:
    ///   - log: the verifier log, or libbpf's output when there is none.
    ///   - programType: the rejected program's type, when known; it makes some hints exact.
    package init(log: String, programType: ProgramType? = nil) {
        let lines = log.split(separator: "\n", omittingEmptySubsequences: true).map {
            $0.trimmed
        }.filter { !$0.isEmpty }
        var pick = lines.last ?? "(empty verifier log)"
        for line in lines.reversed() where !VerifierDiagnosis.noise.contains(where: { line.hasPrefix($0) }) {
            pick = line
            break
        }
        summary = pick
        omittedLines = max(0, lines.count - 1)
        hint = VerifierDiagnosis.hint(for: lines, summary: pick, programType: programType)
    }

    /// Hints for the rejections people hit most, matched on the verifier's own words.
    static func hint(for lines: [String], summary: String, programType: ProgramType? = nil) -> String? {
        let all = lines.joined(separator: "\n")
        if let hint = ContextHints.hint(summary: summary, programType: programType) { return hint }
        if summary.contains("map_value_or_null") || summary.contains("_or_null'") {
            return "check the pointer returned by bpf_map_lookup_elem() (or bpf_ringbuf_reserve()) against NULL before using it"
        }
        if all.contains("combined stack size") || all.contains("stack limit")
            || summary.range(of: #"invalid (write|read) to stack R10 off=-(51[3-9]|5[2-9][0-9]|[6-9][0-9][0-9]|[0-9]{4,})"#, options: .regularExpression) != nil
            || summary.contains("stack size") {
            return "BPF programs have 512 bytes of stack (shared by the call chain): move large buffers into a per-CPU array map"
        }
        if summary.contains("invalid mem access 'scalar'") || summary.contains("invalid mem access 'inv'") {
            if programType == .socketFilter {
                return "a socket filter cannot dereference pointers to the packet or the kernel: copy packet bytes with bpf_skb_load_bytes()"
            }
            return "kernel memory cannot be dereferenced directly here: read it with bpf_probe_read_kernel() or BPF_CORE_READ()"
        }
        if summary.contains("GPL-restricted") || summary.contains("gpl_only") {
            return "this helper is GPL-only: add `char LICENSE[] SEC(\"license\") = \"GPL\";`"
        }
        if let helper = firstMatch(#"unknown func (bpf_[a-z0-9_]+)"#, in: summary) ?? firstMatch(#"(bpf_[a-z0-9_]+)#\d+ is not"#, in: summary) {
            if let v = HelperVersions.introduced[helper] {
                return "helper \(helper) was added in Linux \(v); this kernel or this program type does not offer it"
            }
            return "helper \(helper) is not available to this program type on this kernel"
        }
        if summary.contains("cannot use helper") || summary.contains("helper call is not allowed") {
            return "this program type may not call that helper; see `netbpf features` for what is available"
        }
        if summary.contains("invalid access to packet") || summary.contains("pkt pointer") {
            return "check `data + offset + size <= data_end` before every packet access"
        }
        if summary.contains("back-edge") || summary.contains("infinite loop") || summary.contains("unbounded") {
            return "loops must be bounded (kernel 5.3+) or written with bpf_loop() (5.17+)"
        }
        if summary.contains("invalid indirect read from stack") {
            return "a variable is read before it is written: zero-initialise structs passed to helpers (__builtin_memset)"
        }
        if summary.hasPrefix("R0 !read_ok") {
            return "a path returns without a value: every path of a BPF program (and of each subprogram) must return one"
        }
        if summary.contains("too large") && summary.contains("program") {
            return "the verifier stops at 1,000,000 processed instructions: split the program with tail calls or bpf_loop()"
        }
        if all.contains(".bss") || all.contains(".data") || all.contains(".rodata") {
            if all.contains("failed to create") {
                return "global variables need kernel 5.2 (mmapable array maps)"
            }
        }
        return nil
    }

    static func firstMatch(_ pattern: String, in text: String) -> String? {
        guard let r = text.range(of: pattern, options: .regularExpression) else { return nil }
        let found = String(text[r])
        // Return the first "bpf_..." token of the match.
        if let nameRange = found.range(of: #"bpf_[a-z0-9_]+"#, options: .regularExpression) {
            return String(found[nameRange])
        }
        return nil
    }
}

/// Kernel versions that introduced BPF helpers (from the kernel's git history).
enum HelperVersions {
    static let introduced: [String: String] = [
        "bpf_map_lookup_elem": "3.19", "bpf_map_update_elem": "3.19", "bpf_map_delete_elem": "3.19",
        "bpf_probe_read": "4.1", "bpf_ktime_get_ns": "4.1", "bpf_trace_printk": "4.1",
        "bpf_get_prandom_u32": "4.1", "bpf_get_smp_processor_id": "4.1", "bpf_skb_store_bytes": "4.1",
        "bpf_l3_csum_replace": "4.1", "bpf_l4_csum_replace": "4.1", "bpf_tail_call": "4.2",
        "bpf_clone_redirect": "4.2", "bpf_get_current_pid_tgid": "4.2", "bpf_get_current_uid_gid": "4.2",
        "bpf_get_current_comm": "4.2", "bpf_get_cgroup_classid": "4.3", "bpf_skb_vlan_push": "4.3",
        "bpf_skb_vlan_pop": "4.3", "bpf_skb_get_tunnel_key": "4.3", "bpf_skb_set_tunnel_key": "4.3",
        "bpf_perf_event_read": "4.3", "bpf_redirect": "4.4", "bpf_get_route_realm": "4.4",
        "bpf_perf_event_output": "4.4", "bpf_skb_load_bytes": "4.5", "bpf_get_stackid": "4.6",
        "bpf_csum_diff": "4.6", "bpf_skb_get_tunnel_opt": "4.6", "bpf_skb_set_tunnel_opt": "4.6",
        "bpf_skb_change_proto": "4.8", "bpf_skb_change_type": "4.8", "bpf_skb_under_cgroup": "4.8",
        "bpf_get_hash_recalc": "4.8", "bpf_get_current_task": "4.8", "bpf_probe_write_user": "4.8",
        "bpf_current_task_under_cgroup": "4.9", "bpf_skb_change_tail": "4.9", "bpf_skb_pull_data": "4.9",
        "bpf_csum_update": "4.9", "bpf_set_hash_invalid": "4.9", "bpf_get_numa_node_id": "4.10",
        "bpf_skb_change_head": "4.10", "bpf_xdp_adjust_head": "4.10", "bpf_probe_read_str": "4.11",
        "bpf_get_socket_cookie": "4.12", "bpf_get_socket_uid": "4.12", "bpf_set_hash": "4.13",
        "bpf_setsockopt": "4.13", "bpf_skb_adjust_room": "4.13", "bpf_redirect_map": "4.14",
        "bpf_sk_redirect_map": "4.14", "bpf_sock_map_update": "4.14", "bpf_xdp_adjust_meta": "4.15",
        "bpf_perf_event_read_value": "4.15", "bpf_perf_prog_read_value": "4.15", "bpf_getsockopt": "4.15",
        "bpf_override_return": "4.16", "bpf_xdp_adjust_tail": "4.18", "bpf_skb_get_xfrm_state": "4.18",
        "bpf_get_stack": "4.18", "bpf_fib_lookup": "4.18", "bpf_skb_cgroup_id": "4.18",
        "bpf_get_current_cgroup_id": "4.18", "bpf_get_local_storage": "4.19", "bpf_sk_lookup_tcp": "4.20",
        "bpf_sk_lookup_udp": "4.20", "bpf_sk_release": "4.20", "bpf_map_push_elem": "4.20",
        "bpf_map_pop_elem": "4.20", "bpf_map_peek_elem": "4.20", "bpf_spin_lock": "5.1",
        "bpf_spin_unlock": "5.1", "bpf_sk_fullsock": "5.1", "bpf_tcp_sock": "5.1",
        "bpf_skb_ecn_set_ce": "5.1", "bpf_strtol": "5.2", "bpf_strtoul": "5.2",
        "bpf_sk_storage_get": "5.2", "bpf_sk_storage_delete": "5.2", "bpf_send_signal": "5.3",
        "bpf_skb_output": "5.5", "bpf_probe_read_user": "5.5", "bpf_probe_read_kernel": "5.5",
        "bpf_probe_read_user_str": "5.5", "bpf_probe_read_kernel_str": "5.5",
        "bpf_jiffies64": "5.5", "bpf_get_ns_current_pid_tgid": "5.7", "bpf_xdp_output": "5.7",
        "bpf_ringbuf_output": "5.8", "bpf_ringbuf_reserve": "5.8", "bpf_ringbuf_submit": "5.8",
        "bpf_ringbuf_discard": "5.8", "bpf_ringbuf_query": "5.8", "bpf_ktime_get_boot_ns": "5.8",
        "bpf_csum_level": "5.8", "bpf_d_path": "5.10", "bpf_snprintf_btf": "5.10",
        "bpf_per_cpu_ptr": "5.10", "bpf_this_cpu_ptr": "5.10", "bpf_redirect_neigh": "5.10",
        "bpf_redirect_peer": "5.10", "bpf_ktime_get_coarse_ns": "5.11", "bpf_ima_inode_hash": "5.11",
        "bpf_get_current_task_btf": "5.11", "bpf_check_mtu": "5.12", "bpf_for_each_map_elem": "5.13",
        "bpf_snprintf": "5.13", "bpf_sys_bpf": "5.14", "bpf_timer_init": "5.15",
        "bpf_get_func_ip": "5.15", "bpf_get_attach_cookie": "5.15", "bpf_task_pt_regs": "5.15",
        "bpf_get_branch_snapshot": "5.16", "bpf_trace_vprintk": "5.16", "bpf_find_vma": "5.17",
        "bpf_loop": "5.17", "bpf_strncmp": "5.17", "bpf_get_func_arg": "5.17",
        "bpf_kptr_xchg": "5.19", "bpf_dynptr_from_mem": "5.19", "bpf_ringbuf_reserve_dynptr": "5.19",
        "bpf_ktime_get_tai_ns": "6.1", "bpf_user_ringbuf_drain": "6.1", "bpf_cgrp_storage_get": "6.2",
    ]
}
