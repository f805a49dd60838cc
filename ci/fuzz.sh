#!/usr/bin/env bash
# Fuzz the interpreter with cargo-fuzz (libFuzzer): `compile` feeds any bytes
# to the lexer, parser and compiler; `run` runs short programs under a
# check-point budget and a one-second interrupt. Installs cargo-fuzz and the
# nightly toolchain's pieces if missing. Crashes land in fuzz/artifacts/;
# each fixed one is kept in fuzz/regressions/ and as a test.
#
#   bash ci/fuzz.sh [SECONDS_PER_TARGET]     # default 600
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-600}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
for target in compile run; do
    mkdir -p "corpus/$target"
    cargo +nightly fuzz run "$target" "corpus/$target" seeds ../fuzz/regressions -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=10 -print_final_stats=1
    cargo +nightly fuzz cmin "$target" "corpus/$target"
done
