#!/usr/bin/env bash
# netbpf drops, side by side in one run (docs/benchmarks.md, "Packet drops"):
#  1. start-to-ready (first line on a pty, ../shared/tools/ready.py's method) and peak RSS of
#     `netbpf drops` against libbpf-tools' execsnoop, rounds interleaved;
#  2. iperf3 TCP throughput over a veth pair between two namespaces, without and with
#     `netbpf drops` running (rounds interleaved, median of each).
# Usage: bash benchmarks/drops.sh [NETBPF]   (default: a release build, made if missing)
# RUNS (default 5) rounds of each; SECONDS_PER_RUN (default 5) seconds of iperf3 per round.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
netbpf=${1:-.build/release/netbpf}
if [ ! -x "$netbpf" ]; then swift build -c release --static-swift-stdlib --product netbpf >/dev/null; fi
runs=${RUNS:-5}; secs=${SECONDS_PER_RUN:-5}
ready=benchmarks/peers/ready.py
[ -f "$ready" ] || ready=../shared/tools/ready.py
echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD)"

"$netbpf" drops --seconds 0.1 >/dev/null   # warm the compile cache: the figures are a warm start
echo; echo "| round | netbpf drops | libbpf-tools execsnoop |"; echo "|---|---|---|"
for i in $(seq "$runs"); do
  a=$(python3 "$ready" "$netbpf" drops | sed 's/ ::.*//')
  b=$(python3 "$ready" /usr/sbin/execsnoop | sed 's/ ::.*//')
  echo "| $i | $a | $b |"
done

a=drbenchA$$; b=drbenchB$$
cleanup() { ip netns del $a 2>/dev/null || true; ip netns del $b 2>/dev/null || true; [ -z "${drops_pid:-}" ] || kill $drops_pid 2>/dev/null || true; }
trap cleanup EXIT INT TERM
ip netns add $a; ip netns add $b
ip link add dba$$ netns $a type veth peer name dbb$$ netns $b
ip -n $a addr add 10.203.0.1/24 dev dba$$; ip -n $b addr add 10.203.0.2/24 dev dbb$$
ip -n $a link set dba$$ up; ip -n $b link set dbb$$ up; ip -n $b link set lo up
throughput() {  # one iperf3 run, Gbit/s
  ip netns exec $b iperf3 -s -1 -D >/dev/null 2>&1; sleep 0.3
  ip netns exec $a iperf3 -c 10.203.0.2 -t "$secs" -J | python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))'
}
echo; echo "| round | iperf3 without (Gbit/s) | with netbpf drops running (Gbit/s) |"; echo "|---|---|---|"
without=(); with=()
for i in $(seq "$runs"); do
  x=$(throughput)
  "$netbpf" drops --seconds 3600 >/dev/null 2>&1 & drops_pid=$!
  sleep 1.5
  y=$(throughput)
  kill -INT $drops_pid; wait $drops_pid || true; drops_pid=
  without+=("$x"); with+=("$y")
  echo "| $i | $x | $y |"
done
python3 - "${without[*]}" "${with[*]}" <<'PY'
import statistics, sys
w = [float(x) for x in sys.argv[1].split()]; d = [float(x) for x in sys.argv[2].split()]
print(f"\nmedian without {statistics.median(w):.2f} Gbit/s, with {statistics.median(d):.2f} Gbit/s: ratio {statistics.median(d) / statistics.median(w):.3f}x")
PY
