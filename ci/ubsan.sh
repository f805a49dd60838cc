#!/usr/bin/env bash
# Run the tests that exercise the bundled C library (csrc/) with the C code
# built under UndefinedBehaviorSanitizer: -fsanitize=undefined with
# -fno-sanitize-recover=all, so any signed overflow, bad shift, misaligned
# or null access, or out-of-bounds index in C aborts the test that caused
# it. build.rs adds the flags and links libubsan when GILSCOPE_UBSAN is set.
# First a canary: a signed overflow in C must abort, or the run proves
# nothing. Stable toolchain, gcc or clang; a separate target directory.
#
#   bash ci/ubsan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export GILSCOPE_UBSAN=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/ubsan}"
export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1 ${UBSAN_OPTIONS:-}"
cc="${CC:-cc}"

canary="$(mktemp -d)"
trap 'rm -rf "$canary"' EXIT
cat > "$canary/overflow.c" <<'C'
#include <stdint.h>
#include <stdio.h>
int main(int argc, char **argv) {
    (void)argv;
    int64_t ms = INT64_MAX - 1 + argc;
    printf("%lld\n", (long long)(ms * 1000000));
    return 0;
}
C
"$cc" -fsanitize=undefined -fno-sanitize-recover=all "$canary/overflow.c" -o "$canary/overflow"
if "$canary/overflow" > /dev/null 2>&1; then
    echo "ubsan.sh: the canary overflow was not caught; UBSan is not working" >&2
    exit 1
fi
echo "ubsan.sh: canary caught (a signed overflow aborts)"

cargo test --test scripts --test c_extension --test robustness --test interrupt \
    --test interpreter_threads "$@"
# The binary the script tests ran must carry the instrumented C library.
checks="$(nm "$CARGO_TARGET_DIR/debug/gilscope" | grep -c __ubsan_handle || true)"
if [ "$checks" -eq 0 ]; then
    echo "ubsan.sh: $CARGO_TARGET_DIR/debug/gilscope has no UBSan checks" >&2
    exit 1
fi
echo "ubsan.sh: no undefined behaviour reported"
