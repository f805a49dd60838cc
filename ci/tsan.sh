#!/usr/bin/env bash
# Run the contention, interpreter-thread, policy, interrupt, misuse, C-boundary
# (signals, forks, thread exit, longjmp), interpreters, channel-interrupt,
# pure-Rust, demo, deadlock-watchdog and soak (pending calls, forks) tests
# under ThreadSanitizer. The C library is instrumented too: build.rs adds
# -fsanitize=thread to it when the Rust build is sanitized. The set-up
# shared with ci/tsan-extension.sh (nightly with rust-src, installed if
# missing; flags; target/tsan) is ci/tsan-setup.sh. Extension calls run
# here in the soak; tests/fork.rs does not run here: its children start
# threads after a multi-threaded fork, which TSan does not support (it
# kills such a child, "starting new threads after multi-threaded fork is
# not supported", or, told not to, stops checking in it).
#
#   bash ci/tsan.sh
set -euo pipefail
# shellcheck source=ci/tsan-setup.sh
source "$(dirname "$0")/tsan-setup.sh"
# tests/c_boundary.rs instruments its C program and links this runtime.
export GILSCOPE_TSAN_RUNTIME="$(rustc +nightly --print sysroot)/lib/rustlib/$target/lib/librustc-nightly_rt.tsan.a"
# Tests that panic on purpose would symbolise a backtrace each, which under
# TSan on a loaded machine took longer than their watchdog.
export RUST_BACKTRACE=0
# Tests skip timing-ratio assertions under instrumentation (see tests/policies.rs).
export GILSCOPE_INSTRUMENTED=1
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/ci/tsan.supp ${TSAN_OPTIONS:-}"
cargo +nightly test -Zbuild-std --target "$target" \
    --test lock_contention --test interpreter_threads --test policies --test interrupt \
    --test misuse --test pure_rust --test demo --test deadlock --test soak \
    --test c_boundary --test interpreters --test channel_interrupt "$@"
