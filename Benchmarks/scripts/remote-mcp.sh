#!/usr/bin/env bash
# Remote MCP calls over Streamable HTTP: errand's client (errand-bench mcp) beside the reference Python SDK's client,
# against the same reference Python server (the test fixture of Sources/ErrandTesting/RemoteMCPFixture.swift), in its
# three modes, in one run. usage: Benchmarks/scripts/remote-mcp.sh [calls]   (needs: pip install "mcp>=2" uvicorn)
set -euo pipefail
cd "$(dirname "$0")/../.."
calls="${1:-300}"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
python3 - "$work/server.py" <<'PY'
import sys
source = open("Sources/ErrandTesting/RemoteMCPFixture.swift").read()
open(sys.argv[1], "w").write(source.split('static let script = #"""\n')[1].split('"""#')[0])
PY
swift build -c release --product errand-bench >/dev/null
for mode in sse json stateless; do
  mkfifo "$work/port-$mode"
  sleep 100000 | python3 "$work/server.py" 0 "$mode" > "$work/port-$mode" 2>/dev/null &
  port="$(head -n 1 "$work/port-$mode")"
  echo "== $mode (http://127.0.0.1:$port/mcp, $calls calls)"
  .build/release/errand-bench mcp "http://127.0.0.1:$port/mcp" "$calls"
  python3 Benchmarks/scripts/mcp_client_bench.py "http://127.0.0.1:$port/mcp" "$calls"
done
