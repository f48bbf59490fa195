#!/usr/bin/env python3
"""Writes a fleet topology (docs/fleet.md) for N nodes to stdout.

    scripts/fleet-topology.py 20 > topologies/fleet.yaml
    scripts/fleet-topology.py 100 --name fleet100 > /tmp/fleet100.yaml
    scripts/fleet-topology.py 20 --http > /tmp/fleet-http.yaml

One bridge br0 (10.200.0.0/16). ctl (10.200.0.1) runs `netbpf fleet controlplane`: the PKI,
etcd on 2379 and Prometheus on 9090. sink (10.200.0.2) is where the nodes' traffic goes.
nodeK (10.200.K/200.K%200+10) runs `netbpf agent` with a rate limiter on its eth0 egress,
keyed on the destination, /metrics on its address port 9560. With --http, each node also runs
an HTTP server (python3 -m http.server) on its address port 8080 and its agent HTTP blocking on
eth0's ingress (`netbpf fleet http block PATH` reaches it). `netbpf` must be on PATH.
"""
import argparse

p = argparse.ArgumentParser()
p.add_argument("nodes", type=int)
p.add_argument("--name", default="fleet")
p.add_argument("--http", action="store_true", help="an HTTP server on each node, blocked by its agent")
p.add_argument("--scrape-interval", type=int, default=1, help="Prometheus' scrape interval, seconds")
a = p.parse_args()
if not 1 <= a.nodes <= 2000:
    raise SystemExit("fleet-topology: 1 to 2000 nodes")

def addr(k):
    return f"10.200.{k // 200}.{k % 200 + 10}"

work = "/run/netbpf-fleet/$NETBPF_SIM"
out = [f"# {a.name}: {a.nodes} nodes, each running `netbpf agent`, and a control host with etcd",
       "# and Prometheus. Written by scripts/fleet-topology.py; see docs/fleet.md.",
       "# Try:  PATH=$PWD/.build/debug:$PATH netbpf sim up topologies/fleet.yaml",
       "#       netbpf fleet ratelimit add 10.200.0.2 2mbit --etcd https://10.200.0.1:2379 \\",
       f"#           --pki /run/netbpf-fleet/{a.name}/pki     (from the ctl host: netbpf sim exec ctl -- ...)",
       f"#       netbpf sim down {a.name}",
       f"name: {a.name}",
       f"description: a fleet of {a.nodes} netbpf agents, etcd and Prometheus",
       "hosts:",
       "  ctl:",
       "    interfaces:",
       "      eth0: {addresses: [10.200.0.1/16]}",
       "    processes:",
       f"      - {{name: controlplane, command: 'exec netbpf fleet controlplane --dir {work} --nodes node:{a.nodes} --listen 10.200.0.1"
       + (f" --scrape-interval {a.scrape_interval}" if a.scrape_interval != 1 else "") + "'}",
       "  sink:",
       "    interfaces:",
       "      eth0: {addresses: [10.200.0.2/16]}"]
for k in range(1, a.nodes + 1):
    ip = addr(k)
    out += [f"  node{k}:",
            "    interfaces:",
            f"      eth0: {{addresses: [{ip}/16]}}",
            "    processes:",
            f"      - {{name: agent, command: 'exec netbpf agent --node node{k} --etcd https://10.200.0.1:2379 --pki {work}/agents-pki"
            f" --interface eth0 --netns nb-$NETBPF_SIM-node{k} --listen {ip}:9560 --ttl 5 --detach-on-exit"
            + (" --http-block-interface eth0" if a.http else "") + "'}"]
    if a.http:
        out += [f"      - {{name: http, command: 'exec python3 -m http.server 8080 --bind {ip} --directory /usr/share/doc'}}"]
out += ["bridges:", "  br0: {}", "links:"]
out += ["  - [ctl:eth0, br0]", "  - [sink:eth0, br0]"]
out += [f"  - [node{k}:eth0, br0]" for k in range(1, a.nodes + 1)]
print("\n".join(out))
