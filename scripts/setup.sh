#!/bin/sh
# Brings a fresh clone to where `npm run demo`, `npm test` and `npm run bench`
# work: npm packages, the TypeScript build and the C stages; with --test and
# as root, the Debian packages the tests compare against (see
# scripts/debian-packages.txt). Safe to run again: it only does what is missing.
set -eu
cd "$(dirname "$0")/.."
QUIET=
TEST=
for a in "$@"; do
  case "$a" in
    --quiet) QUIET=1 ;;
    --test) TEST=1 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
say() { [ -n "$QUIET" ] || echo "setup: $*"; }

if [ -n "$TEST" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=
  for p in $(sed -e 's/#.*//' scripts/debian-packages.txt); do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends $missing >/tmp/fsidmap-apt.log 2>&1 || {
      apt-get update -q >>/tmp/fsidmap-apt.log 2>&1
      apt-get install -y -q --no-install-recommends $missing >>/tmp/fsidmap-apt.log 2>&1 || { tail -20 /tmp/fsidmap-apt.log >&2; exit 1; }
    }
  fi
elif [ -n "$TEST" ] && [ "$(id -u)" != 0 ]; then
  echo "setup: not root: Debian packages not installed; tests that need root or peer tools will say they skip and why"
fi

if ! node scripts/npm-packages-current.mjs ${QUIET:+--quiet}; then
  say "installing npm packages"
  DID=1
  npm ci --no-audit --no-fund --loglevel=error ${QUIET:+--silent}
fi

# TypeScript: only when a source is newer than the last build. The stamp is
# taken before tsc starts, so an edit made while it runs is built next time.
stamp=dist/.tsc-stamp
if [ ! -f "$stamp" ] || [ ! -f dist/src/cli/main.js ] ||
  [ -n "$(find src test bench tsconfig.json package.json -newer "$stamp" \( -name '*.ts' -o -name '*.json' \) 2>/dev/null | head -n 1)" ]; then
  say "compiling TypeScript"
  DID=1
  mkdir -p dist
  touch "$stamp.next"
  npx --no-install tsc -p tsconfig.json
  mv "$stamp.next" "$stamp"
fi
# The C stages: build-native.sh compiles only those older than their source.
sh scripts/build-native.sh
[ -n "${DID:-}" ] || say "npm packages and the TypeScript build are up to date"
