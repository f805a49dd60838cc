#!/usr/bin/env bash
# A clean ThreadSanitizer run for a C program that uses libgilscope.so.
#
# A C program built with -fsanitize=thread against the ordinary
# libgilscope.so gets race reports that are not races: the lock is taken
# and released inside the library, whose code is not instrumented, so TSan
# never sees the happens-before edges the lock creates, and every access to
# data the lock protects looks unsynchronised. This script
#
#  1. builds an instrumented libgilscope.so (nightly Rust,
#     -Zsanitizer=thread, the standard library rebuilt instrumented by
#     -Zbuild-std; the bundled C library is instrumented by build.rs);
#  2. if given C sources, compiles them with -fsanitize=thread and links
#     them with the ThreadSanitizer runtime of the same LLVM that
#     instrumented the library (the nightly toolchain's
#     librustc-nightly_rt.tsan.a) rather than the C compiler's own libtsan,
#     which may be older than the instrumentation (gcc 12's lacks
#     __tsan_memcpy); then runs the program.
#
#   bash ci/tsan-extension.sh                 # just build the library
#   bash ci/tsan-extension.sh my_ext.c ...    # build, compile, link, run
#
# Extra compiler flags go in CFLAGS. Needs the nightly toolchain with
# rust-src (installed if missing) and a C compiler with -fsanitize=thread.
set -euo pipefail
# shellcheck source=ci/tsan-setup.sh
source "$(dirname "$0")/tsan-setup.sh"
cargo +nightly build -Zbuild-std --target "$target" --lib
libdir="$CARGO_TARGET_DIR/$target/debug"
[[ "$libdir" = /* ]] || libdir="$PWD/$libdir"
echo "instrumented library: $libdir/libgilscope.so"
if [[ $# -eq 0 ]]; then
    exit 0
fi
runtime="$(rustc +nightly --print sysroot)/lib/rustlib/$target/lib/librustc-nightly_rt.tsan.a"
out="$CARGO_TARGET_DIR/tsan-extension"
objects=()
for source in "$@"; do
    object="$CARGO_TARGET_DIR/$(basename "$source" .c).tsan.o"
    # shellcheck disable=SC2086
    "${CC:-cc}" -fsanitize=thread -g -O1 -std=c99 -D_POSIX_C_SOURCE=200809L \
        -I csrc/include ${CFLAGS:-} -c "$source" -o "$object"
    objects+=("$object")
done
# No -fsanitize=thread at link time: that would pull in the C compiler's
# runtime too. The toolchain's runtime goes in whole, as rustc links it.
"${CC:-cc}" "${objects[@]}" -Wl,--whole-archive "$runtime" -Wl,--no-whole-archive \
    -L "$libdir" -lgilscope -lpthread -ldl -lm -lrt -o "$out"
echo "running $out under ThreadSanitizer"
LD_LIBRARY_PATH="$libdir" TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" "$out"
