#!/usr/bin/env bash
# One run of TURNS tool turns, side by side in one run of this script, against the shared loopback mock server
# (../../../shared/bench): the raw-socket floors (JSON and streamed), the OpenAI Agents SDK (JSON, chained) and
# `errand run` as a whole process (start-up, spec, loop, journal), streamed and JSON. A second mock server that answers
# at once (0 tool turns) gives errand's one-request time, so the per-turn figure can be told apart from start-up.
# Usage: run-vs-agents-sdk.sh [ERRAND_BINARY] [TURNS]   (defaults: .build/release/errand 200; build with -c release)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
shared=${ERRAND_SHARED_BENCH:-$(cd "$here/../../.." && pwd)/shared/bench}
bin=$(realpath "${1:-.build/release/errand}"); turns=${2:-200}
[ -x "$bin" ] || { echo "no errand binary at $bin (swift build -c release)"; exit 2; }
[ -f "$shared/mock_responses_server.py" ] || { echo "no mock server in $shared (set ERRAND_SHARED_BENCH)"; exit 2; }
pip show -q openai-agents >/dev/null 2>&1 || python3 -m pip install -q openai-agents >/dev/null
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
port=$(free_port); port0=$(free_port)
python3 "$shared/mock_responses_server.py" "$port" "$turns" & srv=$!
python3 "$shared/mock_responses_server.py" "$port0" 0 & srv0=$!
tmp=$(mktemp -d); trap 'kill $srv $srv0 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/notes"; for i in $(seq 0 "$turns"); do echo "note $i" > "$tmp/notes/$i.txt"; done
spec() {  # spec PORT STREAM [DURABILITY]
  echo "{\"name\": \"bench\", \"model\": \"mock\", \"instructions\": \"Use tools.\", \"tools\": [\"read_file\"],
 \"provider\": {\"base_url\": \"http://127.0.0.1:$1/v1\", \"api_key_env\": \"BENCH_KEY\"}, \"settings\": {\"stream\": $2}, \"journal\": {\"durability\": \"${3:-process}\"},
 \"limits\": {\"max_turns\": 100000}, \"workspace\": {\"root\": \"$tmp\"}}"
}
spec "$port" true > "$tmp/sse.json"; spec "$port" false > "$tmp/json.json"; spec "$port0" true > "$tmp/one.json"; spec "$port" true power > "$tmp/power.json"
sleep 0.7
floor=$(python3 "$shared/raw_floor.py" "$port" 3 "$turns" | sed 's/.*ms_per_run=//')
sse=$(python3 "$shared/sse_floor.py" "$port" 3 "$turns" | sed 's/.*ms_per_run=//')
sdk=$(python3 "$shared/agents_sdk_run.py" "http://127.0.0.1:$port/v1" 3 1 chain | sed 's/.*ms_per_run=//')
best() {  # best SPEC ROUNDS: the fastest of ROUNDS whole-process runs after one warm-up, in ms
  local b="" s e ms
  for r in $(seq 0 "$2"); do
    rm -rf "$tmp/j"
    s=$(date +%s%N)
    BENCH_KEY=${BENCH_KEY_VALUE:-sk-local} "$bin" run "$1" go --json --journal-dir "$tmp/j" > "$tmp/out.json" 2> "$tmp/err.txt" \
      || { echo "errand run failed: $(tail -c 300 "$tmp/err.txt")" >&2; exit 1; }
    e=$(date +%s%N); ms=$(( (e - s) / 1000 ))
    [ "$r" -eq 0 ] && continue
    { [ -z "$b" ] || [ "$ms" -lt "$b" ]; } && b=$ms
  done
  echo "$b"
}
e_sse=$(best "$tmp/sse.json" 4); cp "$tmp/out.json" "$tmp/out-sse.json"
e_json=$(best "$tmp/json.json" 4)
e_one=$(best "$tmp/one.json" 9)
e_power=$(best "$tmp/power.json" 4)
python3 - "$floor" "$sse" "$sdk" "$e_sse" "$e_json" "$e_one" "$turns" "$tmp/out-sse.json" "$e_power" <<'PY'
import json, sys
floor, sse, sdk = map(float, sys.argv[1:4])
e_sse, e_json, e_one = (float(x) / 1000 for x in sys.argv[4:7])
turns = int(sys.argv[7]); n = turns + 1
out = json.load(open(sys.argv[8]))
assert out.get("status") == "completed" and len(out.get("tool_calls", [])) == turns, out.get("status")
print(f"{turns} tool turns ({n} requests), one process each; best of 4 after a warm-up")
print(f"floor (raw socket): JSON {floor/n:.3f} ms/turn, streamed {sse/n:.3f} ms/turn")
print(f"agents-sdk (JSON, chained):        {(sdk-floor)/n:.3f} ms/turn over the JSON floor")
print(f"errand run (JSON, journaled):      {(e_json-floor)/n:.3f} ms/turn over the JSON floor "
      f"({(e_json-e_one-floor*turns/n)/turns:.3f} without start-up)")
print(f"errand run (streamed, journaled):  {(e_sse-sse)/n:.3f} ms/turn over the streamed floor "
      f"({(e_sse-e_one-sse*turns/n)/turns:.3f} without start-up)")
print(f"errand one-request run (start-up): {e_one:.1f} ms")
e_power = float(sys.argv[9]) / 1000
print(f"errand run (streamed, journal durability power): {(e_power-sse)/n:.3f} ms/turn over the streamed floor, "
      f"{(e_power-e_sse)/n:+.3f} ms/turn beside the default (process)")
print(f"ratio over the floor, agents-sdk / errand: JSON {(sdk-floor)/max(e_json-floor, 1e-3):.1f}x, "
      f"streamed errand vs JSON sdk {(sdk-floor)/max(e_sse-sse, 1e-3):.1f}x")
PY
