#!/usr/bin/env bash
# A small stand-in for topologies/tunnel-mesh (until `netbpf sim up topologies/tunnel-mesh`
# lands): HOSTS namespaces tl-h0..tl-hN on one underlay bridge (namespace tl-sw, bridge br0),
# eth0 = 172.16.1.(100+i)/24, and per host VNIS VXLAN devices vxlanV (VNI 10000+V, multicast
# group 239.1.1.(1+V), UDP 4789, underlay eth0) addressed 192.168.V.(i+1)/24. IPv6 is off so
# the only traffic is what you send.
#   bash scripts/tunnel-lab.sh up [HOSTS=4] [VNIS=2] [MTU=1500]
#   bash scripts/tunnel-lab.sh down
#   ip netns exec tl-h0 ping -c 3 -s 512 192.168.0.2      # host0 -> host1 over VNI 10000
set -euo pipefail
cmd=${1:-up}
hosts=${2:-4}
vnis=${3:-2}
mtu=${4:-1500}

down() {
  for ns in $(ip netns list | awk '{print $1}' | grep -E '^tl-(sw|h[0-9]+)$' || true); do ip netns del "$ns"; done
}

case "$cmd" in
  down) down ;;
  up)
    down
    ip netns add tl-sw
    ip netns exec tl-sw sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n tl-sw link add br0 type bridge
    ip -n tl-sw link set br0 mtu "$mtu" up
    for ((i = 0; i < hosts; i++)); do
      ns=tl-h$i
      ip netns add "$ns"
      ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
      ip -n "$ns" link set lo up
      ip -n tl-sw link add "p$i" mtu "$mtu" type veth peer name eth0 mtu "$mtu" netns "$ns"
      ip -n tl-sw link set "p$i" master br0 up
      ip -n "$ns" addr add "172.16.1.$((100 + i))/24" dev eth0
      ip -n "$ns" link set eth0 up
      for ((v = 0; v < vnis; v++)); do
        ip -n "$ns" link add "vxlan$v" type vxlan id $((10000 + v)) group "239.1.1.$((1 + v))" dstport 4789 dev eth0
        ip -n "$ns" addr add "192.168.$v.$((i + 1))/24" dev "vxlan$v"
        ip -n "$ns" link set "vxlan$v" up
      done
    done
    ;;
  *) echo "usage: $0 up [HOSTS] [VNIS] [MTU] | down" >&2; exit 2 ;;
esac
