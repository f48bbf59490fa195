#!/usr/bin/env bash
# A smoke pass of the scripts the docs tell a newcomer to run, on this machine as it is (in CI: a
# fresh one), each bounded in time, so a script that only works on a developer's machine cannot
# come back (benchmarks/setup-peers.sh once ended with status 2 on a machine without 6.1 headers).
#   bash scripts/smoke.sh                 # all of them; run by scripts/test.sh
#   bash scripts/smoke.sh install tunnel  # some
# Each runs once (RUNS=1) and must exit 0 within its limit; a table of seconds ends the output.
# scripts/fuzz.sh is not here: scripts/test.sh runs it itself first. scripts/demo.sh neither:
# the test suite runs `netbpf demo` (DemoTests).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

all=(install benchmarks capture sim tunnel)
which=("$@"); [ ${#which[@]} -gt 0 ] || which=("${all[@]}")
results=()
run() {  # run NAME SECONDS WHAT COMMAND...: WHAT is the documented command, for the table
  local name=$1 limit=$2 what=$3; shift 3
  local t0=$SECONDS rc=0
  echo "smoke: $name: $what"
  RUNS=1 timeout --kill-after=20 "$limit" "$@" > ".build/smoke-$name.log" 2>&1 || rc=$?
  results+=("| $name | \`$what\` | $((SECONDS - t0)) s | $([ $rc = 0 ] && echo ok || echo "FAILED ($rc)") |")
  if [ $rc != 0 ]; then
    tail -20 ".build/smoke-$name.log" >&2
    [ $rc = 124 ] && echo "smoke: $name: did not finish within $limit s" >&2 || echo "smoke: $name: exit status $rc" >&2
    printf '%s\n' "${results[@]}" >&2
    exit 1
  fi
}
mkdir -p .build
for w in "${which[@]}"; do
  case "$w" in
    # The release build of a fresh clone (SwiftNIO and BoringSSL included) took 780 s of this
    # on a 2-core machine: the limit leaves room for a slower one.
    install) run install 1800 "bash scripts/install-test.sh" bash scripts/install-test.sh ;;
    # map-dump: netbpf, libbpf C, bpftool and BCC peers, after setup-peers.sh (the fresh-machine case).
    benchmarks) run benchmarks 900 "RUNS=1 bash benchmarks/run.sh map-dump" bash benchmarks/run.sh map-dump ;;
    # capture: netbpf capture against tcpdump at 5 rates x 2 match shares, 1 s each (~60 s); after
    # `benchmarks`, which made the release build it uses.
    capture) run capture 180 "RUNS=1 bash benchmarks/capture.sh" bash benchmarks/capture.sh ;;
    sim) run sim 180 "RUNS=1 bash benchmarks/sim.sh" bash benchmarks/sim.sh ;;
    tunnel) run tunnel 60 "bash scripts/tunnel-lab.sh up 2 1; ping; down" bash -c 'bash scripts/tunnel-lab.sh up 2 1 && ip netns exec tl-h0 ping -q -c 1 -W 2 192.168.0.2; rc=$?; bash scripts/tunnel-lab.sh down; exit $rc' ;;
    *) echo "smoke: unknown '$w' (one of: ${all[*]})" >&2; exit 2 ;;
  esac
done
printf '| script | command | time | result |\n|---|---|---|---|\n'
printf '%s\n' "${results[@]}"
