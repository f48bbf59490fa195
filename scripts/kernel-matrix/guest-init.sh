#!/bin/sh
# /init of the kernel-matrix guest (busybox sh, PID 1). Loads the modules, mounts the host's root
# (read-only 9p, tag hostroot) and the results share (writable 9p, tag results), gives the chroot
# its own proc/sys/dev/bpffs/tracefs and tmpfs for /tmp and /run, runs the case script named in
# /results/guest.env inside the chroot, and powers off in every case.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "matrix-guest: user space up"
for m in $(cat /modules/order); do insmod "/modules/$m.ko" 2>/dev/null || echo "matrix-guest: insmod $m failed"; done
opts=trans=virtio,version=9p2000.L,msize=262144
# cache=loose: the host root is read-only for the guest, so the page cache may keep what it read
# (under TCG every 9p round trip is slow: the Swift runtime and netbpf-cc load much faster).
mount -t 9p -o "$opts" results /results || { echo "matrix-guest: no results share"; poweroff -f; }
if ! mount -t 9p -o "$opts,ro,cache=loose" hostroot /host; then
  echo "no host root share" > /results/guest-failed
  poweroff -f
fi
. /results/guest.env   # REPO, CASES (the case script), CASE_FILTER, CCACHE (the compile cache's host path)
h=/host
mount -t proc proc $h/proc
mount -t sysfs sys $h/sys
mount -t devtmpfs dev $h/dev
mount -t devpts devpts $h/dev/pts 2>/dev/null
mount -t tmpfs tmp $h/tmp
mount -t tmpfs run $h/run
# The repository (netbpf's binary and the case script) has a share of its own: a clone under /tmp
# or /run (CI's may be) is hidden by the tmpfs mounts above.
mkdir -p "$h$REPO" 2>/dev/null
mount -t 9p -o "$opts,ro,cache=loose" repo "$h$REPO" || echo "matrix-guest: no repository share"
mount -t bpf bpf $h/sys/fs/bpf
mount -t tracefs tracefs $h/sys/kernel/tracing
mount -t debugfs debugfs $h/sys/kernel/debug 2>/dev/null
mkdir -p $h/tmp/results
mount -o bind /results $h/tmp/results
# The compile cache at its host path (boot.sh made the directory), so that entries boot.sh
# compiled on the host have the keys the guest computes (the cache's include directory is in them).
mkdir -p "$h$CCACHE" 2>/dev/null
mount -t 9p -o "$opts" ccache "$h$CCACHE" || echo "matrix-guest: no compile cache share"
chroot $h /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp \
  NETBPF_CACHE_DIR="$CCACHE" REPO="$REPO" CASE_FILTER="$CASE_FILTER" \
  /bin/bash "$CASES" /tmp/results > /results/guest.log 2>&1
echo "matrix-guest: cases exited $?"
echo done > /results/guest-done
umount $h/tmp/results "$h$CCACHE" 2>/dev/null
sync
poweroff -f
