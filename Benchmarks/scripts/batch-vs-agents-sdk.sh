#!/usr/bin/env bash
# Many runs at once, in one run of this script, against the shared loopback mock server (../../../shared/bench):
# the floor (raw sockets, the same chained requests, CONCURRENCY at once), the OpenAI Agents SDK (asyncio.gather over
# RUNS runs, chained), and `errand batch` (one process: start-up, spec, RUNS journaled runs, CONCURRENCY at once).
# Usage: batch-vs-agents-sdk.sh [ERRAND_BINARY] [RUNS] [TURNS] [CONCURRENCY]   (defaults: .build/release/errand 100 50 100)
# Prints each side's wall time, throughput, time over the floor per turn, and errand's peak resident memory.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
shared=${ERRAND_SHARED_BENCH:-$(cd "$here/../../.." && pwd)/shared/bench}
bin=$(realpath "${1:-.build/release/errand}"); runs=${2:-100}; turns=${3:-50}; conc=${4:-100}
[ -x "$bin" ] || { echo "no errand binary at $bin (swift build -c release)"; exit 2; }
[ -f "$shared/mock_responses_server.py" ] || { echo "no mock server in $shared (set ERRAND_SHARED_BENCH)"; exit 2; }
pip show -q openai-agents >/dev/null 2>&1 || python3 -m pip install -q openai-agents >/dev/null
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
python3 "$shared/mock_responses_server.py" "$port" "$turns" & srv=$!
tmp=$(mktemp -d); trap 'kill $srv 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/notes"; for i in $(seq 0 "$turns"); do echo "note $i" > "$tmp/notes/$i.txt"; done
cat > "$tmp/spec.json" <<JSON
{"name": "bench", "model": "mock", "instructions": "Use tools.", "tools": ["read_file"],
 "provider": {"base_url": "http://127.0.0.1:$port/v1", "api_key_env": "BENCH_KEY"},
 "limits": {"max_turns": 100000}, "workspace": {"root": "$tmp"}}
JSON
for i in $(seq 1 "$runs"); do echo "{\"id\": \"run-$i\", \"task\": \"go\"}"; done > "$tmp/tasks.jsonl"
sleep 0.7
floor=$(python3 "$here/concurrent_floor.py" "$port" "$runs" "$turns" "$conc" | sed 's/.*wall_s=//')
sdk=$(python3 "$shared/agents_sdk_run.py" "http://127.0.0.1:$port/v1" "$runs" "$conc" chain | sed 's/.*wall_s=\([0-9.]*\).*/\1/')
best=""; rss=""
for r in 1 2 3; do
  rm -rf "$tmp/j"
  s=$(date +%s%N)
  BENCH_KEY=sk-local /usr/bin/time -f "%M" -o "$tmp/rss" "$bin" batch "$tmp/spec.json" "$tmp/tasks.jsonl" --concurrency "$conc" \
    --journal-dir "$tmp/j" > "$tmp/out.jsonl" 2> "$tmp/err.txt" || { echo "errand batch failed: $(tail -c 400 "$tmp/err.txt")"; exit 1; }
  e=$(date +%s%N); ms=$(( (e - s) / 1000000 ))
  { [ -z "$best" ] || [ "$ms" -lt "$best" ]; } && { best=$ms; rss=$(tail -1 "$tmp/rss"); }
done
python3 - "$floor" "$sdk" "$best" "$rss" "$runs" "$turns" "$conc" "$tmp/out.jsonl" <<'PY'
import json, sys
floor, sdk, errand_ms, rss = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
runs, turns, conc = map(int, sys.argv[5:8])
lines = [json.loads(l) for l in open(sys.argv[8])]
summary = lines[-1]
done = summary["statuses"]["completed"]
errand = errand_ms / 1000
requests = runs * (turns + 1)
print(f"{runs} runs x {turns} tool turns, {conc} at once ({requests} requests)")
print(f"floor (raw sockets, asyncio): {floor:.2f} s, {requests / floor:.0f} requests/s")
print(f"agents-sdk (asyncio.gather, chained): {sdk:.2f} s, {runs / sdk:.1f} runs/s, {1000 * (sdk - floor) / requests:.3f} ms/request over the floor")
print(f"errand batch (whole process, journaled): {errand:.2f} s, {runs / errand:.1f} runs/s, {1000 * (errand - floor) / requests:.3f} ms/request over the floor; "
      f"{done}/{runs} completed; peak RSS {rss / 1024:.0f} MB")
print(f"throughput ratio (errand over agents-sdk): {sdk / errand:.1f}x; over the floor: {(sdk - floor) / max(errand - floor, 0.001):.1f}x")
PY
