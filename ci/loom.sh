#!/usr/bin/env bash
# Model-check the lock's state machine (src/gil/raw.rs) with loom: mutual
# exclusion, no lost wake-up, no deadlock, drop requests honoured, for 2 and
# 3 threads under every policy; two interpreters' locks (each excludes its
# own, never each other's; a thread moving between them); the pending-call
# queue; the interpreter slots' claim protocol (src/gil/slot.rs). See
# src/gil/loom_tests.rs. About 35 s on 2 cores.
#
#   bash ci/loom.sh                     # LOOM_MAX_PREEMPTIONS=3 by default
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom}"
cargo test --release --lib gil::loom_tests -- --test-threads=1
