#!/usr/bin/env bash
# Runs the kernel matrix: one boot of Debian 12's 6.1 kernel under qemu (TCG), the case script
# (guest-cases.sh) inside it through a chroot into the host's root, results written as one JSON
# file per case into RESULTS_DIR. Usage: boot.sh RESULTS_DIR [CASE_FILTER (a grep -E pattern)]
#
# Exit 0: the guest ran the cases (each case's result is in RESULTS_DIR/cases/NAME.json).
# Exit 3: the matrix cannot run here; the one-line reason is in RESULTS_DIR/skip and on stderr.
# Every boot runs under `timeout` ($NETBPF_MATRIX_TIMEOUT seconds, default 600), and qemu is
# killed and reaped when this script is interrupted, so no qemu outlives it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
results=$(mkdir -p "$1" && cd "$1" && pwd)
filter=${2:-.}
limit=${NETBPF_MATRIX_TIMEOUT:-600}
rm -rf "$results/cases" "$results/logs" "$results/objs" "$results/qemu.pid" "$results/skip" "$results"/guest-* "$results/console.log"
mkdir -p "$results/cases"

skip() { echo "$*" > "$results/skip"; echo "kernel-matrix: skip: $*" >&2; exit 3; }

[ "$(id -u)" -eq 0 ] || skip "requires root (apt-get, qemu's 9p share of /)"
if [ "${NETBPF_MATRIX_NO_INSTALL:-}" != 1 ]; then
  source "$repo/scripts/apt.sh"
  install_missing kernel-matrix qemu-system-x86 busybox-static kmod jq >&2 \
    || skip "apt-get could not install qemu-system-x86 busybox-static kmod jq"
fi
qemu=${NETBPF_MATRIX_QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null || skip "qemu is missing ($qemu not on PATH; apt-get install qemu-system-x86)"
[ -x /bin/busybox ] || skip "busybox-static is missing (/bin/busybox)"
[ -x "$repo/.build/debug/netbpf" ] || skip "no $repo/.build/debug/netbpf (swift build first)"

tree=$("$here/fetch-kernel.sh" 2>"$results/fetch.err") || skip "$(tail -1 "$results/fetch.err")"
kernel=$(ls "$tree"/boot/vmlinuz-* | head -1)
initrd="$results/initramfs.cpio.gz"
"$here/build-initramfs.sh" "$tree" "$initrd" 2>"$results/initramfs.err" || skip "$(tail -1 "$results/initramfs.err")"
# The case programs compiled here, not under TCG (CO-RE objects: libbpf relocates them for 6.1).
mkdir -p "$results/objs"
for src in "$here"/programs/*.bpf.c "$repo/programs/count_icmp.bpf.c"; do
  name=$(basename "$src" .bpf.c)
  "$repo/.build/debug/netbpf" compile "$src" -o "$results/objs/$name.o" >/dev/null 2>"$results/objs/$name.err" \
    || skip "netbpf compile $src failed: $(tail -1 "$results/objs/$name.err")"
done
# The guest's compile cache (netbpf compiles the tools' BPF C against the guest kernel's BTF)
# outlives the boot, so only the first run on a machine pays for clang under TCG. The guest
# mounts it at the same path, so the controllers' programs, which use no kernel types (no
# vmlinux.h: their cache entries do not depend on the kernel), are compiled here, natively, with
# the cache keys the guest will look up.
guest_cache=${NETBPF_KERNEL_CACHE:-/var/cache/netbpf-kernel-matrix}/guest-compile-cache
mkdir -p "$guest_cache" && chmod 700 "$guest_cache"
for src in ratelimit http_filter http_block tunnel_monitor vlan_learning distributed_bridge; do
  NETBPF_CACHE_DIR=$guest_cache "$repo/.build/debug/netbpf" compile "$repo/programs/$src.bpf.c" -o "$results/objs/$src.o" >/dev/null 2>"$results/objs/$src.err" \
    || skip "netbpf compile programs/$src.bpf.c failed: $(tail -1 "$results/objs/$src.err")"
done
cat > "$results/guest.env" <<ENV
REPO='$repo'
CASES='$here/guest-cases.sh'
CASE_FILTER='$filter'
CCACHE='$guest_cache'
ENV

qpid=
reap() { [ -n "$qpid" ] && kill -TERM "$qpid" 2>/dev/null; [ -n "$qpid" ] && wait "$qpid" 2>/dev/null; qpid=; }
trap 'reap; exit 130' INT TERM HUP
trap reap EXIT
start=$(date +%s.%N)
# timeout sends TERM at the limit and KILL 5 s later; qemu is its child and is reaped by it.
timeout -k 5 "$limit" "$qemu" -accel tcg,thread=multi -cpu max -smp 2 -m 2048 \
  -nographic -nic none -no-reboot -monitor none -serial "file:$results/console.log" -pidfile "$results/qemu.pid" \
  -kernel "$kernel" -initrd "$initrd" -append 'console=ttyS0 panic=-1 quiet' \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=$repo,mount_tag=repo,security_model=none,readonly=on,multidevs=remap" \
  -virtfs "local,path=$results,mount_tag=results,security_model=none" \
  -virtfs "local,path=$guest_cache,mount_tag=ccache,security_model=none" \
  </dev/null >"$results/qemu.out" 2>&1 &
qpid=$!
set +e
wait "$qpid"; rc=$?
set -e
qpid=
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f\n", e - s }' > "$results/wall-seconds"
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  # Cut short: the cases that finished keep their results, the rest fail as missing.
  ls "$results"/cases/*.json >/dev/null 2>&1 || skip "the guest did not finish within ${limit}s (console: $results/console.log)"
  echo "the guest was stopped after ${limit}s" > "$results/guest-timeout"
  echo "kernel-matrix: the guest was stopped after ${limit}s; cases without a result fail" >&2
  exit 0
fi
[ -f "$results/guest-done" ] || skip "the guest did not run its cases (qemu exit $rc: $(tail -1 "$results/qemu.out" 2>/dev/null); console: $results/console.log)"
echo "kernel-matrix: guest ran in $(cat "$results/wall-seconds") s" >&2
