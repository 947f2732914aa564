#!/usr/bin/env bash
# Builds and runs the parser head benchmark with -O over the stdlib-only parser core.
#   Benchmarks/http-parser-head/run.sh [ITERATIONS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/.build-bench"
mkdir -p "$out"
srcs=()
while read -r f; do [ -n "$f" ] && srcs+=("$root/$f"); done < "$root/Fuzz/http-parser/modules"
swiftc -O -wmo -module-name ParserBench "${srcs[@]}" "$root/Benchmarks/http-parser-head/main.swift" -o "$out/http-parser-head"
"$out/http-parser-head" "${1:-1000000}"
