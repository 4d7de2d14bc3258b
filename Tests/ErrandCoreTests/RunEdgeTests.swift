import ErrandCore
import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

/// Three bugs of the run's edges, each over loopback HTTP against the scripted server: an event stream without its
/// end, call ids that repeat across responses, and a provider's multi-line text inside a one-line message.
@Suite(.timeLimit(.minutes(2))) struct RunEdgeTests {
    @Test func aJournalThatCannotBeOpenedStillEndsTheEventStreamWithRunFinished() async throws {
        try await withRunner([.message("never sent")]) { runner, server in
            var events: [RunEvent] = []
            let journal = URL(fileURLWithPath: "/dev/null/no-such-folder/run.jsonl")
            for await event in runner.events(Agent(model: "m"), input: .text("hi"), journal: journal) { events.append(event) }
            guard case .runFinished(let result)? = events.last else {
                Issue.record("the stream ended without run_finished: \(events)")
                return
            }
            #expect(result.status == .failed)
            #expect(result.error?.contains("journal") == true)
            #expect(server.requests.isEmpty)
        }
    }

    @Test func aServerThatRestartsCallIDsEveryTurnGetsUniqueIDsInAReplayedHistory() async throws {
        var dialect = ScriptedDialect.spec
        dialect.keepsState = false
        dialect.rejectsDuplicateCallIDs = true
        let turns: [ScriptedTurn] = [
            .calls(.call("echo", ["text": "a"], id: "call_0"), .call("echo", ["text": "b"], id: "call_1")),
            .calls(.call("echo", ["text": "c"], id: "call_0")),
            .message("done"),
        ]
        try await withRunner(turns, dialect: dialect) { runner, server in
            let agent = Agent(model: "m", tools: try registry([Echo()]), state: .stateless)
            let result = await runner.run(agent, input: .text("go"))
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.finalText == "done")
            let last = try #require(server.requests.last?.body?["input"]?.arrayValue)
            let calls = last.filter { $0["type"] == "function_call" }.compactMap { $0["call_id"]?.stringValue }
            let outputs = last.filter { $0["type"] == "function_call_output" }
            #expect(calls == ["call_0", "call_1", "call_0-t2"])
            #expect(outputs.compactMap { $0["call_id"]?.stringValue } == calls)
            #expect(outputs.compactMap { $0["output"]?.stringValue } == ["echo: a", "echo: b", "echo: c"])
            // The run's record keeps the ids the server gave.
            #expect(result.toolCalls.map(\.callID) == ["call_0", "call_1", "call_0"])
            #expect(result.toolCalls.map(\.wireCallID) == [nil, nil, "call_0-t2"])
        }
    }

    /// LiteLLM's 400 for a model group without state carries a blank line and a second paragraph.
    static let gatewayRefusal = """
        litellm.BadRequestError: previous_response_id is not supported for this model

        Received Model Group=qwen
        Available Model Group Fallbacks=None
        """

    @Test func aGatewaysMultiLineRefusalIsSaidOnOneLine() async throws {
        var dialect = ScriptedDialect.spec
        dialect.keepsState = false
        dialect.previousResponseRefusal = Self.gatewayRefusal
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try await withRunner([.calls(.call("echo", ["text": "a"])), .message("done")], dialect: dialect) { runner, _ in
            let log = EventLog()
            let agent = Agent(model: "m", tools: try registry([Echo()]))
            let result = await runner.run(agent, input: .text("go"), journal: folder.appendingPathComponent("r.jsonl"), onEvent: log.record)
            #expect(result.status == .completed)
            let reasons = log.events.compactMap { if case .stateFallback(let reason) = $0 { reason } else { nil } }
            #expect(reasons.count == 1)
            for reason in reasons {
                #expect(!reason.contains("\n"))
                #expect(reason.contains("previous_response_id is not supported for this model Received Model Group=qwen"))
            }
        }
    }

    @Test func aProvidersMultiLineErrorEndsTheRunOnOneLine() async throws {
        let turns: [ScriptedTurn] = [.error(status: 400, message: "first paragraph\n\nsecond paragraph\n  with a stack\n")]
        try await withRunner(turns) { runner, _ in
            let result = await runner.run(Agent(model: "m"), input: .text("go"))
            #expect(result.status == .failed)
            let error = try #require(result.error)
            #expect(!error.contains("\n"))
            #expect(error.contains("first paragraph second paragraph with a stack"))
        }
    }

    @Test func aProvidersVeryLongErrorIsShortened() {
        let body = ProviderErrorBody(message: String(repeating: "stack frame\n", count: 500))
        let error = ResponsesError(kind: .httpStatus, message: "POST /responses answered HTTP 500", status: 500, providerError: body)
        #expect(!error.description.contains("\n"))
        #expect(error.description.count < ResponsesError.providerTextLimit + 200)
        #expect(error.description.contains("…"))
    }

    @Test(arguments: RunResult.Status.allCases)
    func theResumeHintFollowsWhatAResumeDoes(_ status: RunResult.Status) {
        let result = RunResult(
            runID: "run-x", status: status, finalText: "", items: [], toolCalls: [], usage: Usage(), lastResponseID: nil, turns: 1,
            error: "why", incompleteReason: nil, journal: URL(fileURLWithPath: "/tmp/run-x.jsonl"))
        let lines = RunText.end(result).joined(separator: "\n")
        #expect(lines.contains("--resume run-x") == status.canResume)
        var unjournaled = result
        unjournaled.journal = nil
        #expect(!RunText.end(unjournaled).joined().contains("--resume"))
    }
}
