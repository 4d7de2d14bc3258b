import ErrandCore
import ErrandMCP
import ErrandSpec
import ErrandTesting
import Foundation
import Logging
import MCP
import ResponsesAPI
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Remote MCP servers over Streamable HTTP: the transport under the SDK's client, and specs whose runs use them, against
/// the reference Python SDK's server (``RemoteMCPFixture``) started for real on loopback in its three modes. Skipped,
/// saying why, where the Python SDK is missing (`.ci/run` installs it).
extension MCPTests {
    @Suite(
        .enabled(if: RemoteMCPFixture.unavailableReason == nil, Comment(rawValue: RemoteMCPFixture.unavailableReason ?? "")),
        .timeLimit(.minutes(5)))
    struct RemoteMCPTests {
        static let modes = ["sse", "json", "stateless"]

        func writeSpec(_ json: String) throws -> URL {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-remote-mcp-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try "north wing, shelf 4\n".write(to: folder.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
            let file = folder.appendingPathComponent("agent.json")
            try json.write(to: file, atomically: true, encoding: .utf8)
            return file
        }

        /// The outputs a request sends back, by call id.
        func outputs(of request: RecordedRequest) -> [String: String] {
            var outputs: [String: String] = [:]
            for item in request.body?["input"]?.arrayValue ?? [] {
                if let id = item["call_id"]?.stringValue { outputs[id] = item["output"]?.stringValue ?? "" }
            }
            return outputs
        }

        @Test(arguments: modes)
        func theSDKClientListsAndCallsToolsOverStreamableHTTP(_ mode: String) async throws {
            let server = try await RemoteMCPFixture.shared(mode: mode)
            let transport = StreamableHTTPTransport(url: server.url, logger: quietLogger)
            let client = Client(name: "errand-test", version: "1")
            _ = try await client.connect(transport: transport)
            let tools = try await client.listTools().tools.map(\.name).sorted()
            #expect(tools == ["add", "announce", "ask", "big", "broken", "echo", "polled", "slow"])
            let (content, isError) = try await client.callTool(name: "add", arguments: ["a": 2, "b": 3])
            #expect(isError != true)
            guard case .text(let text, _, _)? = content.first else { Issue.record("no text: \(content)"); return }
            #expect(text == "5")
            let session = await transport.sessionID
            if mode != "stateless" {
                #expect(session != nil, "the server assigned a session")
                #expect(await transport.listening || mode != "sse", "the GET stream for what the server sends unasked is open")
            }
            await client.disconnect()
            #expect(await transport.sessionID == nil)
            if let session {
                #expect(await server.waitForRequest { $0.hasPrefix("DELETE \(session)") } != nil, "the session was ended with DELETE")
            }
        }

        /// What the server sends unasked (related to no request) comes on the GET stream the transport keeps open.
        @Test(arguments: ["sse", "json"])
        func aNotificationTheServerSendsUnaskedArrivesOnTheGETStream(_ mode: String) async throws {
            let server = try await RemoteMCPFixture.shared(mode: mode)
            let transport = StreamableHTTPTransport(url: server.url, logger: quietLogger)
            let client = Client(name: "errand-test", version: "1")
            let received = Mutex(0)
            await client.onNotification(ToolListChangedNotification.self) { _ in received.withLock { $0 += 1 } }
            _ = try await client.connect(transport: transport)
            let mark = server.requests.count
            // The GET stream is open before the call (the server can only send unasked on an open stream).
            let session = try #require(await transport.sessionID)
            _ = await server.waitForRequest(after: 0) { $0.hasPrefix("GET \(session)") }
            let listening = await transport.listening
            #expect(listening)
            let (content, _) = try await client.callTool(name: "announce", arguments: [:])
            guard case .text(let text, _, _)? = content.first else { Issue.record("no text"); return }
            #expect(text == "announced")
            let deadline = ContinuousClock.now + .seconds(10)
            while received.withLock({ $0 }) == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(received.withLock { $0 } == 1, "the notification arrived: \(server.requests.dropFirst(mark))")
            await client.disconnect()
        }

        @Test(arguments: modes)
        func aRunCallsALocalAndARemoteToolInOneTurnAndSurvivesCutStreams(_ mode: String) async throws {
            let server = try await RemoteMCPFixture.shared(mode: mode)
            let file = try writeSpec("""
                {"name": "mixed", "tools": ["read_file", {"mcp": {"name": "docs", "url": "\(server.url.absoluteString)", "timeout_seconds": 20,
                 "allow_tools": ["add", "polled", "broken", "big"], "max_output_bytes": 4096}}]}
                """)
            let spec = try AgentSpec.load(file)
            let servers = try await spec.startMCPServers(logger: quietLogger)
            let agent = try spec.agent(mcp: servers)
            #expect(agent.tools.names == ["read_file", "docs__add", "docs__polled", "docs__broken", "docs__big"])
            let session = await servers.servers.first?.remoteTransport?.sessionID
            let turns: [ScriptedTurn] = [
                .calls(.call("docs__add", ["a": 40, "b": 2], id: "c_remote"), .call("read_file", ["path": "notes.txt", "offset": .null, "limit": .null], id: "c_local")),
                .calls(
                    .call("docs__polled", ["text": "p"], id: "c_polled"), .call("docs__broken", ["text": "b"], id: "c_broken"),
                    .call("docs__big", ["size": 100_000], id: "c_big")),
                .message("The answer is 42, on shelf 4."),
            ]
            let result = try await ScriptedResponsesServer.withServer(turns) { model in
                let result = try await ResponsesClient.withClient(provider: model.provider) { client in
                    await Runner(client: client).run(agent, input: "Add 40 and 2, and read the notes.")
                }
                let requests = model.createRequests
                try #require(requests.count == 3)
                let tools = requests[0].body?["tools"]?.arrayValue ?? []
                #expect(tools.compactMap { $0["name"]?.stringValue } == ["read_file", "docs__add", "docs__polled", "docs__broken", "docs__big"])
                #expect(tools[1]["strict"] == true)
                let first = outputs(of: requests[1])
                #expect(first["c_remote"] == "42")
                #expect(first["c_local"]?.contains("north wing, shelf 4") == true)
                let second = outputs(of: requests[2])
                // The server closes the reply's event stream before the reply: the client resumes it (sse), or the
                // reply came whole (json).
                #expect(second["c_polled"] == "polled: p", "\(second["c_polled"] ?? "")")
                let broken = second["c_broken"] ?? ""
                if mode == "sse" {
                    // The connection was cut mid-event; the event stream is resumed with Last-Event-ID.
                    #expect(broken.hasPrefix("broken: b yyyy"), "\(broken.prefix(300))")
                } else {
                    #expect(broken.contains("could not run broken") && broken.contains("cut its reply short"), "\(broken.prefix(300))")
                }
                let big = second["c_big"] ?? ""
                #expect(big.hasPrefix("xxxx") && big.hasSuffix("[output cut: \(100_000 - 4096) more bytes not shown]"), "\(big.suffix(80))")
                return result
            }
            #expect(result.status == .completed)
            #expect(result.toolCalls.map(\.name) == ["docs__add", "read_file", "docs__polled", "docs__broken", "docs__big"])
            if mode == "sse" {
                #expect(server.requests.contains { $0.hasPrefix("GET \(session ?? "?")") }, "a GET resumed the stream")
            }
            await servers.stop()
            if let session {
                #expect(await server.waitForRequest { $0.hasPrefix("DELETE \(session)") } != nil, "the session was ended when the run ended")
            } else {
                #expect(mode == "stateless")
            }
        }

        @Test func aBearerTokenIsSentAndAWrongOneIsRefusedNamingItsHeaderNeverItsValue() async throws {
            try await RemoteMCPFixture.with(mode: "json", token: "right-token") { server in
                let json = """
                    {"name": "a", "tools": [{"mcp": {"name": "docs", "url": "\(server.url.absoluteString)", "headers": {"Authorization": "Bearer ${FX_TOKEN}"}}}]}
                    """
                let file = try writeSpec(json)
                let good = try AgentSpec.load(file, environment: ["FX_TOKEN": "right-token"])
                let servers = try await good.startMCPServers(logger: quietLogger)
                #expect(servers.tools.map(\.name).contains("docs__add"))
                await servers.stop()

                let wrong = try AgentSpec.load(file, environment: ["FX_TOKEN": "wrong-token-123"])
                let error = await #expect(throws: MCPStartError.self) { try await wrong.startMCPServers(logger: quietLogger) }
                #expect(error?.kind == .refused)
                let message = error.map { "\($0)" } ?? ""
                #expect(message.contains("MCP server 'docs' could not be used: http://127.0.0.1:\(server.port)/mcp refused the credentials (HTTP 401); they went in the Authorization header"), "\(message)")
                #expect(!message.contains("wrong-token-123"))

                let unset = try AgentSpec.load(file, environment: [:])
                let unsetError = await #expect(throws: MCPStartError.self) { try await unset.startMCPServers(logger: quietLogger) }
                #expect("\(unsetError.map { "\($0)" } ?? "")".contains("(FX_TOKEN was not set in errand's environment)"))
            }
        }

        @Test(arguments: modes)
        func aServerRestartedMidRunIsInitialisedAgain(_ mode: String) async throws {
            let first = try await RemoteMCPFixture.start(mode: mode)
            let current = Current(first)
            do {
                try await restartMidRun(mode, first: first, current: current)
            } catch {
                await current.server.stop()
                throw error
            }
            await current.server.stop()
        }

        func restartMidRun(_ mode: String, first: RemoteMCPFixture, current: Current) async throws {
            let file = try writeSpec("""
                {"name": "a", "tools": [{"mcp": {"name": "docs", "url": "\(first.url.absoluteString)", "allow_tools": ["add", "echo"]}}]}
                """)
            let spec = try AgentSpec.load(file)
            let servers = try await spec.startMCPServers(logger: quietLogger)
            var agent = try spec.agent(mcp: servers)
            // A Swift tool the model calls between the two MCP calls: the server goes away and comes back on the same
            // port, knowing nothing of the session.
            try agent.tools.add(RegisteredTool(
                name: "restart_server", description: "Restarts the server.", parameters: ["type": "object", "properties": [:], "required": [], "additionalProperties": false]
            ) { _, _ in
                let old = current.server
                await old.stop()
                let fresh = try await RemoteMCPFixture.start(mode: mode, port: old.port)
                current.server = fresh
                return .text("restarted")
            })
            let turns: [ScriptedTurn] = [
                .calls(.call("docs__add", ["a": 1, "b": 2], id: "c1")),
                .calls(.call("restart_server", [:], id: "c2")),
                .calls(.call("docs__echo", ["text": "again"], id: "c3")),
                .message("done"),
            ]
            try await ScriptedResponsesServer.withServer(turns) { model in
                let result = try await ResponsesClient.withClient(provider: model.provider) { client in
                    await Runner(client: client).run(agent, input: "go")
                }
                #expect(result.status == .completed)
                let requests = model.createRequests
                try #require(requests.count == 4)
                #expect(outputs(of: requests[1])["c1"] == "3")
                #expect(outputs(of: requests[3])["c3"] == "echo: again", "\(outputs(of: requests[3]))")
            }
            let transport = try #require(servers.servers.first?.remoteTransport)
            #expect(await transport.sessionRestarts == (mode == "stateless" ? 0 : 1))
            let restarted = current.server
            if mode != "stateless" {
                // The call met a 404 on the old session, the client initialised again, and the call went again.
                let lines = restarted.requests.map { $0.split(separator: " ").dropFirst(2).joined(separator: " ") }
                #expect(lines.filter { $0 != "-" } == ["tools/call echo", "initialize", "notifications/initialized", "tools/call echo"], "\(restarted.requests)")
            }
            await servers.stop()
        }

        @Test(arguments: modes)
        func aCallPastItsDeadlineIsCancelledOnTheServer(_ mode: String) async throws {
            let server = try await RemoteMCPFixture.shared(mode: mode)
            let file = try writeSpec("""
                {"name": "a", "tools": [{"mcp": {"name": "docs", "url": "\(server.url.absoluteString)", "allow_tools": ["slow"], "timeout_seconds": 1}}]}
                """)
            let spec = try AgentSpec.load(file)
            let servers = try await spec.startMCPServers(logger: quietLogger)
            let agent = try spec.agent(mcp: servers)
            let mark = server.requests.count
            let turns: [ScriptedTurn] = [.calls(.call("docs__slow", ["seconds": 30], id: "c1")), .message("gave up")]
            try await ScriptedResponsesServer.withServer(turns) { model in
                let started = ContinuousClock.now
                let result = try await ResponsesClient.withClient(provider: model.provider) { client in
                    await Runner(client: client).run(agent, input: "go")
                }
                #expect(ContinuousClock.now - started < .seconds(20))
                #expect(result.status == .completed)
                #expect(result.toolCalls.first?.isError == true)
                let output = outputs(of: model.createRequests[1])["c1"] ?? ""
                #expect(output.contains("timed out") || output.contains("1 s"), "\(output)")
            }
            #expect(await server.waitForRequest(after: mark) { $0.hasSuffix("notifications/cancelled") } != nil, "\(server.requests.dropFirst(mark))")
            await servers.stop()
        }

        @Test func aRequestTheClientDoesNotSupportIsAnsweredNotLeftOpen() async throws {
            let server = try await RemoteMCPFixture.shared(mode: "sse")
            let configuration = MCPServerConfiguration(name: "docs", url: server.url, allowTools: ["ask"], callTimeout: .seconds(15))
            try await MCPServers.with([configuration], logger: quietLogger) { servers in
                let tool = try #require(servers.tools.first)
                let started = ContinuousClock.now
                let output = try await tool.call(arguments: ["question": "Which colour?"], context: ToolContext(runID: "r", callID: "c", workspace: nil, logger: quietLogger))
                #expect(ContinuousClock.now - started < .seconds(10), "answered, not left to time out")
                #expect("\(output)".contains("the client did not answer"), "\(output)")
            }
        }

        @Test func aURLWhereNothingListensEndsTheRunBeforeAnyModelCallOrIsSkippedWhenOptional() async throws {
            let port = unusedPort()
            let url = URL(string: "http://127.0.0.1:\(port)/mcp")!
            let error = await #expect(throws: MCPStartError.self) {
                _ = try await MCPServers.start([MCPServerConfiguration(name: "docs", url: url, startTimeout: .seconds(10))], logger: quietLogger)
            }
            #expect(error?.kind == .unreachable)
            let said = error.map { "\($0)" } ?? ""
            #expect(said.contains("MCP server 'docs' could not be used: http://127.0.0.1:\(port)/mcp could not be reached"), "\(said)")
            #expect(said.hasSuffix("check that the server runs and that the spec's url is right"), "\(said)")
            let skipped = try await MCPServers.start([MCPServerConfiguration(name: "docs", url: url, isOptional: true)], logger: quietLogger)
            #expect(skipped.servers.isEmpty)
            #expect(skipped.skipped.first?.contains("could not be reached") == true)
        }

