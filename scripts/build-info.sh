#!/usr/bin/env bash
# Records the commit being built in Sources/CNetBPFBuildInfo/build_commit.h (not in git) so that
# `netbpf --version` names it: "0.9.0 (git abc1234)", "-dirty" when tracked files differ from
# the commit. `build-info.sh --clear` removes it again (a plain `swift build` then prints
# "(unknown commit)", never a stale one). Used by install.sh and package-deb.sh around their
# release build; build_info.c is touched both times so SwiftPM compiles it again.
set -euo pipefail
cd "$(dirname "$0")/.."
header=Sources/CNetBPFBuildInfo/build_commit.h
if [ "${1:-}" = --clear ]; then
  rm -f "$header"
else
  commit=$(git rev-parse --short=7 HEAD 2>/dev/null || true)
  if [ -n "$commit" ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit-dirty"; fi
  if [ -n "$commit" ]; then
    printf '#define NETBPF_BUILD_COMMIT "%s"\n' "$commit" > "$header.tmp" && mv "$header.tmp" "$header"
  else
    rm -f "$header"
  fi
fi
touch Sources/CNetBPFBuildInfo/build_info.c
