import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Ctrl-C and SIGTERM at each step of a run, as real processes: an orderly stop, the journal written when there is a
/// run, exit 130 (SIGINT) or 143 (SIGTERM), and no child process left.
@Suite(.serialized, .timeLimit(.minutes(5))) struct SignalTests {
    enum Phase: String, CaseIterable, Sendable {
        case modelCall, mcpServersStarting, commandToolCall, mcpToolCall
    }

    struct Case: Sendable, CustomStringConvertible {
        var phase: Phase
        var signal: Int32
        var description: String { "\(phase.rawValue) \(signal == SIGINT ? "SIGINT" : "SIGTERM")" }
    }

    static let cases = Phase.allCases.flatMap { phase in [SIGINT, SIGTERM].map { Case(phase: phase, signal: $0) } }

    @Test(arguments: cases)
    func aSignalStopsTheRunInOrder(_ test: Case) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-signal-\(UUID().uuidString)")
        let journals = folder.appendingPathComponent("journals")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("work"), withIntermediateDirectories: true)
        let tag = "signal-\(UUID().uuidString.prefix(8))"
        let fixture = ErrandBinary.fixture
        try #"""
            {"name": "sleeper", "description": "Sleep a while.", "parameters": {"type": "object", "properties": {}},
             "command": ["sh", "-c", "sleep 60; echo \#(tag)"], "timeout_seconds": 120}
            """#.write(to: folder.appendingPathComponent("sleeper.json"), atomically: true, encoding: .utf8)
        var tools = #"[{"manifest": "sleeper.json"}, {"mcp": {"name": "fx", "command": ["\#(fixture)", "--tag", "\#(tag)"], "allow_tools": ["slow"]}}]"#
        if test.phase == .mcpServersStarting {
            // Two servers starting at once, one of which never answers initialize.
            tools = #"[{"mcp": {"name": "fx", "command": ["\#(fixture)", "--tag", "\#(tag)"]}}, {"mcp": {"name": "mute", "command": ["\#(fixture)", "--silent", "--tag", "\#(tag)"], "start_timeout_seconds": 60}}]"#
        }
        let spec = folder.appendingPathComponent("agent.json")
        try #"{"name": "stoppable", "model": "m", "tools": \#(tools), "workspace": {"root": "work"}}"#.write(to: spec, atomically: true, encoding: .utf8)
        let turn: ScriptedTurn = switch test.phase {
        case .modelCall, .mcpServersStarting: ScriptedTurn.message("too late").delayed(by: .seconds(60))
        case .commandToolCall: .calls(.call("sleeper", [:], id: "call_sleep"))
        case .mcpToolCall: .calls(.call("fx__slow", ["seconds": 60], id: "call_slow"))
        }
        try await ScriptedResponsesServer.withServer([turn, .message("never")]) { server in
            let running = try Launched(
                ["run", spec.path, "go", "--journal-dir", journals.path, "--base-url", server.baseURL], environment: ["OPENAI_API_KEY": "k"])
            func ready() -> Bool {
                switch test.phase {
                case .modelCall: !server.createRequests.isEmpty
                case .mcpServersStarting: ProcessList.processes(withCommandLineContaining: tag).count == 2
                case .commandToolCall: ProcessList.processes(withCommandLineContaining: tag).count >= 2  // the server, the shell
                case .mcpToolCall: (try? String(contentsOf: journals.appendingPathComponent(
                    (try? FileManager.default.contentsOfDirectory(atPath: journals.path).first) ?? "none"), encoding: .utf8).contains("tool_started")) == true
                }
            }
            // Checked every 100 ms: listing processes reads /proc, which is not free on a loaded machine.
            try await waitUntil("\(test): the run to get to the step", pollEvery: .milliseconds(100)) { ready() }
            try await Task.sleep(for: .milliseconds(300))  // well into the step
            kill(running.process.processIdentifier, test.signal)
            let result = await running.wait()
            #expect(result.status == (test.signal == SIGINT ? 130 : 143), "\(test): \(result.stderr)")
            #expect(result.stderr.contains("interrupted"), "\(test)")
            #expect(ProcessList.processes(withCommandLineContaining: tag).isEmpty, "\(test): no child outlives errand")
            if test.phase != .mcpServersStarting {
                let files = try FileManager.default.contentsOfDirectory(atPath: journals.path)
                let journal = try String(contentsOf: journals.appendingPathComponent(try #require(files.first)), encoding: .utf8)
                #expect(journal.contains(#""type":"run_finished""#) && journal.contains(#""status":"cancelled""#), "\(test)")
            } else {
                #expect(server.createRequests.isEmpty, "no model call before the servers are up")
            }
        }
    }

    @Test func ctrlCOverWebSocketClosesTheConnectionAndTheJournalSaysCancelled() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-signal-\(UUID().uuidString)")
        let journals = folder.appendingPathComponent("journals")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let spec = folder.appendingPathComponent("agent.json")
        try #"{"name": "ws", "model": "m", "provider": {"transport": "websocket"}, "settings": {"store": false}}"#.write(to: spec, atomically: true, encoding: .utf8)
        try await ScriptedResponsesServer.withServer([ScriptedTurn.message("too late").delayed(by: .seconds(60))]) { server in
            let running = try Launched(
                ["run", spec.path, "go", "--journal-dir", journals.path, "--base-url", server.baseURL], environment: ["OPENAI_API_KEY": "k"])
            try await waitUntil("the response.create frame") { !server.createRequests.isEmpty }
            #expect(server.openWebSocketConnections == 1)
            kill(running.process.processIdentifier, SIGINT)
            let result = await running.wait()
            #expect(result.status == 130, "\(result.stderr)")
            try await waitUntil("errand's WebSocket to be closed", timeout: .seconds(5)) { server.openWebSocketConnections == 0 }
            #expect(server.createRequests.first?.webSocketConnection == 1)
            let files = try FileManager.default.contentsOfDirectory(atPath: journals.path)
            let journal = try String(contentsOf: journals.appendingPathComponent(try #require(files.first)), encoding: .utf8)
            #expect(journal.contains(#""type":"connection""#))
            #expect(journal.contains(#""type":"run_finished""#) && journal.contains(#""status":"cancelled""#), "\(journal)")
        }
    }

    @Test func aSecondCtrlCKillsTheServersAtOnce() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-signal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let tag = "twice-\(UUID().uuidString.prefix(8))"
        let fixture = ErrandBinary.fixture
        let spec = folder.appendingPathComponent("agent.json")
        try #"{"name": "twice", "model": "m", "tools": [{"mcp": {"name": "fx", "command": ["\#(fixture)", "--tag", "\#(tag)"], "allow_tools": ["slow"]}}]}"#
            .write(to: spec, atomically: true, encoding: .utf8)
        try await ScriptedResponsesServer.withServer([.calls(.call("fx__slow", ["seconds": 60], id: "c")), .message("never")]) { server in
            let running = try Launched(
                ["run", spec.path, "go", "--journal-dir", folder.appendingPathComponent("j").path, "--base-url", server.baseURL],
                environment: ["OPENAI_API_KEY": "k"])
            try await waitUntil("the first request") { !server.createRequests.isEmpty }
            try await Task.sleep(for: .milliseconds(300))  // the call to the slow tool under way
            kill(running.process.processIdentifier, SIGINT)
            try await Task.sleep(for: .milliseconds(50))
            kill(running.process.processIdentifier, SIGINT)
            let result = await running.wait()
            #expect(result.status == 130, "\(result.stderr)")
            // Killed, not orphaned: gone within moments of errand's exit (an orphan in its 60 s call would still be there).
            try await waitUntil("the MCP server to be gone (killed, not orphaned)", timeout: .seconds(2), pollEvery: .milliseconds(50)) {
                ProcessList.processes(withCommandLineContaining: tag).isEmpty
            }
        }
    }
}

/// Spans reach an OpenTelemetry collector when `OTEL_EXPORTER_OTLP_ENDPOINT` says where one is.
@Suite(.timeLimit(.minutes(5))) struct TelemetryTests {
    @Test(arguments: ["http/protobuf", "http/json"])
    func spansArriveAtAnOTLPReceiver(_ format: String) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-otel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("work"), withIntermediateDirectories: true)
        try "The secret word is teapot.\n".write(to: folder.appendingPathComponent("work/notes.txt"), atomically: true, encoding: .utf8)
        let spec = folder.appendingPathComponent("agent.json")
        try #"{"name": "traced", "model": "m", "tools": ["read_file"], "workspace": {"root": "work"}}"#.write(to: spec, atomically: true, encoding: .utf8)
        let contentType = format == "http/json" ? "application/json" : "application/x-protobuf"
        let ok = PageServer.Page(status: 200, headers: ["Content-Type": contentType], body: format == "http/json" ? Data("{}".utf8) : Data())
        try await PageServer.withServer(["/v1/traces": ok]) { collector in
            try await ScriptedResponsesServer.withServer([RunCommandTests.readNotes, .message("teapot")]) { server in
                let result = try await runErrand(
                    ["run", spec.path, "word?", "--journal-dir", folder.appendingPathComponent("j").path, "--base-url", server.baseURL],
                    environment: [
                        "OPENAI_API_KEY": "k", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.baseURL, "OTEL_EXPORTER_OTLP_PROTOCOL": format,
                        "OTEL_SERVICE_NAME": "errand-test",
                    ])
                #expect(result.status == 0, "\(result.stderr)")
            }
            let posts = collector.received.filter { $0.method == "POST" && $0.path == "/v1/traces" }
            try #require(!posts.isEmpty, "no spans arrived (requests: \(collector.requests))")
            #expect(posts.allSatisfy { $0.headers["content-type"] == contentType })
            let all = posts.reduce(Data()) { $0 + $1.body }
            let text = String(decoding: all, as: UTF8.self)
            for name in ["errand.run", "chat m", "execute_tool read_file", "errand-test", "errand.run.id", "gen_ai.tool.name"] {
                #expect(text.contains(name), "\(format): no '\(name)' in what arrived")
            }
        }
    }

    @Test func withoutAnEndpointNothingIsExported() async throws {
        // The scripted server is the only server: a run without OTEL_* variables sends nothing anywhere else, and
        // a gRPC protocol (not built in) is refused with a clear line instead of a crash.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-otel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let spec = folder.appendingPathComponent("agent.json")
        try #"{"name": "plain", "model": "m"}"#.write(to: spec, atomically: true, encoding: .utf8)
        try await PageServer.withServer([:]) { collector in
            try await ScriptedResponsesServer.withServer([.message("hi")]) { server in
                let result = try await runErrand(
                    ["run", spec.path, "hi", "--journal-dir", folder.appendingPathComponent("j").path, "--base-url", server.baseURL],
                    environment: ["OPENAI_API_KEY": "k", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.baseURL, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"])
                #expect(result.status == 0, "\(result.stderr)")
                #expect(result.stderr.contains("errand exports over HTTP only"))
            }
            #expect(collector.requests.isEmpty)
        }
    }
}
