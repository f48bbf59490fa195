#!/usr/bin/env bash
# Builds and runs the libFuzzer targets in fuzz/ for SECONDS each (default 15); see fuzz/README.md.
# `bash scripts/fuzz.sh 60 netlink topology` runs only the targets named.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(http packet elf object topology netlink bcc)
out=.build-fuzz
mkdir -p "$out/crashes" "$out/obj" "$out/modules"
C=Sources/NetBPFControllers N=Sources/NetBPF L=Sources/NetBPFNetlink S=Sources/NetBPFSim
# libFuzzer and AddressSanitizer come with the Swift toolchain; C code is compiled by the
# toolchain's clang with the same sanitizer so its memory errors are reported too.
CFLAGS=(-O1 -g -fsanitize=fuzzer-no-link,address -w)
# The Swift toolchain's own clang (same LLVM as swiftc's libFuzzer and ASan runtimes), not
# whatever `clang` is first on PATH (Debian's clang-14 installs none by that name).
CC="$(dirname "$(readlink -f "$(command -v swiftc)")")/clang"
[ -x "$CC" ] || { echo "fuzz: no clang next to swiftc ($CC)" >&2; exit 1; }
SWIFTFLAGS=(-O -suppress-warnings -sanitize=fuzzer,address -parse-as-library -package-name netbpf -I Sources/CLibBPF -I Sources/CMnl -I "$out/modules")
wanted() { [[ " ${targets[*]} " == *" $1 "* ]]; }
quiet() { grep -v "ld.gold: warning" || true; }

build() { # NAME MODULE FILES...   one module: the fuzz entry point plus the sources it covers
  local name=$1 module=$2; shift 2
  rm -f "$out/fuzz-$name"
  swiftc "${SWIFTFLAGS[@]}" -module-name "$module" "$@" -o "$out/fuzz-$name" 2>&1 | quiet
  [ -x "$out/fuzz-$name" ] || { echo "fuzz: building $name failed" >&2; exit 1; }
}
library() { # MODULE FILES...   a Swift module the fuzzed module imports: $out/modules/MODULE.swiftmodule + $out/obj/MODULE.o
  local module=$1; shift
  rm -f "$out/obj/$module.o"
  swiftc "${SWIFTFLAGS[@]}" -wmo -c -module-name "$module" -emit-module -emit-module-path "$out/modules/$module.swiftmodule" \
    "$@" -o "$out/obj/$module.o" 2>&1 | quiet
  [ -f "$out/obj/$module.o" ] || { echo "fuzz: building module $module failed" >&2; exit 1; }
}
cmodule() { # NAME HEADER-DIR   a module map for a C target whose headers SwiftPM would wrap itself
  mkdir -p "$out/modules/$1"
  printf 'module %s {\n  umbrella "%s"\n  export *\n}\n' "$1" "$PWD/$2" > "$out/modules/$1/module.modulemap"
}
cobjects() { # PREFIX INCLUDE-DIR FILES...   prints the object files
  local prefix=$1 inc=$2; shift 2
  for f in "$@"; do
    local o="$out/obj/$prefix-$(basename "$f" .c).o"
    "$CC" "${CFLAGS[@]}" -I "$inc" -c "$f" -o "$o" || { echo "fuzz: compiling $f failed" >&2; exit 1; }
    echo "$o"
  done
}

