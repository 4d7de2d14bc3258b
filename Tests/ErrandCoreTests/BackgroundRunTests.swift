import ErrandCore
import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

/// Runs whose turns go through background mode: the response id is journaled as soon as the server gives it, a
/// resumed run fetches that response instead of paying for the turn again, and a run that stops early cancels it.
@Suite(.timeLimit(.minutes(3))) struct BackgroundRunTests {
    private func lines(_ url: URL) throws -> [JSONValue] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    @Test(arguments: [true, false])
    func aBackgroundTurnJournalsItsIDBeforeItsResponse(streaming: Bool) async throws {
        let turns: [ScriptedTurn] = [
            ScriptedTurn(output: [.call("echo", ["text": "a"], id: "c1")], backgroundPolls: 1), ScriptedTurn(output: [.message("done")], backgroundPolls: 1),
        ]
        try await withRunner(turns) { runner, server in
            let journal = try temporaryDirectory().appendingPathComponent("run.jsonl")
            let agent = Agent(model: "m", tools: try registry([Echo()]), settings: ModelSettings(background: true), streaming: streaming)
            let result = await runner.run(agent, input: "go", journal: journal)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.finalText == "done")
            let entries = try lines(journal)
            #expect(entries.map { $0["type"]?.stringValue ?? "?" } == [
                "run_started", "request", "background_response", "response", "tool_started", "tool_finished", "request", "background_response", "response",
                "run_finished",
            ])
            let ids = entries.filter { $0["type"] == "background_response" }.compactMap { $0["response_id"]?.stringValue }
            #expect(ids == entries.filter { $0["type"] == "response" }.compactMap { $0["response"]?["id"]?.stringValue })
            #expect(server.createRequests.allSatisfy { $0.body?["background"] == true })
        }
    }

    @Test(arguments: [true, false])
    func aResumedRunFetchesTheBackgroundResponseInsteadOfSendingTheTurnAgain(streaming: Bool) async throws {
        // A stream slow enough to be cut in the middle.
        let turns: [ScriptedTurn] = [
            ScriptedTurn(output: [.call("echo", ["text": "a"], id: "c1")], backgroundPolls: 100_000).pacing(.milliseconds(streaming ? 200 : 0)),
            .message("done"),
        ]
        var configuration = fastClientConfiguration()
        configuration.cancelBackgroundOnCancellation = false  // as `errand run --detach`, or a process that is killed
        configuration.polling = .every(.milliseconds(5))
        try await ScriptedResponsesServer.withServer(turns) { server in
            try await ResponsesClient.withClient(provider: server.provider, configuration: configuration) { client in
                let runner = Runner(client: client)
                let journal = try temporaryDirectory().appendingPathComponent("run.jsonl")
                let agent = Agent(model: "m", tools: try registry([Echo()]), settings: ModelSettings(background: true), streaming: streaming)
                let first = Task { await runner.run(agent, input: "go", journal: journal, runID: "run-bg") }
                try await waitUntil("the background id in the journal", pollEvery: .milliseconds(5)) {
                    ((try? String(contentsOf: journal, encoding: .utf8)) ?? "").contains("background_response")
                }
                first.cancel()
                _ = await first.value
                // The process "died" here: keep the journal up to the background id.
                let kept = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").prefix { !$0.contains("run_finished") }
                try (kept.joined(separator: "\n") + "\n").write(to: journal, atomically: true, encoding: .utf8)
                #expect(try lines(journal).last?["type"] == "background_response", "the turn was cut before its response")
                let id = try #require(try lines(journal).last?["response_id"]?.stringValue)
                #expect(server.storedStatus(id) == "in_progress", "left running on the server")
                server.finishRunningResponses()
                let creates = server.createRequests.count
                let resumed = try await runner.resume(agent, journal: journal)
                #expect(resumed.status == .completed, "\(resumed.error ?? "")")
                #expect(resumed.finalText == "done")
                #expect(resumed.toolCalls.map(\.output) == ["echo: a"])
                #expect(server.createRequests.count == creates + 1, "only the next turn is sent; the background turn is fetched")
                #expect(server.requests.contains { $0.method == "GET" && $0.endpoint == "/responses/\(id)" })
                #expect(resumed.lastResponseID != id)
            }
        }
    }

    @Test func aResumedRunWhoseBackgroundResponseWasCancelledSendsTheTurnAgain() async throws {
        let turns: [ScriptedTurn] = [ScriptedTurn(output: [.message("never")], backgroundPolls: 100_000), .message("second try")]
        try await withRunner(turns) { runner, server in
            let journal = try temporaryDirectory().appendingPathComponent("run.jsonl")
            let agent = Agent(model: "m", settings: ModelSettings(background: true), streaming: false)
            let first = Task { await runner.run(agent, input: "go", journal: journal) }
            try await waitUntil("the background id in the journal", pollEvery: .milliseconds(5)) {
                ((try? String(contentsOf: journal, encoding: .utf8)) ?? "").contains("background_response")
            }
            first.cancel()
            let stopped = await first.value
            #expect(stopped.status == .cancelled)
            let id = try #require(try lines(journal).first { $0["type"] == "background_response" }?["response_id"]?.stringValue)
            #expect(stopped.error?.contains("its background response \(id) was cancelled on the server") == true, "\(stopped.error ?? "")")
            #expect(server.requests.contains { $0.endpoint == "/responses/\(id)/cancel" })
            #expect(server.storedStatus(id) == "cancelled")
            let kept = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").prefix { !$0.contains("run_finished") }
            try (kept.joined(separator: "\n") + "\n").write(to: journal, atomically: true, encoding: .utf8)
            let resumed = try await runner.resume(agent, journal: journal)
            #expect(resumed.status == .completed)
            #expect(resumed.finalText == "second try")
            #expect(server.createRequests.count == 2)
        }
    }

    @Test func aRunTimeoutCancelsItsBackgroundTurnAndSaysSo() async throws {
        // Five seconds leave the create time to return its id on a loaded machine (CI runs worker processes and
        // PostgreSQL beside these tests); the turn itself never ends.
        try await withRunner([ScriptedTurn(output: [.message("too late")], backgroundPolls: 100_000)]) { runner, server in
            let agent = Agent(model: "m", settings: ModelSettings(background: true), limits: RunLimits(timeout: .seconds(5)), streaming: false)
            let result = await runner.run(agent, input: "go")
            #expect(result.status == .timedOut)
            #expect(result.error?.contains("time limit") == true)
            #expect(result.error?.contains("was cancelled on the server") == true, "\(result.error ?? "")")
            #expect(server.requests.contains { $0.endpoint.hasSuffix("/cancel") })
        }
    }
}
