#!/usr/bin/env bash
# Regenerate the pictures of docs/observing.md and docs/performance.md and
# look at them in a real browser: record the scripts, draw the SVGs, and
# screenshot them with headless Chromium (installed from Debian's packages
# if missing).
#
#   bash ci/render_timeline.sh
#
# writes docs/images/timeline.{trace.json,svg,png} (examples/observe.toy) and
# docs/images/convoy-{cpython,fair}.{svg,png} (examples/convoy.toy under each
# policy; their traces, ~20 MB each, go to target/ and are not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
out=docs/images
mkdir -p "$out" target/traces
./target/release/gilscope run --stats --trace "$out/timeline.trace.json" examples/observe.toy
./target/release/gilscope timeline "$out/timeline.trace.json" -o "$out/timeline.svg" \
    --title "examples/observe.toy: four threads and one lock"
for policy in cpython fair; do
    ./target/release/gilscope run --stats --policy "$policy" \
        --trace "target/traces/convoy-$policy.json" examples/convoy.toy
    ./target/release/gilscope timeline "target/traces/convoy-$policy.json" \
        -o "$out/convoy-$policy.svg" \
        --title "examples/convoy.toy under --policy $policy: 20,000 short releasing calls beside a CPU-bound thread"
done
if ! command -v chromium >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
screenshot() {
    local profile
    profile=$(mktemp -d)
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --hide-scrollbars --window-size="$2" \
        --screenshot="$PWD/$out/$1.png" "file://$PWD/$out/$1.svg" 2>/dev/null
    rm -rf "$profile"
}
screenshot timeline 1200,260
screenshot convoy-cpython 1200,230
screenshot convoy-fair 1200,230
echo "wrote $out/timeline.{trace.json,svg,png} and $out/convoy-{cpython,fair}.{svg,png}"
