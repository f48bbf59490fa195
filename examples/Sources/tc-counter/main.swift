// BCC's simple_tc.py / tc counters, the netbpf way: two temporary network namespaces joined by
// a veth pair, an ICMP counter on one end's tc ingress (a tcx link), five pings, the count.
import Foundation
import NetBPFKit

let counter = """
    #include <linux/bpf.h>
    #include <linux/if_ether.h>
    #include <linux/ip.h>
    #include <linux/in.h>
    #include <bpf/bpf_helpers.h>
    #include <bpf/bpf_endian.h>
    struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } icmp SEC(".maps");
    SEC("tc")
    int count_icmp(struct __sk_buff *skb) {
        void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
        struct ethhdr *eth = data;
        struct iphdr *ip = (void *)(eth + 1);
        if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_ICMP) return -1;
        __u32 zero = 0;
        __u64 *n = bpf_map_lookup_elem(&icmp, &zero);
        if (n) __sync_fetch_and_add(n, 1);
        return -1; /* TCX_NEXT: let the packet go on */
    }
    char LICENSE[] SEC("license") = "GPL";
    """

/// Runs a command inside a namespace (ip netns exec) and returns its exit status.
func run(_ namespace: String, _ argv: [String]) throws -> Int32 {
    let p = Process()
    (p.executableURL, p.arguments, p.standardOutput) = (URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "exec", namespace] + argv, FileHandle.nullDevice)
    try p.run()
    p.waitUntilExit()
    return p.terminationStatus
}

try NetworkNamespace.withTemporaryPair(prefix: "tc", addresses: ("10.77.0.1/24", "10.77.0.2/24")) { a, b in
    let bpf = try BPF(text: counter)
    try bpf.attachTC("count_icmp", interface: "vb", direction: .ingress, namespace: b)
    let status = try run(a, ["ping", "-c", "5", "-i", "0.2", "-q", "10.77.0.2"])
    let count = try ArrayMap<UInt64>(bpf.map("icmp")).get(0)
    print("ping exited \(status); ICMP packets seen on \(b)/vb ingress: \(count)")
}