        /// An event stream that ends before the reply, with no event id to resume from, fails the request at once,
        /// and the reason reaches the caller (the swift-sdk keeps it only from the error's `data.detail`).
        @Test func aReplyStreamThatEndsWithoutTheReplyFailsWithTheReason() async throws {
            let stream = PageServer.Page(headers: ["Content-Type": "text/event-stream"], body: Data(": nothing more\n\n".utf8))
            try await PageServer.withServer(["/mcp": stream]) { pages in
                let configuration = MCPServerConfiguration(name: "docs", url: URL(string: pages.baseURL + "/mcp")!, startTimeout: .seconds(10))
                let started = ContinuousClock.now
                let error = await #expect(throws: MCPStartError.self) { _ = try await MCPServers.start([configuration], logger: quietLogger) }
                #expect(ContinuousClock.now - started < .seconds(5), "failed at once, not at the start-up timeout")
                let said = error.map { "\($0)" } ?? ""
                #expect(said.contains("the MCP server's event stream for initialize ended before its reply: the server closed it"), "\(said)")
            }
        }

        @Test func aWebPageIsNotAnMCPServerAndARedirectIsReportedNotFollowed() async throws {
            let routes: [String: PageServer.Page] = [
                "/mcp": .html("<html><body>Sign in</body></html>"), "/moved": .redirect(to: "https://elsewhere.example/mcp", status: 307),
            ]
            try await PageServer.withServer(routes) { pages in
                let configuration = MCPServerConfiguration(name: "docs", url: URL(string: pages.baseURL + "/mcp")!)
                let error = await #expect(throws: MCPStartError.self) { _ = try await MCPServers.start([configuration], logger: quietLogger) }
                #expect(error?.kind == .handshake)
                let message = error.map { "\($0)" } ?? ""
                #expect(message.contains("not JSON or an event stream: is it an MCP endpoint?") || message.contains("answered an HTML page"), "\(message)")

                // Following a redirect would take the token along to wherever it points.
                let moved = MCPServerConfiguration(
                    name: "docs", url: URL(string: pages.baseURL + "/moved")!, headers: ["Authorization": "Bearer tok-not-for-elsewhere"])
                let redirected = await #expect(throws: MCPStartError.self) { _ = try await MCPServers.start([moved], logger: quietLogger) }
                let said = redirected.map { "\($0)" } ?? ""
                #expect(said.contains("redirects (HTTP 307) to https://elsewhere.example/mcp; errand does not follow it"), "\(said)")
                #expect(!said.contains("tok-not-for-elsewhere"))
            }
        }
    }
}

/// The server of a test that restarts it.
final class Current: Sendable {
    private let value: Mutex<RemoteMCPFixture>
    init(_ server: RemoteMCPFixture) { value = Mutex(server) }
    var server: RemoteMCPFixture {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

/// A loopback port nothing listens on (bound, then closed).
func unusedPort() -> Int {
    #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
    let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
