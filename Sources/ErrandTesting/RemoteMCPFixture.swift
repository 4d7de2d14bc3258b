import ErrandProcess
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A remote MCP server for tests: the reference Python SDK's Streamable HTTP server (mcp 2.x, on uvicorn), started for
/// real on a free loopback port in one of its three modes.
///
/// - `sse`: replies come as event streams, with event ids and a 100 ms `retry:` (an event store), so that a client can
///   resume a broken stream with `Last-Event-ID`;
/// - `json`: replies come as `application/json`;
/// - `stateless`: JSON replies and no session.
///
/// Its tools: `add`, `echo`, `announce` (a notification on the GET stream), `slow` (sleeps `seconds`), `polled` (the server closes the reply's event stream before the
/// reply: a client resumes it), `broken` (the connection is cut halfway through the reply), `big` (`size` characters),
/// `ask` (asks the client for input: an elicitation request). With a `token`, every request must carry
/// `Authorization: Bearer TOKEN` (401 otherwise). Every request is logged (``requests``) as `METHOD SESSION RPC [TOOL]`.
///
/// The server exits when its stdin closes, so that one the tests could not stop (the test process was killed) does
/// not outlive them. Skip a test where ``unavailableReason`` is not nil (`pip install mcp uvicorn`).
public final class RemoteMCPFixture: Sendable {
    /// The endpoint, `http://127.0.0.1:PORT/mcp`.
    public let url: URL
    /// The port it listens on.
    public let port: Int
    /// `sse`, `json` or `stateless`.
    public let mode: String
    private let child: LongLivedChild
    private let logFile: URL
    private let stopped = Mutex(false)

    private init(url: URL, port: Int, mode: String, child: LongLivedChild, logFile: URL) {
        self.url = url
        self.port = port
        self.mode = mode
        self.child = child
        self.logFile = logFile
    }

    deinit {
        // Not waited for here; ``stop()`` waits.
        if !stopped.withLock({ $0 }) { child.kill() }
    }

