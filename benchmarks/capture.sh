#!/usr/bin/env bash
# netbpf capture against tcpdump -w, side by side in one run (docs/benchmarks.md, "Capture").
# The traffic: `netbpf prog run --live` (docs/loader.md, "Live frames") sends copies of one
# 60-byte UDP frame into a veth's receive path at fixed rates: programs/xdp_udp_gen.bpf.c in XDP
# live-frames mode where the kernel allows it, else programs/tc_udp_gen.bpf.c, a tc program
# test-run that sends 32 frames per run with bpf_clone_redirect (this project's 6.18 VMs refuse
# live frames). Exactly 1 frame in 100 goes to UDP port 9, the rest to port 10 (a second build
# with -D GEN_MATCH_EVERY=1 sends every frame to port 9). The frames are addressed to the veth's
# MAC but to an IP address the namespace does not have, so the stack drops them at routing
# (no ICMP errors, no socket): the receiving side costs little and the generator goes fast.
# Each capturer runs alone at that veth's ingress with the filter `udp dst port 9`.
# Per rate, match share and capturer: the rate reached (the generator's own report), packets
# captured against expected, lost (netbpf's "lost"; tcpdump's "dropped by kernel"), the
# capturer's CPU (user+sys from /proc while the traffic ran) per captured packet, and the
# generator's CPU per frame (its thread also runs the receive path: the capture hook, packet
# sockets, IP, all in the syscall). A row with no capturer at the highest rate is the baseline.
# Usage: bash benchmarks/capture.sh [NETBPF]   (default: a release build, made if missing)
# RATES (default "100000 500000 1000000 2000000 max") frames/s, "max" = as fast as it goes;
# MATCH (default "1 100") percent of frames the filter matches; RUNS (default 1) rounds;
# SECONDS_PER_RUN (default 1) of traffic per measurement; GEN (default auto: xdp if the kernel
# runs live frames, else tc).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
set +e
netbpf=${1:-.build/release/netbpf}
if [ ! -x "$netbpf" ]; then swift build -c release --static-swift-stdlib --product netbpf >/dev/null || exit 1; fi
command -v tcpdump >/dev/null || apt-get install -y -qq tcpdump >/dev/null
rates=(${RATES:-100000 500000 1000000 2000000 max}); matches=(${MATCH:-1 100}); runs=${RUNS:-1}; secs=${SECONDS_PER_RUN:-1}
echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%dT%H:%M), commit $(git rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg)"

a=capA$$; b=capB$$; va=cba$$; vb=cbb$$; dir=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  ip netns del $a 2>/dev/null; ip netns del $b 2>/dev/null; rm -rf "$dir"
}
trap cleanup EXIT; trap 'exit 130' INT TERM
ip netns add $a && ip netns add $b || exit 1
ip link add $va netns $a type veth peer name $vb netns $b || exit 1
for ns in $a $b; do ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done  # no neighbour chatter
ip -n $a addr add 10.204.0.1/24 dev $va; ip -n $b addr add 10.204.0.2/24 dev $vb
ip -n $a link set $va up; ip -n $b link set $vb up

# The frame: Ethernet to vb's MAC, IPv4 10.204.0.1 -> 10.204.0.99 (not vb's), UDP 4000 -> 10, 18 bytes of payload.
frame=$(python3 - "$(ip -n $b -br link show $vb | awk '{print $3}')" "$(ip -n $a -br link show $va | awk '{print $3}')" <<'PY'
import struct, sys
dst, src = (bytes.fromhex(m.replace(':', '')) for m in sys.argv[1:3])
payload = b'netbpf-capture-gen'
udp = struct.pack('!HHHH', 4000, 10, 8 + len(payload), 0) + payload
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, bytes([10, 204, 0, 1]), bytes([10, 204, 0, 99]))
s = sum(struct.unpack('!10H', ip)); s = (s & 0xffff) + (s >> 16); s = (s & 0xffff) + (s >> 16)
ip = ip[:10] + struct.pack('!H', ~s & 0xffff) + ip[12:]
print((dst + src + b'\x08\x00' + ip + udp).hex())
PY
)
gen=${GEN:-auto}
if [ "$gen" = auto ]; then
  "$netbpf" compile programs/xdp_udp_gen.bpf.c -o "$dir/probe.o" >/dev/null || exit 1
  gen=tc; "$netbpf" prog run "$dir/probe.o" --data "$frame" --live $vb --netns $b >/dev/null 2>&1 && gen=xdp
fi
"$netbpf" compile programs/${gen}_udp_gen.bpf.c -o "$dir/gen1.o" >/dev/null || exit 1
"$netbpf" compile programs/${gen}_udp_gen.bpf.c -D GEN_MATCH_EVERY=1 -o "$dir/gen100.o" >/dev/null || exit 1
echo "generator: programs/${gen}_udp_gen.bpf.c ($([ $gen = xdp ] && echo "XDP live frames" || echo "tc test run, bpf_clone_redirect, 32 frames per run")), $secs s per measurement"

cpu() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }   # utime + stime, in ticks
hz=$(getconf CLK_TCK)

# gen OBJ RATE: prints "frames seconds rate cpu_seconds"
gen() {
  local rate=()
  [ "$2" != max ] && rate=(--rate "$2")
  "$netbpf" prog run "$1" --data "$frame" --live $vb --netns $b "${rate[@]}" --seconds "$secs" --json |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["report"]; print(r["frames"], r["seconds"], r["rate"], r["cpuSeconds"])'
}

