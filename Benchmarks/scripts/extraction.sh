#!/usr/bin/env bash
# Scores errand's main-content extraction on the benchmark's development half (F1, precision, recall, with the shared
# score.py) and measures its speed in one process (MB/s, release build).
#   Benchmarks/scripts/extraction.sh [DATA]      DATA defaults to ../shared/extraction-dev
set -euo pipefail
cd "$(dirname "$0")/../.."
data="${1:-../shared/extraction-dev}"
swift build -c release --product errand >/dev/null
swift build -c release --product errand-bench >/dev/null
pages="$(mktemp -d)"
trap 'rm -rf "$pages"' EXIT
for file in "$data"/html/*.html.gz; do gzip -dc "$file" > "$pages/$(basename "$file" .gz)"; done
.build/release/errand extract --jsonl "$pages"/*.html > "$pages/extracted.jsonl"
python3 - "$pages" <<'PY'
import json, os, sys
folder = sys.argv[1]
predictions = {}
with open(os.path.join(folder, "extracted.jsonl")) as lines:
    for line in lines:
        item = json.loads(line)
        predictions[os.path.basename(item["input"])[:-len(".html")]] = item["text"]
json.dump(predictions, open(os.path.join(folder, "predictions.json"), "w"))
PY
python3 "$data/score.py" --predictions "$pages/predictions.json" "${@:2}"
.build/release/errand-bench extract "$pages"
