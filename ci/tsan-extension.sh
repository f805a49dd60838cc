#!/usr/bin/env bash
# A clean ThreadSanitizer run for a C program that uses libgilscope.so.
#
# A C program built with -fsanitize=thread against the ordinary
# libgilscope.so sees data races that are not there: the lock is taken and
# released inside the library, whose code is not instrumented, so TSan
# never sees the happens-before edges the lock creates and reports every
# access to data the lock protects. This script builds an instrumented
# libgilscope.so (nightly Rust, -Zsanitizer=thread, with the standard
# library rebuilt instrumented by -Zbuild-std), then, if given C sources,
# compiles them with -fsanitize=thread against it and runs the program.
#
#   bash ci/tsan-extension.sh                      # just build the library
#   bash ci/tsan-extension.sh my_ext.c [cc flags]  # build, compile, run
#
# Needs the nightly toolchain with rust-src (installed if missing) and a C
# compiler with ThreadSanitizer (gcc's libtsan or clang).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup component list --installed --toolchain nightly 2>/dev/null | grep -q '^rust-src'; then
    rustup component add rust-src --toolchain nightly
fi
target="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Zsanitizer=thread ${RUSTFLAGS:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/tsan}"
cargo +nightly build -Zbuild-std --target "$target" --lib
libdir="$PWD/$CARGO_TARGET_DIR/$target/debug"
[[ "$CARGO_TARGET_DIR" = /* ]] && libdir="$CARGO_TARGET_DIR/$target/debug"
echo "instrumented library: $libdir/libgilscope.so"
if [[ $# -eq 0 ]]; then
    exit 0
fi
out="$CARGO_TARGET_DIR/tsan-extension"
"${CC:-cc}" -fsanitize=thread -g -O1 -std=c99 -D_POSIX_C_SOURCE=200809L \
    -I csrc/include "$@" -L "$libdir" -lgilscope -lpthread -o "$out"
echo "running $out under ThreadSanitizer"
LD_LIBRARY_PATH="$libdir" TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" "$out"
