#!/usr/bin/env bash
# End-to-end check of the in-process compiler (needs root for bpftool prog loadall):
# build, compile + load a tc program, vmlinux.h + PCH + tracepoint program, diagnostics,
# and timings against the clang-14 CLI. Usage: devtest/run.sh [workdir]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
W=${1:-/tmp/netbpf-devtest}
mkdir -p "$W"
"$here/build.sh" "$W" >/dev/null || { echo "build failed"; exit 1; }
D="$W/devtest"
cp "$here"/*.bpf.c "$here"/prelude*.h "$W"/
cd "$W"
pass=0 fail=0
check() { # check NAME CMD...
  if "${@:2}" >"$W/last.log" 2>&1; then pass=$((pass+1)); echo "ok   $1"
  else fail=$((fail+1)); echo "FAIL $1"; sed 's/^/     /' "$W/last.log" | tail -20; fi
}
has_btf() { llvm-objdump-14 -h "$1" | grep -q ' \.BTF ' && llvm-objdump-14 -h "$1" | grep -q ' \.BTF\.ext ' && bpftool btf dump file "$1" >/dev/null; }
loads() { # loads OBJ [-d]: bpftool prog loadall (-d: libbpf debug log), then remove the pins
  mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
  local pin=/sys/fs/bpf/netbpf_devtest_$$
  bpftool ${2:-} prog loadall "$1" "$pin" && ls "$pin" >/dev/null; local rc=$?
  rm -rf "$pin"; return $rc
}
CLI=(clang-14 -O2 -g -target bpf -D__TARGET_ARCH_x86 -idirafter /usr/include/x86_64-linux-gnu)

echo "== library"; "$D" version
echo "== tc program (UAPI + bpf_helpers.h)"
check "tc compile" "$D" compile tc_count.bpf.c tc.o
check "tc .BTF/.BTF.ext" has_btf tc.o
check "tc loadall" loads tc.o
check "tc same code as clang CLI" bash -c "${CLI[*]} -c tc_count.bpf.c -o tc_cli.o && diff <(llvm-objdump-14 -d tc.o | tail -n +3) <(llvm-objdump-14 -d tc_cli.o | tail -n +3)"
check "tc PCH" "$D" pch prelude_tc.h prelude_tc.pch
check "tc compile with PCH" bash -c "'$D' compile tc_count.bpf.c tc_pch.o --pch prelude_tc.pch | grep -q 'pch used' && cmp tc.o tc_pch.o"

echo "== vmlinux.h, PCH, tracepoint program"
check "vmlinux.h" "$D" vmlinux "$W/vmlinux.h"
check "prelude PCH" "$D" pch prelude.h prelude.pch
check "trace compile" "$D" compile trace_exec.bpf.c trace.o
check "trace compile with PCH" bash -c "'$D' compile trace_exec.bpf.c trace_pch.o --pch prelude.pch | grep -q 'pch used'"
check "trace same object with/without PCH" cmp trace.o trace_pch.o
check "trace .BTF/.BTF.ext" has_btf trace_pch.o
check "trace loadall" loads trace_pch.o
check "trace CO-RE relocations applied" bash -c "$(declare -f loads); loads trace_pch.o -d 2>&1 | grep -q 'found 3 CO-RE relocations'"
check "stale PCH falls back" bash -c "touch vmlinux.h && '$D' compile trace_exec.bpf.c x.o --pch prelude.pch | grep -q 'pch rejected' && '$D' pch prelude.h prelude.pch"
check "repeated CO-RE compiles" "$D" bench trace_exec.bpf.c 3 --pch prelude.pch
check "parallel compiles" "$D" parallel trace_exec.bpf.c 3 --pch prelude.pch
check "SIGCHLD ignored by host" env NB_DEVTEST_IGNORE_SIGCHLD=1 "$D" compile tc_count.bpf.c x.o

echo "== diagnostics"
diag() { # diag FILE PATTERN...: compile fails, stderr stays empty, each pattern is in the output
  "$D" diag "$here/bad/$1" -- -Wall >"$W/diag.out" 2>"$W/diag.err" || return 1
  [[ ! -s $W/diag.err ]] || { echo "stderr not empty"; return 1; }
  local p; for p in "${@:2}"; do grep -qF -- "$p" "$W/diag.out" || { cat "$W/diag.out"; echo "missing: $p"; return 1; }; done
}
check "syntax error" diag syntax.bpf.c "severity=error" "syntax.bpf.c line=7 column=14" "expected ';' at end of declaration" "source_line=    int x = 1"
check "missing include" diag missing_include.bpf.c "severity=fatal" "line=2 column=10" "'no_such_header.h' file not found" 'source_line=#include "no_such_header.h"'
check "unknown type + warning" diag unknown_type.bpf.c "line=4 column=8" "unknown type name 'frobnicator_t'" "flag=-Wunused-variable"
check "LLVM fatal error contained" diag backend_fatal.bpf.c "severity=fatal" "LLVM fatal error: Invalid field access"
check "compiler crash contained" diag crash.bpf.c "severity=fatal" "clang crashed (signal"
check "bad argument" bash -c "'$D' compile tc_count.bpf.c x.o -- -fno-such-flag | grep -q \"unknown argument: '-fno-such-flag'\"; [[ \${PIPESTATUS[0]} == 1 ]]"

echo "== sizes"
ls -l vmlinux.h prelude.pch prelude_tc.pch tc.o trace.o | awk '{print $5, $9}'

if [[ ${TIMINGS:-1} == 1 ]]; then
  echo "== timings (ms): in-process = nb_clang_compile in a warm process; hyperfine = whole process"
  "$D" bench tc_count.bpf.c 20
  "$D" bench tc_count.bpf.c 20 --pch prelude_tc.pch
  "$D" bench trace_exec.bpf.c 10
  "$D" bench trace_exec.bpf.c 10 --pch prelude.pch
  hyperfine -N -w 2 -r 10 --export-markdown "$W/hyperfine.md" \
    -n "cli tc" "${CLI[*]} -c tc_count.bpf.c -o x.o" \
    -n "cli trace" "${CLI[*]} -c trace_exec.bpf.c -o x.o" \
    -n "cli trace +pch" "${CLI[*]} -include-pch prelude.pch -c trace_exec.bpf.c -o x.o" \
    -n "devtest trace +pch (process incl. dlopen)" "$D compile trace_exec.bpf.c x.o --pch prelude.pch" >/dev/null 2>&1
  cat "$W/hyperfine.md"
fi

echo "devtest: $pass passed, $fail failed"
[[ $fail == 0 ]]
