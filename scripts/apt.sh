# Sourced by scripts/setup.sh and benchmarks/setup-peers.sh.
# install_missing PACKAGE...: installs, as one apt-get run after one apt-get update, those of
# the Debian packages that are not installed yet; does nothing when all are. Prints "$1" and
# the list first, so each caller says who is installing.
install_missing() {
  local who=$1; shift
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "$who: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
