#!/usr/bin/env bash
# The toolkit's hello world, start to first event, against BCC 0.26 and a libbpf C skeleton
# program, all doing the same thing (execve tracepoint -> ring buffer -> one line per exec);
# then lines of code of each example against BCC's original. Usage: bash benchmarks/hello.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bash benchmarks/setup-peers.sh
swift build -c release --static-swift-stdlib --product netbpf-cc >/dev/null
swift build -c release --static-swift-stdlib --package-path examples --product hello-world >/dev/null
mkdir -p .build-peers/hello
out=.build-peers/hello
[ -f $out/vmlinux.h ] || bpftool btf dump file /sys/kernel/btf/vmlinux format c > $out/vmlinux.h
clang-14 -O2 -g -target bpf -D__TARGET_ARCH_x86 -I$out -c benchmarks/peers/libbpf_hello.bpf.c -o $out/libbpf_hello.bpf.o
bpftool gen skeleton $out/libbpf_hello.bpf.o name libbpf_hello_bpf > $out/libbpf_hello.skel.h
gcc -O2 -I$out -o $out/libbpf_hello benchmarks/peers/libbpf_hello.c -lbpf
cp benchmarks/peers/bcc_hello.py $out/
echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD)"
echo
python3 benchmarks/peers/first_event.py "${RUNS:-11}" \
  "netbpf Swift (examples/hello-world)=examples/.build/release/hello-world" \
  "BCC 0.26 (python3)=/usr/bin/python3 $out/bcc_hello.py" \
  "libbpf C skeleton=$out/libbpf_hello"
echo
echo "| example | netbpf Swift lines | BCC original | BCC lines |"
echo "|---|---|---|---|"
bcc=/usr/share/doc/bpfcc-tools/examples
count() { [ -f "$1" ] && grep -cv '^\s*$' "$1" || echo "-"; }
for pair in "hello-world:hello_world.py" "sleepsnoop:tracing/hello_perf_output.py" "bitehist:tracing/bitehist.py" \
            "tc-counter:networking/simple_tc.py" "socket-capture:networking/http_filter/http-parse-simple.py" "block-list:networking/xdp/xdp_drop_count.py"; do
  ex=${pair%%:*}; orig=${pair#*:}
  f=$(ls $bcc/$orig $bcc/$orig.gz 2>/dev/null | head -1 || true)
  lines="-"
  if [ -n "$f" ]; then lines=$( (zcat -f "$f") | grep -cv '^\s*$'); fi
  echo "| $ex | $(grep -cv '^\s*$' examples/Sources/$ex/main.swift) | $orig | $lines |"
done
