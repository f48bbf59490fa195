#!/usr/bin/env bash
# Side-by-side benchmarks: builds netbpf (release), the C peers, and prints markdown tables
# for docs/benchmarks.md. Usage: bash benchmarks/run.sh [map-dump|ringbuf|prog-list|compile|ratelimit|attach|http|tunnel ...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bash benchmarks/setup-peers.sh
swift build -c release --static-swift-stdlib --product netbpf >/dev/null
swift build -c release --static-swift-stdlib --product netbpf-bench >/dev/null
swift build -c release --static-swift-stdlib --product netbpf-cc >/dev/null
scripts/build-programs.sh .build/release/netbpf
mkdir -p .build-peers
for peer in libbpf_batch_dump libbpf_ringbuf_consumer; do
  gcc -O2 -o ".build-peers/$peer" "benchmarks/peers/$peer.c" -lbpf
done
cp benchmarks/peers/bcc_table_items.py benchmarks/peers/bcc_pyroute2_tc.py benchmarks/peers/bcc_http_filter.py benchmarks/peers/bcc_tunnel_monitor.py .build-peers/
which=("$@"); [ ${#which[@]} -gt 0 ] || which=(map-dump ringbuf prog-list compile ratelimit attach http tunnel)
echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d)"
for b in "${which[@]}"; do
  echo; echo "### $b"; echo
  .build/release/netbpf-bench "$b" --programs .build-programs --peers .build-peers --netbpf .build/release/netbpf --runs "${RUNS:-5}"
done
