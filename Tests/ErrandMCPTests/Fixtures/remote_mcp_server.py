"""A Streamable HTTP MCP server on the reference Python SDK (mcp 2.x), for the tests.

usage: remote_mcp_server.py PORT MODE [TOKEN]   (PORT 0: a free one; the port is printed once it listens)
MODE: sse (replies as event streams), json (application/json replies) or stateless (json, no session).
With TOKEN, every request must carry "Authorization: Bearer TOKEN" (401 otherwise).
"""
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

port, mode = int(sys.argv[1]), sys.argv[2]
token = sys.argv[3] if len(sys.argv) > 3 else None

server = MCPServer("errand-remote-fixture", version="1.0")


@server.tool()
def add(a: int, b: int) -> str:
    """Add two whole numbers."""
    return str(a + b)


@server.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return f"echo: {text}"


app = server.streamable_http_app(json_response=mode != "sse", stateless_http=mode == "stateless")


async def guarded(scope, receive, send):
    if token and scope["type"] == "http":
        headers = dict(scope.get("headers") or [])
        if headers.get(b"authorization") != f"Bearer {token}".encode():
            await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": b'{"error": "invalid_token"}'})
            return
    await app(scope, receive, send)


import socket

listener = socket.socket()
listener.bind(("127.0.0.1", port))
listener.listen(128)
print(listener.getsockname()[1], flush=True)
uvicorn.run(guarded, fd=listener.fileno(), log_level="warning")
