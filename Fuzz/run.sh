#!/usr/bin/env bash
# Builds and runs one libFuzzer target.
#   Fuzz/run.sh NAME SECONDS
# A target is a folder Fuzz/NAME/ holding:
#   main.swift   defines @_cdecl("LLVMFuzzerTestOneInput")
#   corpus/      the seed corpus (checked in); new inputs go to Fuzz/corpus-work/NAME (ignored)
# and one line in Fuzz/Package.swift naming the library targets it links. The package is built with
# libFuzzer and AddressSanitizer for every module (the fuzzed library targets included, so the
# coverage instrumentation covers them), in release, into .build-fuzz/ at the repository root.
set -euo pipefail
name=${1:?usage: Fuzz/run.sh NAME SECONDS}
seconds=${2:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/Fuzz/$name"
out="$root/Fuzz/out"
work="$root/Fuzz/corpus-work/$name"
[ -f "$dir/main.swift" ] || { echo "Fuzz/run.sh: no fuzzer $name (no Fuzz/$name/main.swift)" >&2; exit 2; }
mkdir -p "$out" "$work"
build=(swift build --package-path "$root/Fuzz" --scratch-path "$root/.build-fuzz" -c release
    --sanitize=fuzzer --sanitize=address --product "$name")
# Left out: progress lines ("[12/40] Compiling ...") and gold's note on an ASan symbol; errors and
# warnings are not.
"${build[@]}" 2>&1 | { grep -v -e '^\[' -e 'Cannot export local symbol' || true; }
binary="$("${build[@]}" --show-bin-path)/$name"
echo "fuzz $name: ${seconds}s"
"$binary" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
    -artifact_prefix="$out/$name-" "$work" "$dir/corpus" 2>&1 | tail -n 12
