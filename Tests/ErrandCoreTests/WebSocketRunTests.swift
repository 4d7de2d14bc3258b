import ErrandCore
import ErrandTesting
import Foundation
import ResponsesAPI
import Synchronization
import Testing

/// Runs over the Responses API's WebSocket mode, against the scripted server's WebSocket endpoint over loopback: one
/// connection per run, only new input after the first turn, and the right choice (chain or replay) on every new
/// connection, whatever ended the one before.
@Suite(.timeLimit(.minutes(2))) struct WebSocketRunTests {
    static func configuration(_ transport: ResponsesTransportKind = .websocket, idle: Duration = .seconds(30)) -> ResponsesClientConfiguration {
        var configuration = fastClientConfiguration()
        configuration.transport = transport
        configuration.idleTimeout = idle
        return configuration
    }

    /// Runs `body` with a scripted server and a runner on a WebSocket client pointed at it.
    func withWebSocketRunner<Result>(
        _ turns: [ScriptedTurn], dialect: ScriptedDialect = .spec, configuration: ResponsesClientConfiguration = configuration(),
        isolation: isolated (any Actor)? = #isolation, _ body: (Runner, ScriptedResponsesServer) async throws -> Result
    ) async throws -> Result {
        try await ScriptedResponsesServer.withServer(turns, dialect: dialect) { server in
            try await ResponsesClient.withClient(provider: server.provider, configuration: configuration) { client in
                try await body(Runner(client: client), server)
            }
        }
    }

    func agent(store: Bool? = false) throws -> Agent {
        Agent(model: "m", tools: try registry([Echo()]), settings: ModelSettings(store: store), limits: RunLimits(maxTurns: 100))
    }

    func journal(_ url: URL) throws -> [JournalRecord] { try Journal.read(url) }

    func echoTurns(_ count: Int) -> [ScriptedTurn] {
        (0..<count).map { .calls(.call("echo", ["text": .string("t\($0)")])) }
    }

    @Test func aFiftyTurnRunWithStoreFalseGoesOverOneConnectionAndSendsOnlyTheNewItems() async throws {
        let folder = try temporaryDirectory()
        let url = folder.appendingPathComponent("run.jsonl")
        try await withWebSocketRunner(echoTurns(49) + [.message("done")]) { runner, server in
            let result = await runner.run(try agent(), input: .text("go"), journal: url)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.turns == 50)
            #expect(result.toolCalls.count == 49)
            #expect(server.webSocketConnectionsOpened == 1)
            let creates = server.createRequests
            #expect(creates.count == 50)
            #expect(creates.allSatisfy { $0.webSocketConnection == 1 }, "every turn on the one connection")
            #expect(creates.allSatisfy { $0.body?["stream"] == nil && $0.body?["background"] == nil }, "no transport fields in the frames")
            #expect(
                creates.allSatisfy { $0.body?["include"]?.arrayValue?.contains("reasoning.encrypted_content") == true },
                "with store: false, reasoning comes back encrypted so that a new connection can replay it")
            for (index, request) in creates.enumerated().dropFirst() {
                let input = request.body?["input"]?.arrayValue ?? []
                #expect(input.count == 1 && input.first?["type"] == "function_call_output", "turn \(index + 1) carries only the new output")
                #expect(request.body?["previous_response_id"] != nil)
                #expect(request.body?["store"] == false)
            }
            let records = try journal(url)
            let connections = records.compactMap { if case .connection(let e) = $0.event { e } else { nil } }
            #expect(connections.count == 1)
            #expect(connections.first?.transport == .websocket && connections.first?.next == "start")
            #expect(server.webSocketHandshakes.first?.headers["authorization"] == "Bearer sk-scripted-test-key")
        }
    }

    @Test func aConnectionClosedAtItsTimeLimitIsReplacedAndWithStoreFalseTheHistoryIsReplayed() async throws {
        let folder = try temporaryDirectory()
        let url = folder.appendingPathComponent("run.jsonl")
        let turns = echoTurns(2) + [.closingWebSocket(code: 1000)] + echoTurns(1) + [.message("done")]
        try await withWebSocketRunner(turns) { runner, server in
            let result = await runner.run(try agent(), input: .text("go"), journal: url)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.toolCalls.count == 3)
            #expect(server.webSocketConnectionsOpened == 2)
            let creates = server.createRequests
            let second = creates.filter { $0.webSocketConnection == 2 }
            #expect(second.count == 2)
            // The first request on the new connection replays: no previous_response_id, the whole conversation.
            #expect(second[0].body?["previous_response_id"] == nil)
            let replayed = second[0].body?["input"]?.arrayValue ?? []
            #expect(replayed.filter { $0["type"] == "function_call" }.count == 2)
            #expect(replayed.filter { $0["type"] == "function_call_output" }.count == 2)
            #expect(replayed.first?["role"] == "user")
            // The next one chains on the new connection again, with only its new item.
            #expect(second[1].body?["previous_response_id"] != nil)
            #expect(second[1].body?["input"]?.arrayValue?.count == 1)
            let records = try journal(url)
            let connections = records.compactMap { if case .connection(let e) = $0.event { e } else { nil } }
            #expect(connections.count == 2)
            #expect(connections.last?.next == "replay")
            #expect(connections.last?.reason.contains("websocket_connection_limit_reached") == true, "\(connections.last?.reason ?? "")")
            #expect(records.contains { if case .requestSent(let e) = $0.event { e.replayed } else { false } })
            // The journal replays to the same state: a resume has nothing to do.
            let state = try RunState(replaying: records)
            #expect(state.isSettled)
        }
    }

    @Test func aDroppedConnectionWithStoredResponsesChainsFromTheNewOne() async throws {
        let folder = try temporaryDirectory()
        let url = folder.appendingPathComponent("run.jsonl")
        let turns = echoTurns(1) + [.droppingWebSocket()] + [.message("done")]
        try await withWebSocketRunner(turns) { runner, server in
            let result = await runner.run(try agent(store: nil), input: .text("go"), journal: url)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(server.webSocketConnectionsOpened == 2)
            let creates = server.createRequests
            let last = try #require(creates.last)
            #expect(last.webSocketConnection == 2)
            let records = try journal(url)
            let firstResponse = records.compactMap { if case .responseReceived(let e) = $0.event { e.response.id } else { nil } }.first
            #expect(last.body?["previous_response_id"]?.stringValue == firstResponse)
            #expect(last.body?["input"]?.arrayValue?.count == 1, "the stored response is chained to: only the new output goes")
            let connections = records.compactMap { if case .connection(let e) = $0.event { e } else { nil } }
            #expect(connections.last?.next == "chain")
            #expect(connections.last?.reason.contains("without a close frame") == true, "\(connections.last?.reason ?? "")")
        }
    }

    @Test func previousResponseNotFoundOnANewConnectionIsAnsweredByReplayingThatTurn() async throws {
        // The server keeps nothing beyond the connection: a stored-by-default chain cannot survive a reconnect.
        var dialect = ScriptedDialect.spec
        dialect.keepsState = false
        let folder = try temporaryDirectory()
        let url = folder.appendingPathComponent("run.jsonl")
        let turns = echoTurns(1) + [.droppingWebSocket()] + echoTurns(1) + [.message("done")]
        try await withWebSocketRunner(turns, dialect: dialect) { runner, server in
            let result = await runner.run(try agent(store: nil), input: .text("go"), journal: url)
            #expect(result.status == .completed, "\(result.error ?? "")")
            let records = try journal(url)
            let fallbacks = records.compactMap { if case .stateFallback(let e) = $0.event { e } else { nil } }
            #expect(fallbacks.count == 1)
            #expect(fallbacks.first?.onlyThisTurn == true)
            let creates = server.createRequests.filter { $0.webSocketConnection == 2 }
            // Refused chain (not counted as a create by the server), the replay, then a chained turn on the connection.
            #expect(creates.last?.body?["previous_response_id"] != nil, "later turns chain on the connection again")
            #expect(creates.last?.body?["input"]?.arrayValue?.count == 1)
        }
    }

    @Test func errorFramesAreTheSameErrorsAsHTTPAnswers() async throws {
        let turns: [ScriptedTurn] = [
            .error(status: 429, message: "Slow down", type: "rate_limit_error", code: "rate_limit_exceeded", headers: ["retry-after-ms": "20"]),
            .message("after the wait"),
        ]
        try await withWebSocketRunner(turns) { runner, server in
            let result = await runner.run(try agent(), input: .text("go"))
            #expect(result.status == .completed, "a 429 frame waits and the turn goes again on the connection")
            #expect(result.finalText == "after the wait")
            #expect(server.webSocketConnectionsOpened == 1)
        }
        try await withWebSocketRunner([.error(status: 400, message: "Unknown parameter: 'foo'.", param: "foo")]) { runner, _ in
            let result = await runner.run(try agent(), input: .text("go"))
            #expect(result.status == .failed)
            let error = result.error ?? ""
            #expect(error.contains("status 400") && error.contains("Unknown parameter: 'foo'.") && error.contains("param: foo"), "\(error)")
        }
    }

    @Test func aServerWithoutTheModeIsSaidSoAndAutoGoesOverHTTP() async throws {
        var dialect = ScriptedDialect.spec
        dialect.webSocket = false
        try await withWebSocketRunner([.message("never")], dialect: dialect) { runner, server in
            let result = await runner.run(try agent(), input: .text("go"))
            #expect(result.status == .failed)
            #expect(result.error?.contains("404") == true && result.error?.contains("use --transport http") == true, "\(result.error ?? "")")
            #expect(server.createRequests.isEmpty)
        }
        let folder = try temporaryDirectory()
        let url = folder.appendingPathComponent("run.jsonl")
        try await withWebSocketRunner([.message("over HTTP")], dialect: dialect, configuration: Self.configuration(.auto)) { runner, server in
            let result = await runner.run(try agent(), input: .text("go"), journal: url)
            #expect(result.status == .completed)
            #expect(result.finalText == "over HTTP")
            #expect(server.createRequests.first?.webSocketConnection == nil)
            let connections = try journal(url).compactMap { if case .connection(let e) = $0.event { e } else { nil } }
            #expect(connections.count == 1 && connections.first?.transport == .http, "auto journals the choice")
        }
        var refusing = ScriptedDialect.spec
        refusing.webSocketUpgradeStatus = 401
        try await withWebSocketRunner([.message("never")], dialect: refusing, configuration: Self.configuration(.auto)) { runner, _ in
            let result = await runner.run(try agent(), input: .text("go"))
            #expect(result.status == .failed, "a refused key is not a missing mode: auto does not hide it behind HTTP")
            #expect(result.error?.contains("401") == true && result.error?.contains("Check the API key") == true, "\(result.error ?? "")")
        }
    }

    @Test func anIdleConnectionTimesOutAndTheTurnGoesAgainOnANewOne() async throws {
        let folder = try temporaryDirectory()
        let url = folder.appendingPathComponent("run.jsonl")
        let turns: [ScriptedTurn] = [ScriptedTurn.message("too late").pacing(.seconds(5)), .message("in time")]
        try await withWebSocketRunner(turns, configuration: Self.configuration(idle: .milliseconds(400))) { runner, server in
            let result = await runner.run(try agent(), input: .text("go"), journal: url)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.finalText == "in time")
            #expect(server.webSocketConnectionsOpened == 2)
            let connections = try journal(url).compactMap { if case .connection(let e) = $0.event { e } else { nil } }
            #expect(connections.last?.reason.contains("idleTimeout") == true, "\(connections.last?.reason ?? "")")
        }
    }

    @Test func cancellingARunClosesItsConnectionAndTheJournalSaysCancelled() async throws {
        let folder = try temporaryDirectory()
        let url = folder.appendingPathComponent("run.jsonl")
        try await withWebSocketRunner([ScriptedTurn.message("slow").delayed(by: .seconds(20))]) { runner, server in
            let agent = try agent()
            let task = Task { await runner.run(agent, input: .text("go"), journal: url) }
            try await waitUntil("the request arrived") { server.createRequests.count == 1 }
            task.cancel()
            let result = await task.value
            #expect(result.status == .cancelled)
            try await waitUntil("every WebSocket closed") { server.openWebSocketConnections == 0 }
            let last = try #require(try journal(url).last)
            guard case .runFinished(let end) = last.event else { Issue.record("the journal ends with \(last.event.type)"); return }
            #expect(end.status == .cancelled)
        }
    }

    @Test func aResumedRunOpensANewConnectionAndReplaysWhatNothingStores() async throws {
        let folder = try temporaryDirectory()
        let url = folder.appendingPathComponent("run.jsonl")
        try await withWebSocketRunner(echoTurns(2) + [.message("done")]) { runner, server in
            let result = await runner.run(try agent(), input: .text("go"), journal: url)
            #expect(result.status == .completed)
            // Cut the journal after the second tool call, as a crash would.
            let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
            let cut = try #require(lines.lastIndex { $0.contains("\"type\":\"tool_finished\"") })
            try (lines[...cut].joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
            server.enqueue([.message("done again")])
            let resumed = try await runner.resume(try agent(), journal: url)
            #expect(resumed.status == .completed, "\(resumed.error ?? "")")
            #expect(resumed.finalText == "done again")
            let last = try #require(server.createRequests.last)
            #expect(last.body?["previous_response_id"] == nil, "with store: false a new connection knows nothing")
            #expect(last.body?["input"]?.arrayValue?.filter { $0["type"] == "function_call_output" }.count == 2)
            #expect(resumed.toolCalls.count == 2, "no tool ran twice")
        }
    }

    @Test func aBatchReusesItsConnectionsFromTaskToTask() async throws {
        let folder = try temporaryDirectory()
        let responder: @Sendable (ScriptedConversation) -> ScriptedTurn = { conversation in
            conversation.toolOutputs.isEmpty ? .calls(.call("echo", ["text": .string(conversation.task)])) : .message("done: \(conversation.task)")
        }
        try await ScriptedResponsesServer.withServer(responder: responder) { server in
            var configuration = Self.configuration()
            configuration.maxConnectionsPerHost = 2
            try await ResponsesClient.withClient(provider: server.provider, configuration: configuration) { client in
                let runner = Runner(client: client)
                let agent = try agent()
                let tasks = (1...8).map { BatchTask(id: "task-\($0)", agent: agent, input: .text("job \($0)")) }
                var results: [BatchResult] = []
                for await result in runner.runBatch(tasks, concurrency: 2, folder: folder) { results.append(result) }
                #expect(results.count == 8)
                #expect(results.allSatisfy { $0.result.status == .completed && $0.result.finalText == "done: job \($0.id.dropFirst(5))" })
                #expect(server.webSocketConnectionsOpened <= 2, "eight tasks over at most two connections: \(server.webSocketConnectionsOpened)")
                #expect(server.createRequests.count == 16)
            }
            try await waitUntil("every WebSocket closed") { server.openWebSocketConnections == 0 }
        }
    }
}
