#!/usr/bin/env bash
# Regenerate the example picture of docs/observing.md and look at it in a
# real browser: record examples/observe.toy, draw the SVG, and screenshot it
# with headless Chromium (installed from Debian's packages if missing).
#
#   bash ci/render_timeline.sh        # writes docs/images/timeline.{trace.json,svg,png}
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
out=docs/images
mkdir -p "$out"
./target/release/gilscope run --stats --trace "$out/timeline.trace.json" examples/observe.toy
./target/release/gilscope timeline "$out/timeline.trace.json" -o "$out/timeline.svg" \
    --title "examples/observe.toy: four threads and one lock"
if ! command -v chromium >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
profile=$(mktemp -d)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --window-size=1200,260 \
    --screenshot="$PWD/$out/timeline.png" "file://$PWD/$out/timeline.svg" 2>/dev/null
rm -rf "$profile"
echo "wrote $out/timeline.trace.json, $out/timeline.svg and $out/timeline.png"
