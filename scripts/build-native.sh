#!/bin/sh
# Compiles the C parts (native/*.c for the runtime, test/native/*.c for the
# tests) into dist/: programs, and shared libraries for files named lib*.c
# (loaded in-process with koffi, e.g. native/libfsidmap-tree.c). Only what is
# missing or older than its source is compiled.
#
# --install is how the package's postinstall calls it (npm install -g of the
# packed tarball): the stages are built with this machine's compiler, without
# -Werror (a newer compiler's new warnings must not fail an install), and
# without a compiler the install still succeeds with a message saying what is
# missing and how to build it later. Without a C compiler the code that needs
# a stage says so when it runs, or falls back to its TypeScript path.
set -eu
cd "$(dirname "$0")/.."
INSTALL=
for a in "$@"; do
  case "$a" in
    --install) INSTALL=1 ;;
    *) echo "build-native: unknown option $a" >&2; exit 2 ;;
  esac
done
# In a checkout (src/ beside native/) `npm run build` compiles them, with -Werror.
[ -z "$INSTALL" ] || [ ! -d src ] || exit 0
CC=${CC:-cc}
if ! command -v "$CC" >/dev/null 2>&1; then
  if [ -n "$INSTALL" ]; then
    cat >&2 <<MSG
fsidmap: no C compiler ($CC) on this machine: the C stages were not built.
  fsidmap run, mount, demo and the broker's mounts need them (native/*.c, into dist/native/);
  the id-map, allocation, audit and explain commands work without them.
  hint: install one (Debian: apt-get install gcc libc6-dev), then run
        sh $(pwd)/scripts/build-native.sh
MSG
  else
    echo "build-native: no C compiler ($CC); skipping native stages" >&2
  fi
  exit 0
fi
WERROR=-Werror
[ -z "$INSTALL" ] || WERROR=
for dir in native test/native; do
  [ -d "$dir" ] || continue
  for src in "$dir"/*.c; do
    [ -e "$src" ] || continue
    name=$(basename "$src" .c)
    mkdir -p "dist/$dir"
    case "$name" in
      lib*) out="dist/$dir/$name.so"; extra="-shared -fPIC -pthread" ;;
      *) out="dist/$dir/$name"; extra="" ;;
    esac
    if [ ! -e "$out" ] || [ "$src" -nt "$out" ]; then
      # shellcheck disable=SC2086
      "$CC" -O2 -Wall -Wextra $WERROR -std=gnu11 $extra -o "$out" "$src" || {
        echo "fsidmap: compiling $src with $CC failed (see above)" >&2
        exit 1
      }
    fi
  done
done
[ -z "$INSTALL" ] || echo "fsidmap: C stages built with $CC into $(pwd)/dist/native"
