#!/usr/bin/env bash
# Fleet benchmark (docs/benchmarks.md, "Fleet"): brings up a fleet simulation of N nodes
# (scripts/fleet-topology.py), waits until every agent registered, runs
# benchmarks/fleet-convergence.py in the control host, and takes the simulation down.
#   usage: benchmarks/fleet-bench.sh N [CHANGES] [SECONDS]     (as root, after swift build)
set -euo pipefail
n=${1:?nodes}; changes=${2:-50}; secs=${3:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
name=flb$n
export PATH=$root/.build/debug:$PATH
export NETBPF_STATE_DIR=/tmp/netbpf-fleet-bench-$name
topo=$(mktemp /tmp/fleet-bench-XXXXXX.yaml)
trap 'netbpf sim down $name >/dev/null || true; rm -rf "$topo" "$NETBPF_STATE_DIR"' EXIT
python3 "$root/scripts/fleet-topology.py" "$n" --name "$name" > "$topo"
start=$(date +%s.%N)
netbpf sim up "$topo" >/dev/null
pki=/run/netbpf-fleet/$name/pki
for _ in $(seq 1 300); do
  alive=$(ip netns exec nb-$name-ctl netbpf fleet status --json --etcd https://10.200.0.1:2379 --pki "$pki" 2>/dev/null \
          | python3 -c 'import json,sys; print(sum(1 for n in json.load(sys.stdin) if n["alive"]))' 2>/dev/null || echo 0)
  [ "$alive" -ge "$n" ] && break
  sleep 0.5
done
echo "fleet-bench: $alive of $n agents registered $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s after sim up" >&2
pids=$(for k in $(seq 1 "$n"); do pgrep -f "agent --node node$k --" | head -1; done | paste -sd,)
ip netns exec nb-$name-ctl python3 "$root/benchmarks/fleet-convergence.py" "$pki" "$n" "$changes" "$secs" "$pids"
