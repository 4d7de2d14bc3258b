#!/usr/bin/env bash
# Scores `errand extract` on both development corpora at once (../shared/extraction-dev and extraction-dev2), per
# source, beside trafilatura's and readability-lxml's saved predictions, and times the whole process over all pages.
#   Benchmarks/scripts/extraction-all.sh [BINARY]     (default .build/release/errand; build with -c release first)
# Environment: KEEP=DIR keeps the pages and predictions in DIR; ARGS adds score.py arguments (e.g. "--worst 10").
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(realpath "${1:-$root/.build/release/errand}")
shared=${ERRAND_SHARED:-$(cd "$root/.." && pwd)/shared}
dev1=$shared/extraction-dev; dev2=$shared/extraction-dev2
work=${KEEP:-$(mktemp -d)}; mkdir -p "$work/dev1" "$work/dev2"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
for corpus in dev1 dev2; do
  src=$([ $corpus = dev1 ] && echo "$dev1" || echo "$dev2")
  if [ -z "$(ls "$work/$corpus" | head -1)" ]; then
    for f in "$src"/html/*.html.gz; do gzip -dc "$f" > "$work/$corpus/$(basename "$f" .gz)"; done
  fi
done
predict() {  # predict CORPUS OUT.json: errand extract --format text --jsonl over the corpus, as {id: text}
  "$bin" extract --format text --jsonl "$work/$1"/*.html > "$work/$1.jsonl"
  python3 - "$work/$1.jsonl" "$2" <<'PY'
import json, os, sys
out = {}
for line in open(sys.argv[1]):
    item = json.loads(line)
    out[os.path.basename(item["input"])[:-len(".html")]] = item.get("text", "")
json.dump(out, open(sys.argv[2], "w"))
PY
}
predict dev1 "$work/errand-dev1.json"; predict dev2 "$work/errand-dev2.json"
echo "== extraction-dev (scrapinghub dev half, 91 pages; trafilatura 0.965, readability-lxml 0.963 per its README)"
python3 "$dev1/score.py" --predictions "$work/errand-dev1.json" | grep -E "F1|precision|recall" | head -4
echo "== extraction-dev2: errand"
python3 "$dev2/score.py" --predictions "$work/errand-dev2.json" ${ARGS:-} | grep -v "^$"
echo "== extraction-dev2: errand against trafilatura (paired)"
python3 "$dev2/score.py" --predictions "$work/errand-dev2.json" --against "$dev2/results/trafilatura.json.gz" | grep -v "^$" | tail -8
echo "== metadata"
python3 "$(dirname "$0")/metadata-report.py" "$dev1/ground-truth.json" "$work/dev1.jsonl" "$dev2/ground-truth.json" "$work/dev2.jsonl"
echo "== speed: whole process, all $(ls "$work"/dev1/*.html "$work"/dev2/*.html | wc -l) pages"
bytes=$(cat "$work"/dev1/*.html "$work"/dev2/*.html | wc -c)
best=999999
for r in 1 2 3; do
  s=$(date +%s%N); "$bin" extract --format text --jsonl "$work"/dev1/*.html "$work"/dev2/*.html > /dev/null; e=$(date +%s%N)
  ms=$(( (e - s) / 1000000 )); [ $ms -lt $best ] && best=$ms
done
python3 -c "print(f'{$bytes/1e6:.1f} MB in {$best} ms (best of 3): {$bytes/1e6/($best/1000):.1f} MB/s')"
