#!/bin/sh
# Compiles the C parts (native/*.c for the runtime, test/native/*.c for the
# tests) into dist/: programs, and shared libraries for files named lib*.c
# (loaded in-process with koffi, e.g. native/libfsidmap-tree.c). Without a C
# compiler they are skipped; the code that needs them says so when it runs,
# or falls back to its TypeScript path.
set -eu
cd "$(dirname "$0")/.."
CC=${CC:-cc}
if ! command -v "$CC" >/dev/null 2>&1; then
  echo "build-native: no C compiler ($CC); skipping native stages" >&2
  exit 0
fi
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
      "$CC" -O2 -Wall -Wextra -Werror -std=gnu11 $extra -o "$out" "$src"
    fi
  done
done