# measure CAPTURER OBJ RATE MATCH: one row
measure() {
  local who=$1 obj=$2 rate=$3 match=$4 ready
  rm -f "$dir/cap.pcap" "$dir/cap.err"
  case $who in
    netbpf) "$netbpf" capture "$b/$vb" --hook ingress -w "$dir/cap.pcap" udp dst port 9 2>"$dir/cap.err" & pid=$!; ready="Hit Ctrl-C" ;;
    tcpdump) ip netns exec $b tcpdump -i $vb -Q in -n -w "$dir/cap.pcap" udp dst port 9 2>"$dir/cap.err" & pid=$!; ready="listening on" ;;
    none) pid= ;;
  esac
  if [ -n "$pid" ]; then
    for _ in $(seq 300); do grep -q "$ready" "$dir/cap.err" 2>/dev/null && break; kill -0 $pid 2>/dev/null || break; sleep 0.02; done
    grep -q "$ready" "$dir/cap.err" || { echo "$who did not start: $(cat "$dir/cap.err")" >&2; return 1; }
  fi
  local c0=0 c1=0; [ -n "$pid" ] && c0=$(cpu $pid)
  read -r frames gsecs grate gcpu < <(gen "$obj" "$rate")
  # tcpdump reads its TPACKET_V3 ring a block at a time, and a block that does not fill is
  # handed over only when its timeout (tcpdump's 1000 ms) runs out: wait for that.
  if [ $who = tcpdump ]; then sleep 1.1; else sleep 0.3; fi
  [ -n "$pid" ] && { c1=$(cpu $pid); kill -INT $pid; wait $pid; }
  pid=
  local captured=- lost=-
  case $who in
    netbpf) read -r captured lost < <(grep -o '[0-9]* packets captured, [0-9]* lost' "$dir/cap.err" | tail -1 | awk '{print $1, $4}') ;;
    tcpdump) captured=$(awk '/packets captured/{print $1}' "$dir/cap.err"); lost=$(awk '/dropped by kernel/{print $1}' "$dir/cap.err") ;;
  esac
  python3 - "$who" "$rate" "$match" "${frames:-0}" "${grate:-0}" "${gcpu:-0}" "$captured" "$lost" "$(( c1 - c0 ))" "$hz" "$dir/summary" <<'PY'
import sys
who, rate, match, frames, grate, gcpu, captured, lost, ticks, hz = sys.argv[1:11]
frames, grate, gcpu, ticks, hz = int(frames), float(grate), float(gcpu), int(ticks), int(hz)
expected = frames // 100 + (1 if frames % 100 else 0) if match == '1' else frames
asked = 'max' if rate == 'max' else f'{int(rate):,}'
if who == 'none':
    cap = lostc = percap = '-'
else:
    c = int(captured or 0)
    cap = f'{c:,} / {expected:,}'
    lostc = f'{int(lost or 0):,}'
    percap = f'{ticks / hz * 1e6 / c:.2f}' if c else '-'
print(f'| {asked} | {match}% | {who} | {grate/1e3:,.0f}k | {cap} | {lostc} | {percap} | {gcpu * 1e9 / max(frames, 1):.0f} |')
if who != 'none':  # for the summary: lost anything (dropped, or fewer captured than sent)?
    with open(sys.argv[11], 'a') as f: print(who, match, grate, int(int(lost or 0) > 0 or int(captured or 0) < expected), file=f)
PY
}

echo
echo "| asked rate (frames/s) | filter matches | capturer | rate reached | captured / expected | lost | capturer CPU µs per captured packet | generator CPU ns per frame |"
echo "|---|---|---|---:|---:|---:|---:|---:|"
for i in $(seq "$runs"); do
  for m in "${matches[@]}"; do
    obj="$dir/gen1.o"; [ "$m" = 100 ] && obj="$dir/gen100.o"
    for r in "${rates[@]}"; do
      [ "$r" = max ] && measure none "$obj" "$r" "$m"
      measure netbpf "$obj" "$r" "$m"
      measure tcpdump "$obj" "$r" "$m"
    done
  done
done

# Rate before loss: per capturer and match share, the lowest rate reached at which something was
# lost, and the highest rate reached below that with nothing lost.
python3 - "$dir/summary" <<'PY'
import collections, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    who, match, rate, lost = line.split()
    rows[match, who].append((float(rate), lost == '1'))
print()
for match in sorted({m for m, _ in rows}, key=int):
    best = {}
    for who in ('netbpf', 'tcpdump'):
        r = rows.get((match, who), [])
        first = min([x for x, l in r if l], default=None)
        ok = [x for x, l in r if not l and (first is None or x < first)]
        best[who] = (max(ok, default=0), first)
    say = lambda w: f"{best[w][0]/1e3:,.0f}k" + (f" (first loss at {best[w][1]/1e3:,.0f}k)" if best[w][1] else " (no loss seen)")
    n, t = best['netbpf'], best['tcpdump']
    if t[1] is None:
        ratio = "not measurable (tcpdump lost nothing)"
    elif t[0] == 0:
        ratio = "not measurable (tcpdump lost at every rate)"
    else:
        ratio = (">= " if n[1] is None else "") + f"{n[0] / t[0]:.2f}x"
    print(f"filter matches {match}%: rate before loss netbpf {say('netbpf')}, tcpdump {say('tcpdump')}; netbpf/tcpdump {ratio}")
PY
