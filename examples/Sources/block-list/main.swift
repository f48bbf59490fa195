// A controller driven by a map, in the spirit of BCC's networking examples: an XDP program
// drops IPv4 packets from the addresses in a hash map, and Swift changes the map live.
// Two temporary namespaces; pings before, during and after a block. Usage: block-list
import Foundation
import NetBPFKit

let program = """
    #include <linux/bpf.h>
    #include <linux/if_ether.h>
    #include <linux/ip.h>
    #include <bpf/bpf_helpers.h>
    #include <bpf/bpf_endian.h>
    struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1024); __type(key, __u32); __type(value, __u64); } blocked SEC(".maps");
    SEC("xdp")
    int block(struct xdp_md *ctx) {
        void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
        struct ethhdr *eth = data;
        struct iphdr *ip = (void *)(eth + 1);
        if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) return XDP_PASS;
        __u64 *drops = bpf_map_lookup_elem(&blocked, &ip->saddr);
        if (!drops) return XDP_PASS;
        __sync_fetch_and_add(drops, 1);
        return XDP_DROP;
    }
    char LICENSE[] SEC("license") = "GPL";
    """

func ping(_ ns: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
    p.arguments = ["netns", "exec", ns, "ping", "-c", "2", "-i", "0.2", "-W", "1", "-q", "10.78.0.2"]
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    return p.terminationStatus == 0 ? "answered" : "dropped"
}

try NetworkNamespace.withTemporaryPair(prefix: "bl", addresses: ("10.78.0.1/24", "10.78.0.2/24")) { a, b in
    let bpf = try BPF(text: program)
    try bpf.attachXDP("block", interface: "vb", namespace: b)
    let blocked = try HashMap<UInt32, UInt64>(bpf.map("blocked"))
    let client = UInt32(bigEndian: 0x0A4E_0001) // 10.78.0.1 as it sits in the packet
    print("before: ping \(try ping(a))")
    try blocked.update(client, 0)
    print("blocked 10.78.0.1: ping \(try ping(a)), \(try blocked.lookup(client) ?? 0) packets dropped")
    try blocked.delete(client)
    print("unblocked: ping \(try ping(a))")
}
