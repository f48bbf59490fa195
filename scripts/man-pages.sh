#!/usr/bin/env bash
# Writes one man page per netbpf command into OUTDIR, from the command definitions:
#   bash scripts/man-pages.sh PATH/TO/netbpf OUTDIR
# with swift-argument-parser's own generator, generate-manual (what its GenerateManual plugin
# runs). The plugin is not used because it first builds every product of the package again in
# a configuration of its own; the tool is built once here (debug, into .build/generate-manual)
# from the argument-parser checkout SwiftPM already resolved, and run on the netbpf given.
# generate-manual names subcommand pages netbpf.attach.1; they are renamed netbpf-attach.1 (the
# git/systemd convention), so `man netbpf-attach` finds them, cross references included.
set -euo pipefail
cd "$(dirname "$0")/.."
netbpf=$1 out=$2
checkout=.build/checkouts/swift-argument-parser
[ -d "$checkout" ] || swift package resolve >/dev/null
tool=.build/generate-manual/debug/generate-manual
if [ ! -x "$tool" ] || [ "$checkout/Package.swift" -nt "$tool" ]; then
  swift build --package-path "$checkout" --scratch-path .build/generate-manual --product generate-manual >&2
fi
mkdir -p "$out"
rm -f "$out"/netbpf*.1
"$tool" "$netbpf" --multi-page --section 1 --date "$(git log -1 --format=%cs 2>/dev/null || date -u +%F)" \
  --authors 'netbpf developers' --output-directory "$out" >&2
for page in "$out"/netbpf.*.1; do
  [ -e "$page" ] || continue
  name=$(basename "$page" .1)
  mv "$page" "$out/${name//./-}.1"
done
# Inside the pages: titles (.Dt NETBPF.ATTACH) and references (.Xr netbpf.attach 1).
sed -i -E '/^\.(Dt|Xr) / s/([A-Za-z0-9])\.([A-Za-z])/\1-\2/g' "$out"/netbpf*.1
