#!/usr/bin/env bash
# Builds the matrix guest's initramfs from busybox-static and the kernel tree fetch-kernel.sh
# extracted: /init (guest-init.sh), busybox, and the modules the cases need with their
# dependencies, in an order insmod can follow (the package ships no modules.dep, so the order is
# worked out here from `modinfo -F depends`). Usage: build-initramfs.sh KERNEL_TREE OUT.cpio.gz
set -euo pipefail
tree=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
busybox=/bin/busybox
# grep reads the whole list (no -q): under pipefail, busybox killed by SIGPIPE would read as "missing".
[ -x "$busybox" ] && "$busybox" --list | grep -x insmod >/dev/null || { echo "build-initramfs: busybox-static is missing ($busybox)" >&2; exit 2; }

# virtio + 9p for the shares; then what the cases use: veth, clsact/cls_bpf, tc actions, HTB/TBF,
# 802.1Q, the bridge and VXLAN.
wanted=(virtio_pci 9pnet_virtio 9p veth sch_ingress cls_bpf cls_matchall act_bpf act_gact act_police sch_htb sch_tbf
        8021q bridge vxlan dummy)

declare -A path=() done=()
while IFS= read -r f; do n=$(basename "$f" .ko); path[$n]=$f; path[${n//-/_}]=$f; done \
  < <(find "$tree/lib/modules" -name '*.ko')
order=()
visit() {
  local m=${1//-/_}
  [ -n "${done[$m]:-}" ] && return 0
  done[$m]=1
  [ -n "${path[$m]:-}" ] || { echo "build-initramfs: module $m is not in $tree" >&2; exit 2; }
  local d
  for d in $(modinfo -F depends "${path[$m]}" | tr ',' ' '); do visit "$d"; done
  order+=("$m")
}
for m in "${wanted[@]}"; do visit "$m"; done

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,proc,sys,dev,host,results,modules}
cp "$busybox" "$root/bin/busybox"
for a in sh mount umount insmod mkdir cat echo poweroff sleep chroot ls dmesg mknod; do ln -s busybox "$root/bin/$a"; done
for m in "${order[@]}"; do cp "${path[$m]}" "$root/modules/$m.ko"; done
printf '%s\n' "${order[@]}" > "$root/modules/order"
cp "$here/guest-init.sh" "$root/init"
chmod +x "$root/init"
(cd "$root" && find . | "$busybox" cpio -o -H newc 2>/dev/null | gzip -1) > "$out.tmp"
mv "$out.tmp" "$out"
