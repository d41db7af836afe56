#!/usr/bin/env bash
# Builds the PyInstaller bundle and proves it starts: renders the window to a PNG.
set -euo pipefail
cd "$(dirname "$0")/.."
make app
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The check's data, spool and window settings stay in its own folder, not the user's.
export STUDIO_ANALYTICS_HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/config"
./dist/studio-analytics/studio-analytics db upgrade --db "$tmp/m.sqlite3"
./dist/studio-analytics/studio-analytics demo --db "$tmp/m.sqlite3" --executions 300 --days 2 --seed 3
QT_QPA_PLATFORM=offscreen ./dist/studio-analytics/studio-analytics --db "$tmp/m.sqlite3" \
    --screenshot "$tmp/bundle.png" --size 1000x700
size=$(stat -c %s "$tmp/bundle.png")
[ "$size" -gt 20000 ] || { echo "bundle screenshot too small ($size bytes)"; exit 1; }
echo "bundle OK: screenshot $size bytes, bundle $(du -sh dist/studio-analytics | cut -f1)"
