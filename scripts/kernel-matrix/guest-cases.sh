#!/usr/bin/env bash
# The kernel-matrix cases, run inside the 6.1 guest (chroot into the host's root, as root).
# Each case runs the host's netbpf binary, counts what it must count, and writes
# RESULTS/cases/NAME.json: {"name", "status" (pass|fail), "counts" {numbers}, "facts" {strings},
# "output"}. The host's KernelMatrixTests assert each case's exact counts.
# Everything here is bash and the binaries netbpf's tests already use: under TCG a process
# start costs tens of milliseconds for bash and seconds for python3, so no python.
# Usage: guest-cases.sh RESULTS_DIR   (CASE_FILTER: a grep -E pattern of groups to run)
set -uo pipefail
out=$1/cases
netbpf=$REPO/.build/debug/netbpf
objs=$1/objs   # the case programs, compiled on the host by boot.sh (no clang run under TCG)
work=$1/logs   # on the results share, so a run cut short still shows how far it got
mkdir -p "$work"
filter=${CASE_FILTER:-.}
SYNCS=7 PINGS=5

# json_string TEXT: TEXT as a JSON string literal.
json_string() {
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\t'/\\t}; s=${s//$'\r'/}; s=${s//$'\n'/\\n}
  s=$(printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037')
  printf '"%s"' "$s"
}

# record NAME STATUS OUTPUT_FILE KEY=VALUE...: one case's result. Integer values go to
# "counts", anything else to "facts".
record() {
  local name=$1 status=$2 output=$3; shift 3
  local counts="" facts="" kv k v
  for kv in "$@"; do
    k=${kv%%=*} v=${kv#*=}
    if [[ $v =~ ^-?[0-9]+$ ]]; then counts+="${counts:+, }$(json_string "$k"): $v"
    else facts+="${facts:+, }$(json_string "$k"): $(json_string "$v")"; fi
  done
  local text=""
  [ -n "$output" ] && [ -f "$output" ] && text=$(tail -c 3000 "$output")
  printf '{"name": %s, "status": %s, "counts": {%s}, "facts": {%s}, "output": %s}\n' \
    "$(json_string "$name")" "$(json_string "$status")" "$counts" "$facts" "$(json_string "$text")" > "$out/$name.json"
}

# run_group NAME: runs group_NAME when the filter selects it; a group records its cases.
run_group() {
  echo "$1" | grep -Eq "$filter" || return 0
  local t0=$SECONDS
  "group_${1//-/_}" > "$work/$1.log" 2>&1
  echo "group $1: exit $? ($((SECONDS - t0)) s)"
}

# bg NAME CMD...: starts CMD in the background (a child of this shell, so `wait` works; its pid
# is then $!) with stdout/stderr in $work/NAME.out/.err.
bg() { local n=$1; shift; "$@" > "$work/$n.out" 2> "$work/$n.err" & }
# wait_for FILE PATTERN [SECONDS]: until FILE contains PATTERN, or (for $work/NAME.out or .err)
# the other file of the pair shows an error.
wait_for() {
  local i base=${1%.*}
  for ((i = 0; i < ${3:-150} * 5; i++)); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    grep -q "^netbpf: \|^Error: " "$base.err" 2>/dev/null && return 1
    sleep 0.2
  done
  return 1
}
# stop PID: SIGINT (the tools report and detach on it), then wait.
stop() { kill -INT "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
# map_value JSON_FILE KEY: the number at maps.counts.KEY in `netbpf trace run --json` output.
map_value() { grep -o "\"$2\":[0-9]*" "$1" | head -1 | cut -d: -f2; }
# syncs N: N sync(2) calls, one per coreutils sync (libc sync() -> ksys_sync).
syncs() { local i; for ((i = 0; i < $1; i++)); do /usr/bin/sync; done; }
both() { cat "$work/$1.err" "$work/$1.out" > "$work/$1.both" 2>/dev/null; echo "$work/$1.both"; }

group_features() {
  $netbpf features --json > "$work/features.json" 2>&1
  local flat=$(tr -d ' \n' < "$work/features.json")
  avail() { grep -q "\"available\":true,\"detail\":\"[^\"]*\",\"name\":\"$1\"" <<< "$flat" && echo 1 || echo 0; }
  record features pass "$work/features.json" release="$(uname -r)" kprobes="$(avail kprobes)" fentry="$(avail fentry/fexit)" tcx="$(avail 'tcx links')"
}

# The probe programs on ksys_sync / libc sync(), all attached at once, then SYNCS syncs.
group_probes() {
  local k f u m
  bg kprobes $netbpf trace run "$objs/kprobes.o" --json; k=$!
  bg fentry $netbpf trace run "$objs/fentry.o" --json; f=$!
  bg uprobe $netbpf trace run "$objs/uprobe.o" --json; u=$!
  for n in kprobes fentry uprobe; do wait_for "$work/$n.err" "attached:\|error" 200; done
  syncs $SYNCS
  stop "$k"; stop "$f"; stop "$u"
  local o=$work/kprobes.out
  local st=fail; [ "$(map_value "$o" 0)" = "$SYNCS" ] && st=pass
  record kprobe-name "$st" "$(both kprobes)" hits="$(map_value "$o" 0)" syncs=$SYNCS
  st=fail; [ "$(map_value "$o" 1)" = "$SYNCS" ] && st=pass
  record kretprobe-name "$st" "$(both kprobes)" hits="$(map_value "$o" 1)" syncs=$SYNCS
  st=fail; [ "$(map_value "$o" 2)" = "$SYNCS" ] && st=pass
  record kprobe-offset "$st" "$(both kprobes)" hits="$(map_value "$o" 2)" syncs=$SYNCS
  st=fail; [ "$(map_value "$o" 3)" = "$SYNCS" ] && st=pass
  record kprobe-bcc-naming "$st" "$(both kprobes)" hits="$(map_value "$o" 3)" syncs=$SYNCS
  o=$work/fentry.out
  st=fail; [ "$(map_value "$o" 0)" = "$SYNCS" ] && [ "$(map_value "$o" 1)" = "$SYNCS" ] && st=pass
  record fentry-fexit "$st" "$(both fentry)" entries="$(map_value "$o" 0)" exits="$(map_value "$o" 1)" syncs=$SYNCS
  o=$work/uprobe.out
  st=fail; [ "$(map_value "$o" 0)" = "$SYNCS" ] && [ "$(map_value "$o" 1)" = "$SYNCS" ] && st=pass
  record uprobe "$st" "$(both uprobe)" entries="$(map_value "$o" 0)" returns="$(map_value "$o" 1)" syncs=$SYNCS
  # kprobe.multi: no CONFIG_FPROBE on Debian's 6.1, so the attach must fail and say why.
  timeout 200 $netbpf trace run "$objs/kprobe_multi.o" -d 1 --json > "$work/multi.out" 2> "$work/multi.err"
  local rc=$?
  st=fail; [ $rc -ne 0 ] && grep -q "CONFIG_FPROBE" "$work/multi.err" && st=pass
  record kprobe-multi-missing "$st" "$(both multi)" exit=$rc names_fprobe=$(grep -c "CONFIG_FPROBE" "$work/multi.err")
}

# funccount on kernel functions: one function (a kprobe), and a glob (kprobe.multi where the
# kernel has it; here one kprobe per function, since 6.1 has no FPROBE).
group_funccount() {
  local a b
  # One after the other: the second finds funccount's object in the compile cache.
  bg fc1 $netbpf trace funccount 'k:ksys_sync'; a=$!
  wait_for "$work/fc1.out" "Tracing\|error" 200
  bg fc2 $netbpf trace funccount 'k:*sys_sync'; b=$!
  wait_for "$work/fc2.out" "Tracing\|error" 200
  syncs $SYNCS
  stop "$a"; stop "$b"
  count_of() { awk -v f="$2" '$1 == f { print $2 }' "$1"; }
  local n=$(count_of "$work/fc1.out" ksys_sync) st=fail
  [ "$n" = "$SYNCS" ] && st=pass
  record funccount-kprobe "$st" "$(both fc1)" ksys_sync="${n:-0}" syncs=$SYNCS
  local k=$(count_of "$work/fc2.out" ksys_sync) x=$(count_of "$work/fc2.out" __x64_sys_sync)
  local probes=$(sed -n 's/^Tracing \([0-9]*\) functions.*/\1/p' "$work/fc2.out")
  st=fail; [ "$k" = "$SYNCS" ] && [ "$x" = "$SYNCS" ] && st=pass
  record funccount-kprobe-glob "$st" "$(both fc2)" ksys_sync="${k:-0}" x64_sys_sync="${x:-0}" probes="${probes:-0}" syncs=$SYNCS
}

# `netbpf trace trace p:FUNC` (BCC's trace syntax): a kprobe, one event per call. A tracefs
# kprobe event named as a tracepoint is refused with the p:FUNC hint (its perf event takes only
# kprobe programs; attaching the tracepoint program gave EINVAL).
group_trace_kprobe() {
  local t=/sys/kernel/tracing p i base n
  bg tk $netbpf trace trace p:ksys_sync --json; p=$!
  # --json prints no header: sync until the first event shows the probe is live, then count.
  for ((i = 0; i < 240; i++)); do
    grep -q '"comm":"sync"' "$work/tk.out" 2>/dev/null && break
    kill -0 "$p" 2>/dev/null || break
    /usr/bin/sync; sleep 0.5
  done
  sleep 1
  base=$(grep -c '"comm":"sync"' "$work/tk.out")
  syncs $SYNCS
  sleep 2
  stop "$p"
  n=$(( $(grep -c '"comm":"sync"' "$work/tk.out") - base ))
  record trace-kprobe "$([ "$n" = "$SYNCS" ] && echo pass || echo fail)" "$(both tk)" events="$n" syncs=$SYNCS
  echo 'p:netbpfmx/ksys_sync ksys_sync' >> $t/kprobe_events
  $netbpf trace trace netbpfmx:ksys_sync -d 1 > "$work/tke.out" 2> "$work/tke.err"
  local rc=$?
  echo '-:netbpfmx/ksys_sync' >> $t/kprobe_events
  local hinted=$(grep -c "p:FUNCTION" "$work/tke.err")
  record trace-kprobe-event-refused "$([ $rc -ne 0 ] && [ "$hinted" = 1 ] && echo pass || echo fail)" "$(both tke)" exit=$rc hint=$hinted
}

# Two veths: mxa0 (root ns, 10.77.0.1) -- mxb0 (netns mxb, 10.77.0.2).
net_up() {
  ip netns add mxb
  ip link add mxa0 type veth peer name mxb0
  ip link set mxb0 netns mxb
  ip addr add 10.77.0.1/24 dev mxa0; ip link set mxa0 up
  ip -n mxb addr add 10.77.0.2/24 dev mxb0; ip -n mxb link set mxb0 up; ip -n mxb link set lo up
}
net_down() { ip link del mxa0 2>/dev/null; ip netns del mxb 2>/dev/null; }

# `netbpf attach tc` without --clsact: tcx is missing on 6.1, so netbpf must choose clsact.
group_tc() {
  net_up
  $netbpf attach tc mxb0 "$objs/count_icmp.o" --netns mxb --json > "$work/tc.out" 2> "$work/tc.err"
  local kind=$(sed -n 's/.*"kind" : "\([a-z]*\)".*/\1/p' "$work/tc.out")
  local pin=$(sed -n 's/.*"pinDirectory" : "\([^"]*\)".*/\1/p' "$work/tc.out")
  ping -c $PINGS -i 0.2 -W 2 10.77.0.2 > "$work/ping.out" 2>&1
  local replies=$(grep -c "bytes from" "$work/ping.out")
  $netbpf map dump "$pin/maps/counts" --json > "$work/tcmap.out" 2>&1
  local n=$(tr -d ' \n' < "$work/tcmap.out" | grep -o '{"key":0,"value":[0-9]*}' | sed 's/.*"value":\([0-9]*\)}/\1/')
  local qdisc=$(tc -n mxb qdisc show dev mxb0 | grep -c clsact)
  $netbpf detach tc mxb0 --netns mxb --name count_icmp >> "$work/tc.out" 2>&1
  local left=$(tc -n mxb qdisc show dev mxb0 | grep -c clsact)
  cat "$work/tcmap.out" >> "$work/tc.out"
  local st=fail; [ "$kind" = clsact ] && [ "$n" = "$PINGS" ] && [ "$left" = 0 ] && st=pass
  record tc-auto-clsact "$st" "$(both tc)" kind="$kind" echo_requests=$n replies=$replies clsact_while_attached=$qdisc clsact_after_detach=$left
  net_down
}

# The rate limiter on the clsact fallback: attached without flags, a limit, pings counted.
group_ratelimit() {
  net_up
  $netbpf ratelimit attach mxa0 --json > "$work/rl.out" 2> "$work/rl.err"
  # "rate limiter attached to mxa0 egress (clsact prio 1 handle 1)" (attach prints text, also with --json)
  local kind=$(grep -o 'egress (tcx\|egress (clsact' "$work/rl.out" | head -1 | sed 's/egress (//')
  $netbpf ratelimit add 10.77.0.2 10mbit >> "$work/rl.out" 2>> "$work/rl.err"
  ping -c $PINGS -i 0.2 -W 2 10.77.0.2 > "$work/rlping.out" 2>&1
  $netbpf ratelimit list --json > "$work/rllist.out" 2>> "$work/rl.err"
  local flat=$(tr -d ' \n' < "$work/rllist.out")
  local passed=$(grep -o '"passedPackets":[0-9]*' <<< "$flat" | head -1 | cut -d: -f2)
  local clsact=$(tc qdisc show dev mxa0 | grep -c clsact)
  $netbpf ratelimit detach --interface mxa0 >> "$work/rl.out" 2>> "$work/rl.err"
  cat "$work/rllist.out" >> "$work/rl.out"
  local st=fail; [ "$clsact" = 1 ] && [ "$kind" = clsact ] && [ "${passed:-0}" = "$PINGS" ] && st=pass
  record ratelimit-clsact "$st" "$(both rl)" clsact=$clsact passed_packets="${passed:-0}" kind="${kind:-?}"
  net_down
}

# act_bpf: `netbpf attach tc-action` runs act_count as an action on a match-all cls_bpf filter
# (classic mode). The machine's own kernel has no act_bpf; 6.1 has it as a module.
group_tc_action() {
  net_up
  bg ta $netbpf attach tc-action mxb0 "$objs/act_count.o" --netns mxb --json; local p=$!
  wait_for "$work/ta.err" "act_bpf\|error" 200
  local actions=$(tc -n mxb filter show dev mxb0 ingress | grep -c "action order 1: bpf")
  ping -c $PINGS -i 0.2 -W 2 10.77.0.2 > "$work/taping.out" 2>&1
  stop "$p"
  local flat=$(tr -d ' \n' < "$work/ta.out")
  local n=$(grep -o '"counts":{[^}]*}' <<< "$flat" | grep -o '"0":[0-9]*' | cut -d: -f2)
  local left=$(tc -n mxb qdisc show dev mxb0 | grep -c clsact)
  local st=fail; [ "$n" = "$PINGS" ] && [ "$actions" = 1 ] && [ "$left" = 0 ] && st=pass
  record tc-action-bpf "$st" "$(both ta)" echo_requests="${n:-0}" bpf_actions=$actions clsact_after=$left
  net_down
}

# VLAN learning with a real 802.1Q sub-interface on the client (the 8021q module) against
# netbpf's BPF tag pop/push on the trunk: client mxc (c0.10, VLAN 10) -- trunk t0 [netns mxv,
# vlan-learn] w0 -- worker mxw (wk0). Every echo request must cross the trunk tagged by 8021q,
# be popped by BPF to the worker, and the reply be tagged again by BPF for 8021q to accept.
group_vlan() {
  ip netns add mxc; ip netns add mxv; ip netns add mxw
  ip -n mxc link add c0 address 02:00:00:00:0c:01 type veth peer name t0 netns mxv
  ip -n mxw link add wk0 address 02:00:00:00:0d:01 type veth peer name w0 netns mxv
  ip -n mxc link add link c0 name c0.10 type vlan id 10
  ip -n mxc addr add 10.88.0.1/24 dev c0.10; ip -n mxw addr add 10.88.0.2/24 dev wk0
  for l in c0 c0.10; do ip -n mxc link set $l up; done
  ip -n mxw link set wk0 up; ip -n mxv link set t0 up; ip -n mxv link set w0 up
  bg vl $netbpf vlan-learn --trunk t0 --map 02:00:00:00:0c:01=w0 --netns mxv --interval 1 --json; local p=$!
  wait_for "$work/vl.out" "." 200
  local clsact=$(tc -n mxv qdisc show dev t0 | grep -c clsact)
  ip netns exec mxc ping -c $PINGS -i 0.2 -W 2 10.88.0.2 > "$work/vlping.out" 2>&1
  local replies=$(grep -c "bytes from" "$work/vlping.out")
  local is8021q=$(ip -n mxc -d link show c0.10 | grep -c "vlan protocol 802.1Q id 10")
  sleep 1.5
  stop "$p"
  local vid=$(tail -1 "$work/vl.out" | grep -o '"vlan":[0-9]*' | head -1 | cut -d: -f2)
  local rx=$(tail -1 "$work/vl.out" | grep -o '"rxPackets":[0-9]*' | head -1 | cut -d: -f2)
  local tx=$(tail -1 "$work/vl.out" | grep -o '"txPackets":[0-9]*' | head -1 | cut -d: -f2)
  ip netns del mxc; ip netns del mxv; ip netns del mxw
  local st=fail; [ "$replies" = "$PINGS" ] && [ "$clsact" = 1 ] && [ "$is8021q" = 1 ] && st=pass
  record vlan-8021q "$st" "$(both vl)" replies=$replies clsact=$clsact real_8021q=$is8021q learned_vlan="${vid:-0}" rx_packets="${rx:-0}" tx_packets="${tx:-0}"
}

# BCC's neighbor_sharing limits with tc's police action; netbpf limits with a BPF token bucket.
# Same veth, same 10 Mbit/s limit, same iperf3 TCP flow (3 s): the rate each lets through.
# Under TCG the absolute numbers are the emulator's; the ratio to the limit is the point.
mbit() { ip netns exec mxb iperf3 -s -1 > /dev/null 2>&1 & local s=$!; sleep 1
  iperf3 -c 10.77.0.2 -t 3 -J > "$work/$1.json" 2>&1; wait $s 2>/dev/null
  grep -A8 '"sum_received"' "$work/$1.json" | grep -o '"bits_per_second":[[:space:]]*[0-9.e+]*' | head -1 | awk -F: '{ printf "%d", $2 / 1000 }'; }
group_police_vs_bucket() {
  net_up
  local free=$(mbit free)
  tc qdisc add dev mxa0 clsact
  tc filter add dev mxa0 egress matchall action police rate 10mbit burst 64k conform-exceed drop
  local police=$(mbit police)
  tc qdisc del dev mxa0 clsact
  $netbpf ratelimit attach mxa0 > "$work/pvb.out" 2>&1
  $netbpf ratelimit add 10.77.0.2 10mbit >> "$work/pvb.out" 2>&1
  local bucket=$(mbit bucket)
  $netbpf ratelimit detach --interface mxa0 >> "$work/pvb.out" 2>&1
  echo "unlimited ${free} kbit/s, police ${police} kbit/s, bpf token bucket ${bucket} kbit/s (limit 10000)" >> "$work/pvb.out"
  local st=fail; [ "${police:-0}" -gt 0 ] && [ "${bucket:-0}" -gt 0 ] && st=pass
  record police-vs-bucket "$st" "$work/pvb.out" unlimited_kbit="${free:-0}" police_kbit="${police:-0}" bucket_kbit="${bucket:-0}" limit_kbit=10000
  net_down
}

echo "guest: $(uname -r), $(nproc) CPUs"
for g in features probes funccount trace-kprobe tc tc-action ratelimit vlan police-vs-bucket; do run_group "$g"; done
for f in "$work"/*.err; do echo "== $f"; tail -5 "$f"; done

