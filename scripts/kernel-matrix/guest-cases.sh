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
# wait_for FILE PATTERN [SECONDS] [PID]: until FILE contains PATTERN, or (for $work/NAME.out or
# .err) the other file of the pair shows an error, or process PID has ended.
wait_for() {
  local i base=${1%.*}
  for ((i = 0; i < ${3:-150} * 5; i++)); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    grep -q "^netbpf: \|^Error: " "$base.err" 2>/dev/null && return 1
    [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && return 1
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
# hooks IFACE [NETNS]: what `netbpf list` sees on IFACE, "HOOK:PROGRAM" sorted ("tc/ingress:x" is
# a cls_bpf filter on clsact, "tcx/ingress:x" a tcx link).
hooks() { $netbpf list "$1" ${2:+--netns "$2"} --json 2>/dev/null | jq -r '[.[] | .hook + ":" + .programName] | sort | join(" ")'; }
# tcx_count HOOKS: how many of them are tcx links (6.1 has none: the controllers must use clsact).
tcx_count() { local n=0 h; for h in $1; do [[ $h == tcx/* ]] && n=$((n + 1)); done; echo $n; }
# no_ipv6 NETNS...: IPv6 off, so router solicitations and MLD reports do not add frames to counts.
no_ipv6() { local n; for n in "$@"; do ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1; done; }
# last_json FILE: the last line of FILE that is a JSON object.
last_json() { grep '^{' "$1" | tail -1; }

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

# execsnoop and opensnoop on kprobes (--kprobe: BCC's way, a kprobe and a kretprobe on each
# syscall function through libbpf's ksyscall sections) instead of the syscall tracepoints.
# EXECS runs of `/bin/true MARKER` must give EXECS lines; OPENS opens of an existing file and
# FAILS of a missing one by this shell (opensnoop -p) must give OPENS lines with an fd and FAILS
# with ERR 2. While they run, the kernel's kprobe list must show the probes on the syscall
# functions (__x64_sys_execve: kprobe + kretprobe; open, openat, openat2: three pairs).
EXECS=6 OPENS=5 FAILS=2
group_syscall_kprobes() {
  local marker=mxexec$RANDOM i p q list=/sys/kernel/debug/kprobes/list
  bg es $netbpf trace execsnoop --kprobe; p=$!
  wait_for "$work/es.out" "PCOMM" 200 $p
  local probes=$(grep -c "__x64_sys_execve" $list)
  for ((i = 0; i < EXECS; i++)); do /bin/true $marker; done
  sleep 1
  stop $p
  local n=$(grep -c "/bin/true $marker\$" "$work/es.out") st=fail
  [ "$n" = $EXECS ] && [ "$probes" = 2 ] && st=pass
  record execsnoop-kprobe "$st" "$(both es)" execs=$EXECS lines="$n" kprobes_listed="$probes" after_stop=$(grep -c "__x64_sys_execve" $list)
  local file=/tmp/mxopen$RANDOM
  echo x > $file
  bg os $netbpf trace opensnoop --kprobe -p $BASHPID; q=$!
  wait_for "$work/os.out" "PATH" 200 $q
  probes=$(grep -c "__x64_sys_open" $list)
  for ((i = 0; i < OPENS; i++)); do : < $file; done
  for ((i = 0; i < FAILS; i++)); do : < $file.missing; done 2>/dev/null
  sleep 1
  stop $q
  # Columns: PID COMM FD ERR PATH.
  local ok=$(awk -v f=$file '$NF == f && $3 >= 0 && $4 == 0' "$work/os.out" | wc -l)
  local failed=$(awk -v f=$file.missing '$NF == f && $3 == -1 && $4 == 2' "$work/os.out" | wc -l)
  st=fail; [ "$ok" = $OPENS ] && [ "$failed" = $FAILS ] && [ "$probes" = 6 ] && st=pass
  record opensnoop-kprobe "$st" "$(both os)" opens=$OPENS fails=$FAILS ok_lines="$ok" failed_lines="$failed" kprobes_listed="$probes" \
    after_stop=$(grep -c "__x64_sys_open" $list)
  rm -f $file
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

# The rate limiter on the clsact fallback, attached without flags, dropping over its rate: 1 kbit/s
# (125 B/s) with a burst of 2085 bytes, and ten 1042-byte frames (UDP datagrams of 1000 bytes:
# + 8 UDP + 20 IP + 14 Ethernet, what skb->len is on egress) written in about a second, one
# write each (bash's /dev/udp: no retry; ping would resend what the drop refused with ENOBUFS).
# The bucket starts full: frames 1-3 pass (2085 -> 1043 -> 1 -> -1041; a frame passes while
# tokens > 0), the debt of 1041 bytes takes 8 s to refill at 125 B/s, so frames 4-10 drop:
# exactly 3 passed, 7 dropped. One ping before the limit resolves ARP (ARP is never limited).
RL_FRAMES=10 RL_PASS=3
group_ratelimit() {
  net_up
  $netbpf ratelimit attach mxa0 > "$work/rl.out" 2> "$work/rl.err"
  # "rate limiter attached to mxa0 egress (clsact prio 1 handle 1)" (tcx would read "(tcx")
  local kind=$(grep -o 'egress (tcx\|egress (clsact' "$work/rl.out" | head -1 | sed 's/egress (//')
  ping -c 1 -W 2 10.77.0.2 > "$work/rlping.out" 2>&1
  $netbpf ratelimit add 10.77.0.2 1kbit --burst 2085 >> "$work/rl.out" 2>> "$work/rl.err"
  local hk=$(hooks mxa0) i payload
  printf -v payload '%1000s' ''
  for ((i = 0; i < RL_FRAMES; i++)); do printf '%s' "$payload" > /dev/udp/10.77.0.2/9; done 2>> "$work/rl.err"
  $netbpf ratelimit list --json --interval 0.1 > "$work/rllist.out" 2>> "$work/rl.err"
  local q='.[] | select(.entry.prefix == "10.77.0.2") | .entry'
  local passed=$(jq "$q.passedPackets" "$work/rllist.out") dropped=$(jq "$q.droppedPackets" "$work/rllist.out")
  local bytes=$(jq "$q.passedBytes" "$work/rllist.out") burst=$(jq "$q.burstBytes" "$work/rllist.out")
  local clsact=$(tc qdisc show dev mxa0 | grep -c clsact)
  $netbpf ratelimit detach --interface mxa0 >> "$work/rl.out" 2>> "$work/rl.err"
  local left=$(tc qdisc show dev mxa0 | grep -c clsact)
  cat "$work/rllist.out" >> "$work/rl.out"
  local st=fail
  [ "$clsact" = 1 ] && [ "$kind" = clsact ] && [ "${passed:-0}" = $RL_PASS ] && [ "${dropped:-0}" = $((RL_FRAMES - RL_PASS)) ] && [ "$left" = 0 ] && st=pass
  record ratelimit-clsact "$st" "$(both rl)" clsact=$clsact kind="${kind:-?}" hooks="$hk" tcx_hooks=$(tcx_count "$hk") \
    frames=$RL_FRAMES passed_packets="${passed:-0}" dropped_packets="${dropped:-0}" passed_bytes="${bytes:-0}" burst_bytes="${burst:-0}" clsact_after_detach=$left
  net_down
}

# The HTTP filter's blocker (tc ingress on the server's veth, clsact here) and its socket filter:
# busybox httpd in netns mxb serves /a/b and /secret; curl from the root namespace asks for /a/b
# HTTP_OK times (200 each) and for /secret HTTP_BLOCKED times (blocked: no answer, curl gives
# 000 after 2 s). Every request is printed once, blocked or not (retransmissions of a blocked
# one are duplicates).
HTTP_OK=3 HTTP_BLOCKED=2
group_http_filter() {
  net_up
  local www=/tmp/mxwww i p
  mkdir -p $www/a && echo hello > $www/a/b && echo 'top secret' > $www/secret
  ip netns exec mxb /bin/busybox httpd -f -p 10.77.0.2:8000 -h $www > "$work/httpd.out" 2>&1 & local h=$!
  for ((i = 0; i < 100; i++)); do curl -s -o /dev/null -m 2 http://10.77.0.2:8000/a/b && break; sleep 0.2; done
  bg hf $netbpf http-filter -i mxb0 --netns mxb --block-path /secret --json; p=$!
  # Ready when a request to /warm shows up (404 from httpd, not blocked).
  for ((i = 0; i < 300; i++)); do
    curl -s -o /dev/null -m 2 http://10.77.0.2:8000/warm
    grep -q 'warm"' "$work/hf.out" 2>/dev/null && break
    kill -0 $p 2>/dev/null || break
    sleep 0.3
  done
  local hk=$(hooks mxb0 mxb) clsact=$(tc -n mxb qdisc show dev mxb0 | grep -c clsact)
  local codes=""
  for ((i = 0; i < HTTP_OK; i++)); do codes+=$(curl -s -o /dev/null -m 3 -w '%{http_code}' http://10.77.0.2:8000/a/b)" "; done
  local pids=()
  for ((i = 0; i < HTTP_BLOCKED; i++)); do curl -s -o /dev/null -m 2 -w '%{http_code}' http://10.77.0.2:8000/secret > "$work/blocked$i.code" & pids+=($!); done
  wait "${pids[@]}"
  for ((i = 0; i < HTTP_BLOCKED; i++)); do codes+=$(cat "$work/blocked$i.code")" "; done
  sleep 1
  stop $p
  kill $h 2>/dev/null; wait $h 2>/dev/null
  local ok=$(grep -o 200 <<< "$codes" | wc -l) timeouts=$(grep -o 000 <<< "$codes" | wc -l)
  local o=$work/hf.out
  local seen_ok=$(jq -s '[.[] | select(.type == "request" and .path == "/a/b" and .blocked != true)] | length' "$o")
  local seen_blocked=$(jq -s '[.[] | select(.type == "request" and .path == "/secret" and .blocked == true)] | length' "$o")
  local responses=$(jq -s '[.[] | select(.type == "response" and .path == "/a/b" and .status == 200)] | length' "$o")
  local dropped=$(jq -s '[.[] | select(.type == "summary") | .kernel.block_dropped_path] | first // 0' "$o")
  local left=$(tc -n mxb qdisc show dev mxb0 | grep -c clsact)
  local st=fail
  [ "$ok" = $HTTP_OK ] && [ "$timeouts" = $HTTP_BLOCKED ] && [ "$seen_blocked" = $HTTP_BLOCKED ] && [ "$clsact" = 1 ] && [ "$left" = 0 ] && st=pass
  record http-filter-clsact "$st" "$(both hf)" curl_200=$ok curl_blocked=$timeouts requests_passed="$seen_ok" requests_blocked="$seen_blocked" \
    responses_200="$responses" kernel_dropped_by_path="${dropped:-0}" clsact=$clsact hooks="$hk" tcx_hooks=$(tcx_count "$hk") clsact_after=$left codes="$codes"
  rm -rf $www
  net_down
}

# The tunnel monitor (tc ingress + egress on the underlay, clsact here) on a unicast VXLAN:
# mxt1 u0 172.31.9.1 -- mxt2 u0 172.31.9.2, vx0 VNI 4242 on both (10.42.0.1, .2), IPv6 off.
# TUN_PINGS echo requests of 512 bytes from mxt1: one conversation (VNI 4242, 10.42.0.1 <->
# 10.42.0.2, ipv4) with TUN_PINGS packets each way, 604 bytes each on the underlay (512 + 8 ICMP
# + 20 IP + 14 Ethernet inside, + 8 VXLAN + 8 UDP + 20 IP + 14 Ethernet outside).
TUN_PINGS=4
group_tunnel_monitor() {
  ip netns add mxt1; ip netns add mxt2
  no_ipv6 mxt1 mxt2
  ip -n mxt1 link add u0 type veth peer name u0 netns mxt2
  ip -n mxt1 addr add 172.31.9.1/24 dev u0; ip -n mxt2 addr add 172.31.9.2/24 dev u0
  ip -n mxt1 link add vx0 type vxlan id 4242 remote 172.31.9.2 local 172.31.9.1 dstport 4789 dev u0
  ip -n mxt2 link add vx0 type vxlan id 4242 remote 172.31.9.1 local 172.31.9.2 dstport 4789 dev u0
  ip -n mxt1 addr add 10.42.0.1/24 dev vx0; ip -n mxt2 addr add 10.42.0.2/24 dev vx0
  local n l
  for n in mxt1 mxt2; do for l in lo u0 vx0; do ip -n $n link set $l up; done; done
  local dir=$work/tmjson p
  bg tm $netbpf tunnel-monitor u0 --netns mxt1 --interval 0.5 --json-dir "$dir" --json; p=$!
  wait_for "$dir/snapshot.json" "conversations" 200 $p
  local hk=$(hooks u0 mxt1)
  ip netns exec mxt1 ping -c $TUN_PINGS -s 512 -i 0.2 -W 2 10.42.0.2 > "$work/tmping.out" 2>&1
  local replies=$(grep -c "bytes from" "$work/tmping.out")
  sleep 1.5   # three intervals: the last snapshot has every frame
  cp "$dir/snapshot.json" "$work/tm-snapshot.json"
  stop $p
  local s=$work/tm-snapshot.json q='.conversations[] | select(.vni == 4242 and .inner_proto == "ipv4")'
  local tx=$(jq "[$q | .tx_packets] | add // 0" "$s") rx=$(jq "[$q | .rx_packets] | add // 0" "$s")
  local txb=$(jq "[$q | .tx_bytes] | add // 0" "$s") convs=$(jq "[$q] | length" "$s")
  local arp=$(jq '[.conversations[] | select(.vni == 4242 and .inner_proto == "arp")] | length' "$s")
  local errors=$(jq '[.errors | to_entries[] | .value] | add // 0' "$s")
  local left=$(tc -n mxt1 qdisc show dev u0 | grep -c clsact)
  ip netns del mxt1; ip netns del mxt2
  local st=fail
  [ "$convs" = 1 ] && [ "$tx" = $TUN_PINGS ] && [ "$rx" = $TUN_PINGS ] && [ "$txb" = $((TUN_PINGS * 604)) ] && [ "$left" = 0 ] && st=pass
  record tunnel-monitor-clsact "$st" "$(both tm)" replies=$replies ipv4_conversations="$convs" tx_packets="$tx" rx_packets="$rx" tx_bytes="$txb" \
    arp_conversations="$arp" errors="$errors" hooks="$hk" tcx_hooks=$(tcx_count "$hk") clsact_after=$left
}

# The distributed bridge (BCC's distributed_bridge) on two hosts in mesh mode: mxh1 u0
# 172.31.8.1 -- mxh2 u0 172.31.8.2; tenant port ten0 on each (VNI 10000), its peer eth0 in
# netns mxta (02:00:00:00:0a:01, 99.9.0.1) and mxtb (02:00:00:00:0b:01, 99.9.0.2). BR_PINGS
# echo requests from mxta must all come back, and each bridge must have learned the other
# tenant's MAC behind the other host.
BR_PINGS=5
group_bridge() {
  local n
  for n in mxh1 mxh2 mxta mxtb; do ip netns add $n; done
  no_ipv6 mxh1 mxh2 mxta mxtb
  ip -n mxh1 link add u0 type veth peer name u0 netns mxh2
  ip -n mxh1 addr add 172.31.8.1/24 dev u0; ip -n mxh2 addr add 172.31.8.2/24 dev u0
  ip -n mxh1 link add ten0 type veth peer name eth0 netns mxta
  ip -n mxh2 link add ten0 type veth peer name eth0 netns mxtb
  ip -n mxta link set eth0 address 02:00:00:00:0a:01; ip -n mxtb link set eth0 address 02:00:00:00:0b:01
  ip -n mxta addr add 99.9.0.1/24 dev eth0; ip -n mxtb addr add 99.9.0.2/24 dev eth0
  for n in mxh1 mxh2; do ip -n $n link set lo up; ip -n $n link set u0 up; ip -n $n link set ten0 up; done
  for n in mxta mxtb; do ip -n $n link set lo up; ip -n $n link set eth0 up; done
  local a b
  bg br1 $netbpf bridge --underlay u0 --vni 10000=ten0 --mesh 172.31.8.2 --netns mxh1 --interval 0.5 --json; a=$!
  bg br2 $netbpf bridge --underlay u0 --vni 10000=ten0 --mesh 172.31.8.1 --netns mxh2 --interval 0.5 --json; b=$!
  wait_for "$work/br1.out" '"learned"' 200 $a; wait_for "$work/br2.out" '"learned"' 200 $b
  local hk1=$(hooks ten0 mxh1) hk2=$(hooks ten0 mxh2)
  ip netns exec mxta ping -c $BR_PINGS -i 0.2 -W 2 99.9.0.2 > "$work/brping.out" 2>&1
  local replies=$(grep -c "bytes from" "$work/brping.out")
  sleep 1.2
  stop $a; stop $b
  local r1=$(last_json "$work/br1.out") r2=$(last_json "$work/br2.out")
  local l1=$(jq -r '[.learned[] | select(.vni == 10000) | .mac + "@" + .remote] | sort | join(" ")' <<< "$r1")
  local l2=$(jq -r '[.learned[] | select(.vni == 10000) | .mac + "@" + .remote] | sort | join(" ")' <<< "$r2")
  local vx=$(ip -n mxh1 link show vxlan0 2>/dev/null | grep -c vxlan0) left=$(tc -n mxh1 qdisc show dev ten0 | grep -c clsact)
  for n in mxh1 mxh2 mxta mxtb; do ip netns del $n; done
  local st=fail
  [ "$replies" = $BR_PINGS ] && [ "$l1" = "02:00:00:00:0b:01@172.31.8.2" ] && [ "$l2" = "02:00:00:00:0a:01@172.31.8.1" ] && [ "$left" = 0 ] && st=pass
  record bridge-clsact "$st" "$(both br1)" replies=$replies learned_h1="$l1" learned_h2="$l2" hooks_h1="$hk1" hooks_h2="$hk2" \
    tcx_hooks=$(( $(tcx_count "$hk1") + $(tcx_count "$hk2") )) vxlan_after=$vx clsact_after=$left
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

# VLAN learning with real 802.1Q sub-interfaces (the 8021q module) on two clients against
# netbpf's BPF tag pop/push on the trunk: client mxc1 (c1.10, VLAN 10, 02:00:00:00:0c:01) and
# client mxc2 (c2.20, VLAN 20, 02:00:00:00:0c:02) share the trunk through a Linux bridge in mxv
# (no VLAN filtering: tagged frames pass as they are) -- trunk t0 [netns mxv, vlan-learn] -- w1
# to worker mxw1 (wk1), w2 to worker mxw2 (wk2). Each client's echo requests must cross the
# trunk tagged by 8021q, be popped by BPF to its own worker, and the replies be tagged again by
# BPF for 8021q to accept; vlan-learn must have learned VLAN 10 for one MAC and 20 for the other.
VLAN_PINGS2=3
group_vlan() {
  local n
  for n in mxc1 mxc2 mxv mxw1 mxw2; do ip netns add $n; done
  no_ipv6 mxc1 mxc2 mxv mxw1 mxw2
  ip -n mxv link add br0 type bridge
  ip -n mxc1 link add c1 address 02:00:00:00:0c:01 type veth peer name s1 netns mxv
  ip -n mxc2 link add c2 address 02:00:00:00:0c:02 type veth peer name s2 netns mxv
  ip -n mxv link add tp type veth peer name t0
  for n in s1 s2 tp; do ip -n mxv link set $n master br0; done
  ip -n mxw1 link add wk1 address 02:00:00:00:0d:01 type veth peer name w1 netns mxv
  ip -n mxw2 link add wk2 address 02:00:00:00:0d:02 type veth peer name w2 netns mxv
  ip -n mxc1 link add link c1 name c1.10 type vlan id 10
  ip -n mxc2 link add link c2 name c2.20 type vlan id 20
  ip -n mxc1 addr add 10.88.1.1/24 dev c1.10; ip -n mxw1 addr add 10.88.1.2/24 dev wk1
  ip -n mxc2 addr add 10.88.2.1/24 dev c2.20; ip -n mxw2 addr add 10.88.2.2/24 dev wk2
  for n in c1 c1.10; do ip -n mxc1 link set $n up; done
  for n in c2 c2.20; do ip -n mxc2 link set $n up; done
  for n in br0 s1 s2 tp t0 w1 w2; do ip -n mxv link set $n up; done
  ip -n mxw1 link set wk1 up; ip -n mxw2 link set wk2 up
  bg vl $netbpf vlan-learn --trunk t0 --map 02:00:00:00:0c:01=w1 --map 02:00:00:00:0c:02=w2 --netns mxv --interval 1 --json; local p=$!
  wait_for "$work/vl.out" "." 200 $p
  local clsact=$(tc -n mxv qdisc show dev t0 | grep -c clsact) hk=$(hooks t0 mxv)
  ip netns exec mxc1 ping -c $PINGS -i 0.2 -W 2 10.88.1.2 > "$work/vlping.out" 2>&1
  ip netns exec mxc2 ping -c $VLAN_PINGS2 -i 0.2 -W 2 10.88.2.2 > "$work/vlping2.out" 2>&1
  local replies=$(grep -c "bytes from" "$work/vlping.out") replies2=$(grep -c "bytes from" "$work/vlping2.out")
  local is8021q=$(( $(ip -n mxc1 -d link show c1.10 | grep -c "vlan protocol 802.1Q id 10") + $(ip -n mxc2 -d link show c2.20 | grep -c "vlan protocol 802.1Q id 20") ))
  sleep 1.5
  stop "$p"
  local r=$(last_json "$work/vl.out")
  client() { jq -r --arg m "$1" ".clients[] | select(.mac == \$m) | $2" <<< "$r"; }
  local vid=$(client 02:00:00:00:0c:01 '.learned.vlan // 0') vid2=$(client 02:00:00:00:0c:02 '.learned.vlan // 0')
  local w=$(client 02:00:00:00:0c:01 .worker) w2=$(client 02:00:00:00:0c:02 .worker)
  local rx=$(client 02:00:00:00:0c:01 .rxPackets) tx=$(client 02:00:00:00:0c:01 .txPackets)
  local rx2=$(client 02:00:00:00:0c:02 .rxPackets) tx2=$(client 02:00:00:00:0c:02 .txPackets)
  local learned=$(jq '[.clients[] | select(.learned != null)] | length' <<< "$r")
  for n in mxc1 mxc2 mxv mxw1 mxw2; do ip netns del $n; done
  local st=fail
  [ "$replies" = "$PINGS" ] && [ "$replies2" = "$VLAN_PINGS2" ] && [ "$clsact" = 1 ] && [ "$is8021q" = 2 ] && [ "$vid" = 10 ] && [ "$vid2" = 20 ] && st=pass
  record vlan-8021q "$st" "$(both vl)" replies=$replies replies_c2=$replies2 clsact=$clsact real_8021q=$is8021q learned_clients="$learned" \
    learned_vlan="${vid:-0}" learned_vlan_c2="${vid2:-0}" worker="$w" worker_c2="$w2" rx_packets="${rx:-0}" tx_packets="${tx:-0}" \
    rx_packets_c2="${rx2:-0}" tx_packets_c2="${tx2:-0}" hooks="$hk" tcx_hooks=$(tcx_count "$hk")
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
for g in features probes funccount trace-kprobe syscall-kprobes tc tc-action ratelimit http-filter tunnel-monitor vlan bridge police-vs-bucket; do
  run_group "$g"
done
for f in "$work"/*.err; do echo "== $f"; tail -5 "$f"; done

