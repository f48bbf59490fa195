#!/usr/bin/env bash
# Builds and runs the libFuzzer targets in fuzz/ for SECONDS each (default 15); see fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
out=.build-fuzz
mkdir -p "$out/crashes"
C=Sources/NetBPFControllers N=Sources/NetBPF
build() { # NAME MODULE FILES...
  local name=$1 module=$2; shift 2
  swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name "$module" "$@" -o "$out/fuzz-$name" 2>&1 | grep -v "ld.gold: warning" || true
  [ -x "$out/fuzz-$name" ] || { echo "fuzz: building $name failed" >&2; exit 1; }
}
build http NetBPFControllers fuzz/http_reassembler.swift $C/HTTPFrameDecoder.swift $C/HTTPReassembler.swift \
  $C/HTTPMessageParser.swift $C/HTTPTypes.swift $C/HTTPEventFormat.swift $C/HTTPSelection.swift $C/HTTPFilterError.swift
build packet NetBPF fuzz/packet_summary.swift $N/PacketSummary.swift
build elf NetBPF fuzz/elf.swift $N/ELFHeader.swift $N/ELFSections.swift $N/BPFError.swift
for t in http packet elf; do
  corpus=$(mktemp -d)          # new inputs go to a scratch copy; the committed corpus stays small
  cp fuzz/corpus/$t/* "$corpus/"
  echo "fuzz: $t for ${seconds}s"
  if ! "$out/fuzz-$t" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=0 \
      -artifact_prefix="$out/crashes/$t-" "$corpus" > "$out/$t.log" 2>&1; then
    tail -30 "$out/$t.log" >&2
    echo "fuzz: $t found a crash; input saved under $out/crashes/" >&2
    rm -rf "$corpus"; exit 1
  fi
  grep -E "^Done [0-9]+ runs" "$out/$t.log" | sed "s/^/fuzz: $t: /" || true
  rm -rf "$corpus"
done
