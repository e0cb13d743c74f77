#!/bin/sh
# Compiles the C stages (native/*.c for the runtime, test/native/*.c for the
# tests) into dist/. Without a C compiler they are skipped; the code that
# needs them says so when it runs.
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
    out="dist/$dir/$(basename "$src" .c)"
    mkdir -p "dist/$dir"
    if [ ! -e "$out" ] || [ "$src" -nt "$out" ]; then
      "$CC" -O2 -Wall -Wextra -Werror -std=gnu11 -o "$out" "$src"
    fi
  done
done
