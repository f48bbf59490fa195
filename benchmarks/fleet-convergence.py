#!/usr/bin/env python3
"""Fleet convergence and agent cost, against a running fleet simulation (docs/fleet.md).

Run from the root namespace as root after `netbpf sim up` of a fleet topology:

    benchmarks/fleet-bench.sh 20      # makes the topology, brings it up, runs this, takes it down

This script is started inside the ctl host's namespace (ip netns exec nb-NAME-ctl) by
fleet-bench.sh. It talks to etcd's JSON gateway with the operator's certificate and password
(python's ssl + http.client, no extra package), and:
  1. convergence: CHANGES limit changes, one at a time; for each, the time from just before the
     put until each node's status key shows that revision (a watch on status/), p50 and p99
     over all (change, node) pairs, and the time until the last node (p50, p99 over changes);
  2. agent cost: RSS and CPU of every agent (from /proc, pids given on the command line) at
     idle for IDLE seconds, then while changes go in at 10/s for the same time;
  3. scrape: Prometheus's scrape_duration_seconds p99 over the agents, and the agents' CPU
     per scrape (CPU over the idle window / scrapes in it).
Prints one JSON object.
"""
import base64, http.client, json, os, ssl, sys, threading, time

pki, nodes, changes, idle, pids = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), [int(p) for p in sys.argv[5].split(",")]
HOST, PORT = "10.200.0.1", 2379

def ctx():
    c = ssl.create_default_context(cafile=f"{pki}/ca.crt")
    c.load_cert_chain(f"{pki}/operator.crt", f"{pki}/operator.key")
    return c

def b64(s): return base64.b64encode(s.encode()).decode()
def end(s): return s[:-1] + chr(ord(s[-1]) + 1)

class Etcd:
    def __init__(self):
        self.c = http.client.HTTPSConnection(HOST, PORT, context=ctx())
        pw = open(f"{pki}/operator.password").read().strip()
        self.token = self.call("/v3/auth/authenticate", {"name": "operator", "password": pw})["token"]
    def call(self, path, body):
        h = {"Content-Type": "application/json"}
        if getattr(self, "token", None): h["Authorization"] = self.token
        self.c.request("POST", path, json.dumps(body), h)
        return json.loads(self.c.getresponse().read())
    def put(self, key, value):
        return int(self.call("/v3/kv/put", {"key": b64(key), "value": b64(value)})["header"]["revision"])

events = []          # (time, node, applied revision), every status change seen
lock = threading.Lock()
def watch():
    e = Etcd()
    c = http.client.HTTPSConnection(HOST, PORT, context=ctx())
    c.request("POST", "/v3/watch", json.dumps({"create_request": {"key": b64("/netbpf/status/"), "range_end": b64(end("/netbpf/status/"))}}),
              {"Content-Type": "application/json", "Authorization": e.token})
    r = c.getresponse()
    while True:
        line = r.readline()
        if not line: return
        t = time.monotonic()
        for ev in json.loads(line).get("result", {}).get("events", []):
            kv = ev["kv"]
            node = base64.b64decode(kv["key"]).decode().rsplit("/", 1)[-1]
            try: rev = json.loads(base64.b64decode(kv.get("value", "")))["revision"]
            except Exception: continue
            with lock: events.append((t, node, rev))

threading.Thread(target=watch, daemon=True).start()
time.sleep(1)
etcd = Etcd()

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else None

def arrivals(rev, t0):
    """node -> seconds from t0 to its first status with revision >= rev."""
    with lock: evs = list(events)
    out = {}
    for t, node, r in evs:
        if r >= rev and t >= t0 and node not in out: out[node] = t - t0
    return out

per_node, all_nodes, missed = [], [], 0
for i in range(changes):
    t0 = time.monotonic()
    rev = etcd.put("/netbpf/desired/all/ratelimit/bench", json.dumps({"prefix": "10.201.0.0/16", "rate": f"{i % 50 + 1}mbit"}))
    deadline = t0 + 30
    while time.monotonic() < deadline and len(arrivals(rev, t0)) < nodes:
        time.sleep(0.005)
    times = list(arrivals(rev, t0).values())
    per_node += times
    if len(times) >= nodes: all_nodes.append(max(times))
    else: missed += 1
    time.sleep(0.2)

def cpu_rss():
    cpu, rss = 0, 0
    for p in pids:
        try:
            st = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            cpu += int(st[11]) + int(st[12])
            rss += int([l for l in open(f"/proc/{p}/status") if l.startswith("VmRSS")][0].split()[1])
        except Exception: pass
    return cpu / os.sysconf("SC_CLK_TCK"), rss / 1024 / len(pids)

c0, rss_idle = cpu_rss(); time.sleep(idle); c1, _ = cpu_rss()
idle_cpu = (c1 - c0) / idle / len(pids) * 100
t_start = time.monotonic(); i = 0
while i < idle * 10:
    etcd.put("/netbpf/desired/all/ratelimit/bench", json.dumps({"prefix": "10.201.0.0/16", "rate": f"{i % 50 + 1}mbit"})); i += 1
    time.sleep(max(0, t_start + i * 0.1 - time.monotonic()))
c2, rss_busy = cpu_rss()
busy_cpu = (c2 - c1) / idle / len(pids) * 100
scrape = None
try:
    import urllib.request, urllib.parse
    q = urllib.parse.quote('quantile(0.99, max_over_time(scrape_duration_seconds{job="netbpf-agents"}[1m]))')
    res = json.load(urllib.request.urlopen(f"http://{HOST}:9090/api/v1/query?query={q}", timeout=5))["data"]["result"]
    scrape = float(res[0]["value"][1]) * 1000 if res else None
except Exception as ex:
    scrape = f"error: {ex}"
print(json.dumps({"nodes": nodes, "changes": changes, "missed": missed, "scrape_duration_p99_ms": scrape, "scrape_interval_s": 1,
                  "convergence_per_node_ms": {"p50": pct(per_node, 50) * 1000, "p99": pct(per_node, 99) * 1000},
                  "convergence_all_nodes_ms": {"p50": pct(all_nodes, 50) * 1000, "p99": pct(all_nodes, 99) * 1000},
                  "agent_rss_mb": {"idle": rss_idle, "busy": rss_busy},
                  "agent_cpu_percent": {"idle": idle_cpu, "at_10_changes_per_s": busy_cpu, "changes_sent": i}}))