    /// Why the fixture cannot run here, or nil. The check finds the packages without importing them (a few
    /// milliseconds: it runs where a test's traits are evaluated, and must not hold a thread of the cooperative pool).
    public static let unavailableReason: String? = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-c",
            """
            import importlib.util, importlib.metadata, sys
            missing = [m for m in ("mcp", "uvicorn", "pydantic") if importlib.util.find_spec(m) is None]
            sys.exit(1 if missing or int(importlib.metadata.version("mcp").split(".")[0]) < 2 else 0)
            """,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "python3 is not installed" }
        process.waitUntilExit()
        return process.terminationStatus == 0 ? nil : "the Python MCP SDK 2.x is not installed (pip install 'mcp>=2' uvicorn)"
    }()

    /// The script, written once per test process.
    private static let scriptFile: URL = {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("errand-remote-mcp-\(getpid()).py")
        try? script.write(to: file, atomically: true, encoding: .utf8)
        return file
    }()

    /// Starts a server in `mode` on `port` (0: a free one), requiring `token` when given; returns once it listens
    /// (within `timeout`: its imports take seconds on a busy machine).
    ///
    /// It is started with swift-subprocess, which closes every descriptor the child should not have: a server started
    /// with Foundation's `Process` inherits the test process's sockets and pipes of the moment (other tests' connections
    /// among them) and, living as long as the tests, keeps them open, so that their peers never see them close.
    public static func start(mode: String, token: String? = nil, port: Int = 0, timeout: Duration = .seconds(120)) async throws -> RemoteMCPFixture {
        let logFile = FileManager.default.temporaryDirectory.appendingPathComponent("errand-remote-mcp-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        var environment = ProcessInfo.processInfo.environment
        environment["ERRAND_MCP_LOG"] = logFile.path
        let child = LongLivedChild(
            executable: "/usr/bin/env", arguments: ["python3", scriptFile.path, "\(port)", mode] + (token.map { [$0] } ?? []),
            environment: environment, directory: FileManager.default.temporaryDirectory.path, stderr: { _ in })
        // The server prints its port once it listens; one that does not within the timeout is killed.
        let timer = Task {
            try await Task.sleep(for: timeout)
            child.kill()
        }
        defer { timer.cancel() }
        var line: [UInt8] = []
        do {
            for try await chunk in child.output {
                line += chunk
                if line.contains(UInt8(ascii: "\n")) { break }
            }
        } catch {}
        let printed = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let listening = Int(printed) else {
            child.kill()
            struct NotStarted: Error, CustomStringConvertible { var description: String }
            throw NotStarted(description: "the Python MCP server did not start within \(timeout) (it printed '\(printed)')")
        }
        return RemoteMCPFixture(url: URL(string: "http://127.0.0.1:\(listening)/mcp")!, port: listening, mode: mode, child: child, logFile: logFile)
    }

    /// Runs `body` with a server, stopped afterwards however `body` ends.
    public static func with<T>(
        mode: String, token: String? = nil, isolation: isolated (any Actor)? = #isolation, _ body: (RemoteMCPFixture) async throws -> T
    ) async throws -> T {
        let server = try await start(mode: mode, token: token)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// One server per mode for the whole test process, started at its first use, for tests that neither stop nor
    /// restart it: the Python start-up (seconds of imports) is paid once per mode.
    public static func shared(mode: String) async throws -> RemoteMCPFixture {
        try await SharedFixtures.instance.server(mode: mode)
    }

    /// The requests it has received since `mark` (a count of ``requests``), waiting up to `timeout` for one that
    /// `matches`; the matching line, or nil.
    public func waitForRequest(after mark: Int = 0, timeout: Duration = .seconds(10), _ matches: (String) -> Bool) async -> String? {
        let deadline = ContinuousClock.now + timeout
        repeat {
            if let line = requests.dropFirst(mark).first(where: matches) { return line }
            try? await Task.sleep(for: .milliseconds(50))
        } while ContinuousClock.now < deadline
        return nil
    }

    /// The requests it has received, in order, as `METHOD SESSION RPC [TOOL]` (`-` for no session or no JSON-RPC).
    public var requests: [String] {
        ((try? String(contentsOf: logFile, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Stops the server (its stdin closed, which it leaves on; then SIGTERM and SIGKILL to its group) and waits until it
    /// is gone. Safe to call twice.
    public func stop() async {
        guard stopped.withLock({ done in defer { done = true }; return !done }) else { return }
        await child.stop(grace: .milliseconds(500))
        try? FileManager.default.removeItem(at: logFile)
    }

    private actor SharedFixtures {
        static let instance = SharedFixtures()
        private var servers: [String: Task<RemoteMCPFixture, any Error>] = [:]

        func server(mode: String) async throws -> RemoteMCPFixture {
            if let running = servers[mode] { return try await running.value }
            let task = Task { try await RemoteMCPFixture.start(mode: mode) }
            servers[mode] = task
            do {
                return try await task.value
            } catch {
                servers[mode] = nil
                throw error
            }
        }
    }

    /// The server's source.
    static let script = #"""
"""A Streamable HTTP MCP server on the reference Python SDK (mcp 2.x), for the tests.

usage: remote_mcp_server.py PORT MODE [TOKEN]   (PORT 0: a free one; the port is printed once it listens)
MODE: sse (replies as event streams, events kept for resuming with Last-Event-ID), json (application/json replies)
or stateless (json, no session).
With TOKEN, every request must carry "Authorization: Bearer TOKEN" (401 otherwise).
With ERRAND_MCP_LOG set, each request is logged to that file as "METHOD SESSION RPC-METHOD" (SESSION and RPC-METHOD
"-" when absent), so that a test can see a DELETE or a notifications/cancelled arrive.
Tools: add, echo, slow (sleeps), polled (the server closes the reply's stream before the reply, for the client to
resume), broken (the connection is cut halfway through the reply), big (a long text), ask (asks the client for input,
which errand does not support).
"""
import asyncio
import json
import os
import socket
import sys
import threading
from collections import OrderedDict

import uvicorn
from pydantic import BaseModel
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http import EventMessage, EventStore

port, mode = int(sys.argv[1]), sys.argv[2]
token = sys.argv[3] if len(sys.argv) > 3 else None
log_path = os.environ.get("ERRAND_MCP_LOG")


class MemoryEventStore(EventStore):
    """Every event of every stream, in order, for replaying after a Last-Event-ID."""

    def __init__(self):
        self.events = OrderedDict()
        self.counter = 0

    async def store_event(self, stream_id, message):
        self.counter += 1
        event_id = str(self.counter)
        self.events[event_id] = (stream_id, message)
        return event_id

    async def replay_events_after(self, last_event_id, send_callback):
        if last_event_id not in self.events:
            return None
        stream_id = self.events[last_event_id][0]
        found = False
        for event_id, (stream, message) in self.events.items():
            if found and stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
            if event_id == last_event_id:
                found = True
        return stream_id


server = MCPServer("errand-remote-fixture", version="1.0")


@server.tool()
def add(a: int, b: int) -> str:
    """Add two whole numbers."""
    return str(a + b)


@server.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return f"echo: {text}"


@server.tool()
async def slow(seconds: float) -> str:
    """Wait, then answer."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
async def polled(text: str, ctx: Context) -> str:
    """Answer after closing the reply's event stream (the client resumes it)."""
    await ctx.close_sse_stream()
    await asyncio.sleep(0.3)
    return f"polled: {text}"


@server.tool()
def broken(text: str) -> str:
    """Answer, but the connection is cut halfway through the reply."""
    return f"broken: {text} " + "y" * 2000


@server.tool()
async def announce(ctx: Context) -> str:
    """Tell the client, unasked, that the tool list changed (on the GET stream: it is related to no request)."""
    await ctx.session.send_tool_list_changed()
    return "announced"


@server.tool()
def big(size: int) -> str:
    """A text of `size` characters."""
    return "x" * size


class Answer(BaseModel):
    text: str


@server.tool()
async def ask(question: str, ctx: Context) -> str:
    """Ask the client a question (elicitation)."""
    try:
        result = await ctx.elicit(question, schema=Answer)
        return f"answered: {result}"
    except Exception as error:  # the client does not support it
        return f"the client did not answer: {error}"


event_store = MemoryEventStore() if mode == "sse" else None
app = server.streamable_http_app(
    json_response=mode != "sse", stateless_http=mode == "stateless", event_store=event_store,
    retry_interval=100 if event_store else None)


def log(line):
    if log_path:
        with open(log_path, "a") as handle:
            handle.write(line + "\n")


async def guarded(scope, receive, send):
    if scope["type"] != "http":
        await app(scope, receive, send)
        return
    headers = dict(scope.get("headers") or [])
    if token and headers.get(b"authorization") != f"Bearer {token}".encode():
        await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"error": "invalid_token"}'})
        return
    # Read the body to log its JSON-RPC method, then hand it on.
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    rpc = "-"
    tool = None
    try:
        parsed = json.loads(body) if body else None
        if isinstance(parsed, dict):
            rpc = parsed.get("method") or ("response" if "result" in parsed or "error" in parsed else "-")
            if rpc == "tools/call":
                tool = parsed.get("params", {}).get("name")
    except ValueError:
        pass
    session = headers.get(b"mcp-session-id", b"-").decode()
    log(f"{scope['method']} {session} {rpc}{' ' + tool if tool else ''}")

    delivered = False

    async def replay():
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    if tool == "broken":
        sent = 0

        async def cutting(message):
            nonlocal sent
            if message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                if b"broken:" in chunk:
                    await send({"type": "http.response.body", "body": chunk[: len(chunk) // 2], "more_body": True})
                    raise ConnectionAbortedError("cut on purpose")
            await send(message)

        await app(scope, replay, cutting)
        return
    await app(scope, replay, send)


def exit_with_parent():
    # The tests hold this process's stdin open: when they end (however they end), it closes and the server leaves.
    sys.stdin.buffer.read()
    os._exit(0)


threading.Thread(target=exit_with_parent, daemon=True).start()

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
# Accepted sockets inherit it: without it every reply after the first on a kept-alive connection waited 40 ms for a
# delayed ACK (uvicorn on a socket it did not make does not set it).
listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
listener.bind(("127.0.0.1", port))
listener.listen(128)
print(listener.getsockname()[1], flush=True)
uvicorn.run(guarded, fd=listener.fileno(), log_level="warning")
"""#
}
