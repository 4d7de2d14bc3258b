import AsyncHTTPClient
import ErrandMCP
import ErrandTesting
import Foundation
import Logging
import MCP
import NIOCore
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The Streamable HTTP transport against the reference Python SDK's server (mcp 2.x on uvicorn), started for real on
/// loopback in its three modes. Skipped, saying why, where `python3 -c 'import mcp, uvicorn'` fails (`.ci/run`
/// installs them). Opt-in for now (`ERRAND_MCP_HTTP_TESTS=1`): started beside the whole suite on two cores, the
/// Python servers' start-up slowed other process tests past their bounds once; they join CI with the rest of issue 25.
@Suite(
    .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["ERRAND_MCP_HTTP_TESTS"] != nil, "opt-in while issue 25 is under way: set ERRAND_MCP_HTTP_TESTS=1"),
    .enabled(if: RemoteMCPServer.available, "the Python MCP SDK is not installed (pip install mcp uvicorn)"), .timeLimit(.minutes(3)))
struct StreamableHTTPTests {
    @Test(arguments: ["sse", "json", "stateless"])
    func theSDKClientListsAndCallsToolsOverStreamableHTTP(_ mode: String) async throws {
        try await RemoteMCPServer.with(mode: mode) { server in
            let transport = StreamableHTTPTransport(url: server.url, logger: Logger(label: "test"))
            let client = Client(name: "errand-test", version: "1")
            _ = try await client.connect(transport: transport)
            let tools = try await client.listTools().tools.map(\.name).sorted()
            #expect(tools == ["add", "echo"])
            let (content, isError) = try await client.callTool(name: "add", arguments: ["a": 2, "b": 3])
            #expect(isError != true)
            guard case .text(let text, _, _)? = content.first else { Issue.record("no text: \(content)"); return }
            #expect(text == "5")
            if mode != "stateless" { #expect(await transport.sessionID != nil, "the server assigned a session") }
            await client.disconnect()
            #expect(await transport.sessionID == nil, "the session was ended with DELETE")
        }
    }

    @Test func aRefusedTokenNamesItsHeaderNeverItsValue() async throws {
        try await RemoteMCPServer.with(mode: "json", token: "right-token") { server in
            let transport = StreamableHTTPTransport(
                url: server.url, headers: ["Authorization": "Bearer wrong-token-123"], logger: Logger(label: "test"))
            let client = Client(name: "errand-test", version: "1")
            do {
                _ = try await client.connect(transport: transport)
                Issue.record("a wrong token was accepted")
            } catch {
                let message = "\(error)"
                #expect(message.contains("refused the credentials (HTTP 401); they went in the Authorization header"), "\(message)")
                #expect(!message.contains("wrong-token-123"))
            }
            await client.disconnect()

            let good = StreamableHTTPTransport(url: server.url, headers: ["Authorization": "Bearer right-token"], logger: Logger(label: "test"))
            let accepted = Client(name: "errand-test", version: "1")
            _ = try await accepted.connect(transport: good)
            #expect(try await accepted.listTools().tools.count == 2)
            await accepted.disconnect()
        }
    }

    @Test func aWebPageIsNotAnMCPServer() async throws {
        try await PageServer.withServer(["/mcp": .html("<html><body>Sign in</body></html>")]) { pages in
            let transport = StreamableHTTPTransport(url: URL(string: pages.baseURL + "/mcp")!, logger: Logger(label: "test"))
            let client = Client(name: "errand-test", version: "1")
            do {
                _ = try await client.connect(transport: transport)
                Issue.record("a web page was taken for an MCP server")
            } catch {
                #expect("\(error)".contains("not JSON or an event stream: is it an MCP endpoint?") || "\(error)".contains("answered an HTML page"), "\(error)")
            }
            await client.disconnect()
        }
    }
}

/// The Python SDK's Streamable HTTP server, run as a child process on a free loopback port.
struct RemoteMCPServer {
    let url: URL

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/remote_mcp_server.py")

    static let available: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import mcp.server.mcpserver, uvicorn"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()

    /// Runs `body` with a server in `mode` (`sse`, `json`, `stateless`), requiring `token` when given.
    static func with(mode: String, token: String? = nil, _ body: (RemoteMCPServer) async throws -> Void) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, "0", mode] + (token.map { [$0] } ?? [])
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let outcome: Result<Void, any Error>
        do {
            // The server prints its port once it listens.
            let line = await withCheckedContinuation { continuation in
                Thread.detachNewThread {
                    var data = Data()
                    while !data.contains(UInt8(ascii: "\n")) {
                        let chunk = output.fileHandleForReading.availableData
                        if chunk.isEmpty { break }
                        data.append(chunk)
                    }
                    continuation.resume(returning: String(decoding: data, as: UTF8.self))
                }
            }
            guard let port = Int(line.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw MCPError.internalError("the Python MCP server did not start (it printed '\(line)')")
            }
            let url = URL(string: "http://127.0.0.1:\(port)/mcp")!
            try await body(RemoteMCPServer(url: url))
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        // uvicorn waits for open connections on SIGTERM: a moment, then SIGKILL.
        process.terminate()
        for _ in 0..<30 where process.isRunning { try? await Task.sleep(for: .milliseconds(100)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try outcome.get()
    }
}
