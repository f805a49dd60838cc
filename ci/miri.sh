#!/usr/bin/env bash
# Run the pure-Rust core's tests (tests/pure_rust.rs: the lock, objects and
# reference counts, the pending-call queue, the VM without C calls) and the
# unit tests of the unsafe code beside it (the lock's state machine in
# src/gil/raw.rs, the per-thread event rings in src/gil/ring.rs, the
# extension handle table in src/ext/handles.rs with its identities, the VM's
# value stack in src/vm/machine/stack.rs with its raw top pointer, the kept
# object boxes in src/vm/value/heap.rs) under
# Miri, which reports undefined behaviour: data races, use after free,
# leaks, invalid pointers. Tests Miri cannot run (FFI, inline assembly) are
# marked `#[cfg_attr(miri, ignore = "...")]` with the reason. Installs Miri
# for the nightly toolchain if it is missing.
#
#   bash ci/miri.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    rustup component add miri rust-src --toolchain nightly
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/miri}"
# The interpreter thread's 256 MiB stack request is fine: Miri does not
# reserve real memory for it.
cargo +nightly miri test --test pure_rust "$@"
unit_tests=(gil::raw:: gil::ring:: ext::handles:: vm::machine::stack:: vm::value::heap::tests::freed_boxes)
# One handle test ends an interpreter while C still owns an object of it:
# the next interpreter in the slot forgets that object on purpose (its heap
# has no lock any more; src/ext/handles.rs), which Miri's leak check
# reports. It runs alone, with the leak check off; everything else with it on.
leaks_by_design=a_handle_is_refused_in_another_interpreter_and_reads_as_freed_after_its_own_ended
cargo +nightly miri test --lib "$@" -- "${unit_tests[@]}" --skip "$leaks_by_design"
MIRIFLAGS="-Zmiri-ignore-leaks ${MIRIFLAGS:-}" \
    cargo +nightly miri test --lib "$@" -- "$leaks_by_design"
