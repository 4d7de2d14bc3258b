#!/usr/bin/env bash
# Both transports side by side, in one run, against ../shared/bench's loopback mocks: for each, the floor (the same frames
# or requests over one raw connection, no client logic), the OpenAI Agents SDK, and `errand run` (whole process: start-up,
# spec, loop, journal), each a TURNS-turn tool run chained with previous_response_id and store:false.
# Usage: ws-vs-agents-sdk.sh [ERRAND_BINARY] [TURNS] [REPEATS]   (default .build/release/errand, 200 turns, best of 5)
# BASELINE=path/to/another/errand adds that binary's figures to the same run (a change measured against what it replaced).
# Prints each side's per-turn cost over its floor, the ratios, and errand's end-to-end time on each transport.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bench=$(realpath "${BENCH_DIR:-$here/../../../shared/bench}")
bin=$(realpath "${1:-.build/release/errand}"); turns=${2:-200}; repeats=${3:-5}
[ -x "$bin" ] || { echo "no errand binary at $bin (swift build -c release --product errand)"; exit 2; }
[ -f "$bench/mock_responses_ws.py" ] || { echo "no benchmark harness at $bench (set BENCH_DIR)"; exit 2; }
pip show -q openai-agents >/dev/null 2>&1 || python3 -m pip install -q openai-agents >/dev/null
python3 -c 'import websockets' 2>/dev/null || python3 -m pip install -q websockets >/dev/null
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
http_port=$(free_port); ws_port=$(free_port)
python3 "$bench/mock_responses_server.py" "$http_port" "$turns" & http_srv=$!
python3 "$bench/mock_responses_ws.py" "$ws_port" "$turns" & ws_srv=$!
tmp=$(mktemp -d); trap 'kill $http_srv $ws_srv 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/notes"; for i in $(seq 0 "$turns"); do echo "note $i" > "$tmp/notes/$i.txt"; done
for transport in http websocket; do
  port=$http_port; [ "$transport" = websocket ] && port=$ws_port
  cat > "$tmp/$transport.json" <<JSON
{"name": "bench", "model": "mock", "instructions": "Use tools.", "tools": ["read_file"],
 "provider": {"base_url": "http://127.0.0.1:$port/v1", "api_key_env": "BENCH_KEY", "transport": "$transport"},
 "settings": {"store": false}, "limits": {"max_turns": 100000}, "workspace": {"root": "$tmp"}}
JSON
done
sleep 1
# Best of REPEATS after a warm-up, in ms, for a command that prints `ms_per_run=X` (floors and the SDK) ...
best_py() { local b=""; for r in $(seq 0 "$repeats"); do v=$("$@" | sed 's/.*ms_per_run=//'); [ "$r" -eq 0 ] && continue
  b=$(python3 -c "import sys; a=sys.argv[1]; v=float(sys.argv[2]); print(v if a=='' else min(float(a), v))" "$b" "$v"); done; echo "$b"; }
# ... and for a whole `errand run`.
best_errand() { local b="" exe="${2:-$bin}"; for r in $(seq 0 "$repeats"); do
  s=$(date +%s%N); BENCH_KEY=sk-local "$exe" run "$tmp/$1.json" go --json --journal-dir "$tmp/journals" > "$tmp/out-$1.json" 2> "$tmp/err.txt" \
    || { echo "errand run ($1) failed: $(tail -c 300 "$tmp/err.txt")" >&2; exit 1; }
  e=$(date +%s%N); ms=$(python3 -c "print(($e - $s) / 1e6)"); [ "$r" -eq 0 ] && continue
  b=$(python3 -c "import sys; a=sys.argv[1]; v=float(sys.argv[2]); print(v if a=='' else min(float(a), v))" "$b" "$ms"); done; echo "$b"; }
raw=$(best_py python3 "$bench/raw_floor.py" "$http_port" 1 "$turns")
sse=$(best_py python3 "$bench/sse_floor.py" "$http_port" 1 "$turns")
wsf=$(best_py python3 "$bench/ws_floor.py" "$ws_port" 1 "$turns")
sdk_http=$(best_py python3 "$bench/agents_sdk_run.py" "http://127.0.0.1:$http_port/v1" 1 1 stream chain)
sdk_ws=$(best_py python3 "$bench/agents_sdk_run.py" "ws://127.0.0.1:$ws_port/v1" 1 1 websocket)
errand_http=$(best_errand http)
errand_ws=$(best_errand websocket)
base_http=""; base_ws=""
if [ -n "${BASELINE:-}" ]; then base_http=$(best_errand http "$(realpath "$BASELINE")"); base_ws=$(best_errand websocket "$(realpath "$BASELINE")"); fi
python3 - "$turns" "$raw" "$sse" "$wsf" "$sdk_http" "$sdk_ws" "$errand_http" "$errand_ws" "$tmp/out-http.json" "$tmp/out-websocket.json" "$base_http" "$base_ws" <<'PY'
import json, sys
turns = int(sys.argv[1]); raw, sse, wsf, sdk_http, sdk_ws, e_http, e_ws = map(float, sys.argv[2:9])
base_http, base_ws = sys.argv[11], sys.argv[12]
n = turns + 1
for path in sys.argv[9:11]:
    out = json.load(open(path))
    assert out["status"] == "completed" and len(out["tool_calls"]) == turns, f"{path}: {out['status']}, {len(out['tool_calls'])} calls"
print(f"{turns}-turn runs, store:false, chained; best of each; ms per turn over the transport's floor")
print(f"floors: raw JSON {raw/n:.3f}, SSE {sse/n:.3f}, WebSocket {wsf/n:.3f} ms/turn")
print(f"HTTP      errand {(e_http-sse)/n:.3f}   agents-sdk (streamed) {(sdk_http-sse)/n:.3f}   ratio {(sdk_http-sse)/max(e_http-sse,1e-3):.1f}x")
print(f"WebSocket errand {(e_ws-wsf)/n:.3f}   agents-sdk (websocket) {(sdk_ws-wsf)/n:.3f}   ratio {(sdk_ws-wsf)/max(e_ws-wsf,1e-3):.1f}x")
print(f"errand end to end: HTTP {e_http:.0f} ms, WebSocket {e_ws:.0f} ms ({e_http/e_ws:.2f}x)")
if base_http:
    print(f"baseline binary: HTTP {(float(base_http)-sse)/n:.3f}, WebSocket {(float(base_ws)-wsf)/n:.3f} ms/turn over the floors "
          f"(end to end {float(base_http):.0f} and {float(base_ws):.0f} ms)")
PY
