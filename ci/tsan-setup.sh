# Sourced by ci/tsan.sh and ci/tsan-extension.sh: what every
# ThreadSanitizer build of gilscope needs. Moves to the repository root;
# installs rust-src for the nightly toolchain if it is missing
# (-Zbuild-std needs it); sets `target` to the host triple and exports the
# sanitizer flags and a target directory of its own (target/tsan), so the
# instrumented build never mixes with the ordinary one.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! rustup component list --installed --toolchain nightly 2>/dev/null | grep -q '^rust-src'; then
    rustup component add rust-src --toolchain nightly
fi
target="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Zsanitizer=thread ${RUSTFLAGS:-}"
export RUSTDOCFLAGS="-Zsanitizer=thread"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/tsan}"
