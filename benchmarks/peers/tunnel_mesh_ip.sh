#!/usr/bin/env bash
# topologies/tunnel-mesh.yaml built with iproute2, one `ip` command per change: the peer of
# `netbpf sim up/down` in benchmarks/sim.sh. Usage: tunnel_mesh_ip.sh up|down [PREFIX]
# (`ip -n NS` rather than `ip netns exec NS ip`, the faster way to script namespaces.)
set -euo pipefail
P=${2:-ipmesh}
case "${1:-}" in
up)
  ip netns add "$P-br100"
  ip -n "$P-br100" link set lo up
  ip -n "$P-br100" link add br100 type bridge
  for k in 0 1 2 3 4 5 6 7 8; do
    h="$P-host$k"
    ip netns add "$h"
    ip -n "$h" link set lo up
    ip -n "$P-br100" link add "host$k-eth0" type veth peer name eth0 netns "$h"
    ip -n "$P-br100" link set "host$k-eth0" master br100
    ip -n "$P-br100" link set "host$k-eth0" up
    ip -n "$h" addr add "172.16.1.$((100 + k))/24" dev eth0
    ip -n "$h" link set eth0 up
    for v in 0 1 2 3; do
      ip -n "$h" link add "vxlan$v" type vxlan id $((10000 + v)) group "239.1.1.$((1 + v))" dev eth0 dstport 4789
      ip -n "$h" addr add "192.168.$v.$((k + 1))/24" dev "vxlan$v"
      ip -n "$h" link set "vxlan$v" up
    done
  done
  ip -n "$P-br100" link set br100 up
  ;;
down)
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do ip netns del "$ns"; done
  ;;
*)
  echo "usage: $0 up|down [PREFIX]" >&2; exit 2 ;;
esac
