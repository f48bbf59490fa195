#!/usr/bin/env bash
# BCC's C, unchanged (issue 18, docs/bcc-c.md): the goals table of docs/benchmarks.md.
# 1. The corpus: every BPF program Debian's bpfcc-tools 0.26 passes to BPF(), captured at run
#    time (scripts/bcc-corpus.py), compiled by netbpf in BCC mode and loaded; counts per group.
# 2. Compile + load time and peak RSS of one BCC program, netbpf against BCC 0.26 compiling the
#    same text (BPF(text=...) then load_func, with Debian's /usr/bin/python3).
# Usage: sudo bash benchmarks/bcc.sh   (RUNS=5; NETBPF_BCC_CORPUS=DIR reuses an extracted corpus)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
set +u
bash benchmarks/setup-peers.sh
corpus=${NETBPF_BCC_CORPUS:-$(mktemp -d /tmp/netbpf-bcc-bench-XXXXXX)}
report=$(mktemp /tmp/netbpf-bcc-report-XXXXXX)
cleanup() { rm -f "$report"; [ -n "$NETBPF_BCC_CORPUS" ] || rm -rf "$corpus"; }
trap cleanup EXIT
[ -f "$corpus/http-parse-complete.c" ] || /usr/bin/python3 scripts/bcc-corpus.py "$corpus" >/dev/null
echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD)"
echo

# 1. Corpus counts (the kernel test suite does the compiling and loading).
swift build --build-tests >/dev/null
NETBPF_BCC_CORPUS="$corpus" NETBPF_BCC_REPORT="$report" \
  swift test --skip-build --no-parallel --filter BCCCompatTests/corpusCompilesUnchanged >/dev/null 2>&1 || true
summary=$(tail -1 "$report")
echo "corpus: $summary"
echo
group() { # NAME -> "C of N compile, L load"
  echo "$summary" | tr '(;)' '\n\n\n' | sed -n "s/^ *$1: //p"
}
echo "| goal | target | measured |"
echo "|---|---|---|"
echo "| networking examples compile unchanged and load | >= 13 of 15 | $(group networking) |"
echo "| tracing examples compile unchanged and load | >= 25 of 29 | $(group tracing) |"
echo "| BCC's tools (C given to BPF() with no options) | as many as possible | $(group tools) |"

# 2. Compile + load: netbpf (release, cache off; its vmlinux.h PCH warm) vs BCC 0.26.
swift build -c release --static-swift-stdlib --product netbpf >/dev/null
swift build -c release --static-swift-stdlib --product netbpf-cc >/dev/null
packet=$(python3 -c "print('02' * 12 + '0800' + '45' + '00' * 19)")
prog="$corpus/http-parse-complete.c"
times=$(python3 benchmarks/peers/bcc_compile_time.py "${RUNS:-5}" \
  "netbpf compile --bcc + load::.build/release/netbpf prog run $prog --func http_filter:SCHED_CLS --no-cache --data $packet" \
  "BCC 0.26 BPF(text=...) + load_func::/usr/bin/python3 benchmarks/peers/bcc_load_text.py $prog http_filter SOCKET_FILTER")
echo
echo "http-parse-complete.c (BCC's http_filter example: cursor dialect, a hash map), captured from bpfcc-tools:"
echo
echo "$times"
