#!/usr/bin/env bash
# Run the contention, interpreter-thread, policy, interrupt, misuse,
# pure-Rust, demo, deadlock-watchdog and soak (pending calls, forks) tests
# under ThreadSanitizer. The C library is instrumented too: build.rs adds
# -fsanitize=thread to it when the Rust build is sanitized. The set-up
# shared with ci/tsan-extension.sh (nightly with rust-src, installed if
# missing; flags; target/tsan) is ci/tsan-setup.sh.
#
#   bash ci/tsan.sh
set -euo pipefail
# shellcheck source=ci/tsan-setup.sh
source "$(dirname "$0")/tsan-setup.sh"
# Tests skip timing-ratio assertions under instrumentation (see tests/policies.rs).
export GILSCOPE_INSTRUMENTED=1
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/ci/tsan.supp ${TSAN_OPTIONS:-}"
cargo +nightly test -Zbuild-std --target "$target" \
    --test lock_contention --test interpreter_threads --test policies --test interrupt \
    --test misuse --test pure_rust --test demo --test deadlock --test soak "$@"
