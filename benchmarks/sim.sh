#!/usr/bin/env bash
# `netbpf sim up` + `sim down` of topologies/tunnel-mesh.yaml against the same network built and
# removed by a script of `ip` commands (benchmarks/peers/tunnel_mesh_ip.sh), alternating, in one
# run; prints a markdown table of medians for docs/benchmarks.md.
# Then the wall time of `netbpf sim up` and `sim down` for every shipped topology.
# Usage: bash benchmarks/sim.sh [NETBPF_BINARY]   (RUNS=N, default 7)
# A release netbpf needs the compiler helper for vlan-trunk's program: build it
# (swift build -c release --product netbpf-cc) or point NETBPF_CC at a built one.
set -euo pipefail
cd "$(dirname "$0")/.."
netbpf=${1:-.build/release/netbpf}
runs=${RUNS:-7}
topo=topologies/tunnel-mesh.yaml
peer=benchmarks/peers/tunnel_mesh_ip.sh
now() { date +%s%N; }
ms() { echo "scale=1; ($2 - $1) / 1000000" | bc; }

# Both must build a working mesh before anything is timed.
"$netbpf" sim up "$topo" --name bench-mesh >/dev/null
ip netns exec nb-bench-mesh-host0 ping -q -c 1 -W 2 192.168.3.9 >/dev/null
"$netbpf" sim down bench-mesh >/dev/null
bash "$peer" up benchip
ip netns exec benchip-host0 ping -q -c 1 -W 2 192.168.3.9 >/dev/null
bash "$peer" down benchip

nu=(); nd=(); su=(); sd=()
for _ in $(seq "$runs"); do
  t0=$(now); "$netbpf" sim up "$topo" --name bench-mesh >/dev/null
  t1=$(now); "$netbpf" sim down bench-mesh >/dev/null
  t2=$(now); bash "$peer" up benchip
  t3=$(now); bash "$peer" down benchip
  t4=$(now)
  nu+=("$(ms "$t0" "$t1")"); nd+=("$(ms "$t1" "$t2")"); su+=("$(ms "$t2" "$t3")"); sd+=("$(ms "$t3" "$t4")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mnu=$(median "${nu[@]}"); mnd=$(median "${nd[@]}"); msu=$(median "${su[@]}"); msd=$(median "${sd[@]}")
tn=$(echo "$mnu + $mnd" | bc); ts=$(echo "$msu + $msd" | bc)
echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d); $runs runs each, alternating; median ms"
echo
echo "| tunnel-mesh (10 namespaces, 9 veths, 36 VXLAN) | up | down | up + down | vs script |"
echo "|---|---|---|---|---|"
echo "| \`netbpf sim up/down\` ($netbpf) | $mnu | $mnd | $tn | $(printf '%.2f' "$(echo "scale=4; $tn / $ts" | bc)")x |"
echo "| \`ip\` script ($(grep -c '^ *ip ' "$peer") ip lines, $(( 3 + 9 * 19 + 1 )) ip runs up) | $msu | $msd | $ts | 1.00x |"

echo
echo "| topology | steps | \`sim up\` | \`sim down\` |"
echo "|---|---|---|---|"
for t in pair router neighbor-sharing tunnel-mesh vlan-trunk; do
  ups=(); downs=(); steps=""
  "$netbpf" sim up "topologies/$t.yaml" --name "bench-$t" >/dev/null   # warm the compile cache
  "$netbpf" sim down "bench-$t" >/dev/null
  for _ in $(seq "$runs"); do
    t0=$(now); out=$("$netbpf" sim up "topologies/$t.yaml" --name "bench-$t")
    t1=$(now); "$netbpf" sim down "bench-$t" >/dev/null
    t2=$(now)
    steps=$(echo "$out" | head -1 | sed -n 's/.*(\([0-9]*\) steps).*/\1/p')
    ups+=("$(ms "$t0" "$t1")"); downs+=("$(ms "$t1" "$t2")")
  done
  echo "| $t | $steps | $(median "${ups[@]}") ms | $(median "${downs[@]}") ms |"
done
