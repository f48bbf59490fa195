#!/usr/bin/env bash
# Agent cost and scrape benchmark (docs/benchmarks.md, "Fleet"): a fleet simulation of N nodes
# (scripts/fleet-topology.py, Prometheus scraping every SCRAPE s) run with the netbpf of BUILD
# (default release: `swift build -c release --product netbpf`), then benchmarks/fleet-cost.py in
# the control host; also the netbpf binary's size, and the start-up time and RSS of a bare
# `netbpf --version`, for comparison with the agent's.
#   usage: benchmarks/fleet-cost.sh N [WINDOW_SECONDS] [SCRAPE_SECONDS]    (as root)
set -euo pipefail
n=${1:?nodes}; window=${2:-60}; scrape=${3:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/.build/release}
name=flc$n
export PATH=$build:$PATH
export NETBPF_STATE_DIR=/tmp/netbpf-fleet-cost-$name
# A release binary finds programs/ only through NETBPF_PROGRAMS (or an installed share/netbpf).
export NETBPF_PROGRAMS=${NETBPF_PROGRAMS:-$root/programs}
topo=$(mktemp /tmp/fleet-cost-XXXXXX.yaml)
trap 'netbpf sim down $name >/dev/null || true; rm -rf "$topo" "$NETBPF_STATE_DIR"' EXIT
echo "fleet-cost: netbpf $(command -v netbpf), $(stat -c %s "$build/netbpf") bytes" >&2
python3 "$root/scripts/fleet-topology.py" "$n" --name "$name" --scrape-interval "$scrape" > "$topo"
netbpf sim up "$topo" >/dev/null
pki=/run/netbpf-fleet/$name/pki
for _ in $(seq 1 400); do
  alive=$(ip netns exec nb-$name-ctl netbpf fleet status --json --etcd https://10.200.0.1:2379 --pki "$pki" 2>/dev/null \
          | python3 -c 'import json,sys; print(sum(1 for n in json.load(sys.stdin) if n["alive"]))' 2>/dev/null || echo 0)
  [ "$alive" -ge "$n" ] && break
  sleep 0.5
done
echo "fleet-cost: $alive of $n agents registered" >&2
pids=$(for k in $(seq 1 "$n"); do pgrep -f "agent --node node$k --etcd .* --netns nb-$name-node$k " | head -1; done | paste -sd,)
prom=$(pgrep -f "prometheus --config.file=/run/netbpf-fleet/$name/" | head -1)
ip netns exec nb-$name-ctl python3 "$root/benchmarks/fleet-cost.py" "$pki" "$n" "$pids" "$prom" "$window" "$scrape"
# The binary alone: what `netbpf --version` costs (start-up, peak RSS), for comparison.
python3 - "$build/netbpf" <<'PY' >&2
import resource, subprocess, sys, time
t = time.perf_counter()
for _ in range(10): subprocess.run([sys.argv[1], "--version"], stdout=subprocess.DEVNULL, check=True)
ms = (time.perf_counter() - t) * 100
print(f"fleet-cost: netbpf --version: {ms:.1f} ms, peak RSS {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.1f} MB")
PY