if wanted object || wanted netlink || wanted topology; then
  cmodule CNetBPFShims Sources/CNetBPFShims/include
  cmodule CNetBPFPcap Sources/CNetBPFPcap/include
  mapfile -t shims < <(cobjects shims Sources/CNetBPFShims/include Sources/CNetBPFShims/*.c)
fi

wanted http && build http NetBPFControllers fuzz/http_reassembler.swift $C/HTTPFilter/HTTPFrameDecoder.swift $C/HTTPFilter/HTTPReassembler.swift \
  $C/HTTPFilter/HTTPMessageParser.swift $C/HTTPFilter/HTTPTypes.swift $C/HTTPFilter/HTTPEventFormat.swift $C/HTTPFilter/HTTPSelection.swift \
  $C/Shared/ControllerError.swift
wanted packet && build packet NetBPFKit fuzz/packet_summary.swift Sources/NetBPFKit/PacketSummary.swift
wanted bcc && build bcc NetBPFCompiler fuzz/bcc_rewriter.swift Sources/NetBPFCompiler/BCC/BCCRewriter.swift Sources/NetBPFCompiler/BCC/BCCTokenizer.swift
wanted elf && build elf NetBPF fuzz/elf.swift $N/ELF/ELFHeader.swift $N/ELF/ELFSections.swift $N/Errors/BPFError.swift
if wanted object; then
  # The whole NetBPF module, as `swift build` makes it, over the system libbpf (not instrumented).
  mapfile -t pcap < <(cobjects pcap Sources/CNetBPFPcap/include Sources/CNetBPFPcap/*.c)
  build object NetBPF fuzz/object.swift $N/*/*.swift "${shims[@]}" "${pcap[@]}" -lbpf -lelf -lz
fi
if wanted netlink; then
  build netlink NetBPFNetlink fuzz/netlink.swift $L/*.swift "${shims[@]}" -lmnl -lbpf -lelf -lz
fi
if wanted topology; then
  # Yams (a package dependency) from its checkout: libyaml's C (CYaml) with the sanitizer, then
  # the Swift module; NetBPFNetlink for the address and name types; then the parser files.
  [ -d .build/checkouts/Yams/Sources/CYaml ] || swift package resolve >/dev/null
  Y=.build/checkouts/Yams/Sources
  mapfile -t cyaml < <(CFLAGS+=(-DYAML_DECLARE_EXPORT -I $Y/CYaml/src); cobjects cyaml $Y/CYaml/include $Y/CYaml/src/*.c)
  library Yams -D SWIFT_PACKAGE -I $Y/CYaml/include $Y/Yams/*.swift
  library NetBPFNetlink $L/*.swift
  build topology NetBPFSim -I $Y/CYaml/include fuzz/topology.swift $S/Topology.swift $S/TopologyParser.swift \
    $S/TopologyValidator.swift $S/YAMLReader.swift $S/SimError.swift $S/Plan.swift \
    "$out/obj/Yams.o" "$out/obj/NetBPFNetlink.o" "${cyaml[@]}" "${shims[@]}" -lmnl -lbpf -lelf -lz
fi

for t in "${targets[@]}"; do
  # Inputs that once crashed a target run first, once each (fuzz/regressions/TARGET-*).
  regressions=(fuzz/regressions/$t-*)
  if [ -e "${regressions[0]}" ] && ! SWIFT_BACKTRACE=enable=no "$out/fuzz-$t" "${regressions[@]}" > "$out/$t-regressions.log" 2>&1; then
    tail -30 "$out/$t-regressions.log" >&2
    echo "fuzz: $t crashes again on an input in fuzz/regressions/" >&2
    exit 1
  fi
  corpus=$(mktemp -d)          # new inputs go to a scratch copy; the committed corpus stays small
  cp fuzz/corpus/$t/* "$corpus/"
  # The BCC rewriter also starts from BCC's own programs, captured from the installed
  # bpfcc-tools at run time (root only; never kept in the repository).
  if [ "$t" = bcc ] && [ "$(id -u)" = 0 ] && [ -d /usr/share/doc/bpfcc-tools/examples ]; then
    seeds=$(mktemp -d)
    /usr/bin/python3 scripts/bcc-corpus.py "$seeds" --only http-parse-complete --only net_monitor --only vlan_learning \
      --only tc_neighbor_sharing --only xdp_drop_count --only tcpconnect --only biolatency --only execsnoop >/dev/null 2>&1 || true
    cp "$seeds"/*.c "$corpus/" 2>/dev/null || true
    rm -rf "$seeds"
  fi
  echo "fuzz: $t for ${seconds}s"
  # SWIFT_BACKTRACE off: a Swift trap must reach libFuzzer as a deadly signal (the Swift
  # backtracer otherwise takes the signal and trips over AddressSanitizer).
  if ! SWIFT_BACKTRACE=enable=no "$out/fuzz-$t" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=0 \
      -artifact_prefix="$out/crashes/$t-" "$corpus" > "$out/$t.log" 2>&1; then
    tail -30 "$out/$t.log" >&2
    echo "fuzz: $t found a crash; input saved under $out/crashes/" >&2
    rm -rf "$corpus"; exit 1
  fi
  grep -E "^Done [0-9]+ runs" "$out/$t.log" | sed "s/^/fuzz: $t: /" || true
  rm -rf "$corpus"
done
