#!/usr/bin/env bash
# Builds and runs one libFuzzer target.
#   Fuzz/run.sh NAME SECONDS
# A target is a folder Fuzz/NAME/ holding:
#   main.swift   defines @_cdecl("LLVMFuzzerTestOneInput")
#   modules      what it compiles in, one per line: a Sources/ module name (all its files) or a
#                single file path relative to the repo root (ending in .swift)
#   corpus/      the seed corpus (checked in); new inputs go to Fuzz/corpus-work/NAME (ignored)
# The module sources are compiled straight into the fuzzer binary so the instrumentation covers them.
set -euo pipefail
name=${1:?usage: Fuzz/run.sh NAME SECONDS}
seconds=${2:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/Fuzz/$name"
out="$root/Fuzz/out"
work="$root/Fuzz/corpus-work/$name"
mkdir -p "$out" "$work"
srcs=()
while read -r m; do
    [ -n "$m" ] || continue
    if [[ "$m" == *.swift ]]; then srcs+=("$root/$m"); continue; fi
    while IFS= read -r f; do srcs+=("$f"); done < <(find "$root/Sources/$m" -name '*.swift' | sort)
done < "$dir/modules"
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name FuzzTarget -package-name FuzzTarget \
    "${srcs[@]}" "$dir"/*.swift -o "$out/$name" 2> >(grep -v 'Cannot export local symbol' >&2)
echo "fuzz $name: ${seconds}s"
"$out/$name" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
    -artifact_prefix="$out/$name-" "$work" "$dir/corpus" 2>&1 | tail -n 12
