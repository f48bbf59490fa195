#!/usr/bin/env bash
# netbpf capture against tcpdump -w, side by side in one run (docs/benchmarks.md, "Capture"):
# small UDP datagrams over a veth pair between two namespaces at fixed rates, of which a filter
# (`udp port 5202`) matches 1%. Per rate and capturer: packets the matched stream sent (iperf3's
# own count), packets captured and lost (each tool's own report at exit), and the machine's CPU
# during the traffic (/proc/stat) above a run with no capture, per captured packet.
# Usage: bash benchmarks/capture.sh [NETBPF]   (default: a release build, made if missing)
# RATES (default "100000 500000") packets/s in all; RUNS (default 3) rounds; SECONDS_PER_RUN (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
set +e
netbpf=${1:-.build/release/netbpf}
if [ ! -x "$netbpf" ]; then swift build -c release --static-swift-stdlib --product netbpf >/dev/null || exit 1; fi
command -v tcpdump >/dev/null || apt-get install -y -qq tcpdump >/dev/null
rates=(${RATES:-100000 500000}); runs=${RUNS:-3}; secs=${SECONDS_PER_RUN:-5}
echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%dT%H:%M), commit $(git rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg)"

a=capA$$; b=capB$$; va=cba$$; vb=cbb$$; dir=$(mktemp -d)
cleanup() {
  for p in ${pids:-}; do kill "$p" 2>/dev/null; done
  ip netns pids $b 2>/dev/null | xargs -r kill 2>/dev/null
  ip netns del $a 2>/dev/null; ip netns del $b 2>/dev/null; rm -rf "$dir"
}
trap cleanup EXIT; trap 'exit 130' INT TERM
ip netns add $a && ip netns add $b || exit 1
ip link add $va netns $a type veth peer name $vb netns $b
ip -n $a addr add 10.204.0.1/24 dev $va; ip -n $b addr add 10.204.0.2/24 dev $vb
ip -n $a link set $va up; ip -n $b link set $vb up; ip -n $a link set lo up; ip -n $b link set lo up
ip netns exec $b iperf3 -s -p 5201 -D >/dev/null 2>&1; ip netns exec $b iperf3 -s -p 5202 -D >/dev/null 2>&1
sleep 0.5

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }   # user nice system irq softirq, in ticks
hz=$(getconf CLK_TCK)

# traffic RATE: the bulk stream (99%) to port 5201 and the matched one (1%) to 5202, 18-byte
# payloads, paced by iperf3; prints "matched_sent busy_ticks bulk_sent"
traffic() {
  local rate=$1 bulk=$(( $1 * 99 / 100 )) matched=$(( $1 / 100 ))
  local t0; t0=$(busy)
  ip netns exec $a iperf3 -u -c 10.204.0.2 -p 5201 -l 18 -b $(( bulk * 18 * 8 )) -t "$secs" -J >"$dir/bulk.json" 2>/dev/null &
  local bulk_pid=$!
  local sent
  sent=$(ip netns exec $a iperf3 -u -c 10.204.0.2 -p 5202 -l 18 -b $(( matched * 18 * 8 )) -t "$secs" -J 2>/dev/null |
         python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum"]["packets"])' 2>/dev/null)
  wait $bulk_pid
  local ticks=$(( $(busy) - t0 ))
  local bulk_sent
  bulk_sent=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum"]["packets"])' "$dir/bulk.json" 2>/dev/null)
  echo "${sent:-0} $ticks ${bulk_sent:-0}"
}

declare -A cap lost cpu sent
for i in $(seq "$runs"); do
  for r in "${rates[@]}"; do
    read -r s0 base b0 < <(traffic "$r")
    # netbpf capture at vb's tc ingress
    "$netbpf" capture "$b/$vb" --hook ingress -w "$dir/n.pcapng" udp port 5202 2>"$dir/n.err" & pids=$!
    sleep 1.5
    read -r s1 t1 b1 < <(traffic "$r")
    sleep 0.5; kill -INT $pids; wait $pids; pids=
    n=$(grep -o '[0-9]* packets captured, [0-9]* lost' "$dir/n.err" | tail -1)
    # tcpdump on the same interface (AF_PACKET, the filter as classic BPF on its socket)
    ip netns exec $b tcpdump -i $vb -Q in -n -w "$dir/t.pcap" udp port 5202 2>"$dir/t.err" & pids=$!
    sleep 1.5
    read -r s2 t2 b2 < <(traffic "$r")
    sleep 0.5; kill -INT $pids; wait $pids; pids=
    tc_cap=$(awk '/packets captured/{print $1}' "$dir/t.err"); tc_drop=$(awk '/dropped by kernel/{print $1}' "$dir/t.err")
    nc=$(echo "$n" | awk '{print $1}'); nl=$(echo "$n" | awk '{print $4}')
    echo "| $i | $r (achieved $(( (b1 + s1) / secs )) pps with netbpf, $(( (b2 + s2) / secs )) with tcpdump) | baseline: sent $s0, CPU $(( base * 1000 / hz )) ms | netbpf: sent $s1, captured ${nc:-?}, lost ${nl:-?}, CPU $(( t1 * 1000 / hz )) ms | tcpdump: sent $s2, captured ${tc_cap:-?}, dropped ${tc_drop:-?}, CPU $(( t2 * 1000 / hz )) ms |"
    cap[netbpf,$r]+="${nc:-0} "; lost[netbpf,$r]+="${nl:-0} "; cpu[netbpf,$r]+="$(( t1 - base )) "; sent[netbpf,$r]+="$s1 "
    cap[tcpdump,$r]+="${tc_cap:-0} "; lost[tcpdump,$r]+="${tc_drop:-0} "; cpu[tcpdump,$r]+="$(( t2 - base )) "; sent[tcpdump,$r]+="$s2 "
  done
done

echo; echo "| rate (pps, 1% matched) | capturer | matched sent (median) | captured | lost | CPU above no capture, µs per captured packet |"
echo "|---|---|---:|---:|---:|---:|"
for r in "${rates[@]}"; do
  for t in netbpf tcpdump; do
    python3 - "$r" "$t" "${sent[$t,$r]}" "${cap[$t,$r]}" "${lost[$t,$r]}" "${cpu[$t,$r]}" "$hz" <<'PY'
import statistics, sys
r, t, s, c, l, u, hz = sys.argv[1:]
med = lambda v: statistics.median([float(x) for x in v.split()])
per = med(u) / int(hz) * 1e6 / max(med(c), 1)
print(f"| {int(r):,} | {t} | {med(s):.0f} | {med(c):.0f} | {med(l):.0f} | {per:.1f} |")
PY
  done
done
