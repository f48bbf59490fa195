#!/usr/bin/env python3
"""Agent cost and Prometheus scrape cost against a running fleet simulation (docs/fleet.md).

Started by benchmarks/fleet-cost.sh inside the ctl host's namespace:

    fleet-cost.py PKI N AGENT_PIDS PROMETHEUS_PID WINDOW SCRAPE_INTERVAL

Four windows of WINDOW seconds each, in this order:
  1. idle, Prometheus scraping every agent every SCRAPE_INTERVAL s;
  2. idle, Prometheus stopped (SIGSTOP): no scrapes, only the agents' lease keepalives;
  3. Prometheus running again, limit changes going in at 10 a second (one key, all nodes);
  4. idle again with scrapes (RSS after the busy window).
For each: every agent's CPU (utime + stime from /proc/PID/stat) as % of one CPU, and memory
from /proc/PID/smaps_rollup: Rss, Pss (shared pages divided among the processes mapping
them: 100 agents share one netbpf binary), and anonymous memory (private to the agent).
CPU per scrape = (CPU in window 1 - CPU in window 2) / scrapes per agent in window 1 (counted
by Prometheus: count_over_time(up[...])). Scrape duration: every raw sample of
scrape_duration_seconds in window 1, p50 / p99 / max. Prints one JSON object.
"""
import base64, http.client, json, os, signal, ssl, sys, time, urllib.parse, urllib.request

pki, nodes, pids, prom_pid, window, interval = sys.argv[1], int(sys.argv[2]), [int(p) for p in sys.argv[3].split(",")], int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
HOST = "10.200.0.1"
TCK = os.sysconf("SC_CLK_TCK")

def ctx():
    c = ssl.create_default_context(cafile=f"{pki}/ca.crt")
    c.load_cert_chain(f"{pki}/operator.crt", f"{pki}/operator.key")
    return c

class Etcd:
    def __init__(self):
        self.c = http.client.HTTPSConnection(HOST, 2379, context=ctx())
        self.token = None
        pw = open(f"{pki}/operator.password").read().strip()
        self.token = self.call("/v3/auth/authenticate", {"name": "operator", "password": pw})["token"]
    def call(self, path, body):
        h = {"Content-Type": "application/json"}
        if self.token: h["Authorization"] = self.token
        self.c.request("POST", path, json.dumps(body), h)
        return json.loads(self.c.getresponse().read())
    def put(self, key, value):
        return self.call("/v3/kv/put", {"key": base64.b64encode(key.encode()).decode(), "value": base64.b64encode(value.encode()).decode()})

def cpu():
    total = 0
    for p in pids:
        st = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        total += int(st[11]) + int(st[12])
    return total / TCK

def memory():
    """Mean over agents, MB: rss, pss, anonymous; and the largest rss."""
    rss, pss, anon = [], [], []
    for p in pids:
        f = {}
        for line in open(f"/proc/{p}/smaps_rollup"):
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":"): f[parts[0][:-1]] = int(parts[1])
        rss.append(f.get("Rss", 0) / 1024); pss.append(f.get("Pss", 0) / 1024); anon.append(f.get("Anonymous", 0) / 1024)
    n = len(pids)
    return {"rss_mb": round(sum(rss) / n, 1), "pss_mb": round(sum(pss) / n, 1), "anon_mb": round(sum(anon) / n, 1), "rss_max_mb": round(max(rss), 1)}

def prom(q, at):
    u = f"http://{HOST}:9090/api/v1/query?" + urllib.parse.urlencode({"query": q, "time": f"{at:.3f}"})
    return json.load(urllib.request.urlopen(u, timeout=10))["data"]["result"]

def measure(name, busy=None):
    t0, c0 = time.time(), cpu()
    sent = busy(t0) if busy else time.sleep(window)
    t1, c1 = time.time(), cpu()
    out = {"cpu_percent_per_agent": round((c1 - c0) / (t1 - t0) / len(pids) * 100, 3), "seconds": round(t1 - t0, 1), **memory()}
    if sent: out["changes_sent"] = sent
    return out, t0, t1

def changes(t0):
    etcd, i = Etcd(), 0
    while time.time() < t0 + window:
        etcd.put("/netbpf/desired/all/ratelimit/cost", json.dumps({"prefix": "10.202.0.0/16", "rate": f"{i % 50 + 1}mbit"}))
        i += 1
        time.sleep(max(0, t0 + i * 0.1 - time.time()))
    return i

time.sleep(2 * interval)   # every target scraped at least once since registration
w1, a, b = measure("idle, scraped")
os.kill(prom_pid, signal.SIGSTOP)
try:
    time.sleep(1)
    w2, _, _ = measure("idle, not scraped")
finally:
    os.kill(prom_pid, signal.SIGCONT)
w3, _, _ = measure("10 changes/s", busy=changes)
w4, _, _ = measure("idle after")

span = int(b - a)
scrapes = prom(f'sum(count_over_time(up{{job="netbpf-agents"}}[{span}s]))', b)
scrapes_per_agent = float(scrapes[0]["value"][1]) / nodes if scrapes else 0
samples = []
for series in prom(f'scrape_duration_seconds{{job="netbpf-agents"}}[{span}s]', b):
    samples += [float(v) for _, v in series.get("values", [])]
samples.sort()
def pct(p): return round(samples[min(len(samples) - 1, int(round(p / 100 * (len(samples) - 1))))] * 1000, 2) if samples else None
per_scrape_ms = (w1["cpu_percent_per_agent"] - w2["cpu_percent_per_agent"]) / 100 * w1["seconds"] / scrapes_per_agent * 1000 if scrapes_per_agent else None
print(json.dumps({"nodes": nodes, "scrape_interval_s": interval, "window_s": window,
                  "idle_scraped": w1, "idle_not_scraped": w2, "at_10_changes_per_s": w3, "idle_after": w4,
                  "scrapes_per_agent_in_window": round(scrapes_per_agent, 1),
                  "agent_cpu_ms_per_scrape": round(per_scrape_ms, 3) if per_scrape_ms is not None else None,
                  "scrape_duration_ms": {"samples": len(samples), "p50": pct(50), "p99": pct(99), "max": pct(100)}}, indent=1))
