#!/usr/bin/env bash
# Fuzz the interpreter with cargo-fuzz (libFuzzer): `compile` feeds any bytes
# to the lexer, parser and compiler; `run` runs short programs under a
# check-point budget and a one-second interrupt. Installs cargo-fuzz and the
# nightly toolchain's pieces if missing. Crashes land in fuzz/artifacts/;
# each fixed one is kept in fuzz/regressions/ and as a test. fuzz/toy.dict
# gives libFuzzer the language's keywords and built-in names.
#
#   bash ci/fuzz.sh [SECONDS_PER_TARGET]     # default 600
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-600}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# Leak detection is on (LeakSanitizer, libFuzzer's default under ASan). A
# script that builds a reference cycle leaks it by design (there is no cycle
# collector, see docs/interpreter.md), and tests/scripts/cycle_leak.toy is
# among the seeds, so the session runs in fork mode and carries on past
# findings: each one lands in fuzz/artifacts/ to be looked at afterwards.
for target in compile run; do
    mkdir -p "corpus/$target"
    cargo +nightly fuzz run "$target" "corpus/$target" seeds ../fuzz/regressions -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 \
        -dict=toy.dict -detect_leaks=1 -fork=1 -ignore_crashes=1
    cargo +nightly fuzz cmin "$target" "corpus/$target"
done
ls -l artifacts/*/ 2>/dev/null || echo "no findings"
