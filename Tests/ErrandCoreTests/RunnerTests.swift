import ErrandCore
import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

/// The agent loop over loopback HTTP against the scripted server.
@Suite(.timeLimit(.minutes(3))) struct RunnerTests {
    @Test func aThreeTurnToolLoopChainedByPreviousResponseID() async throws {
        let turns: [ScriptedTurn] = [
            .calls(.call("echo", ["text": "hello"], id: "call_echo")),
            .calls(.call("add", ["a": 1, "b": 2], id: "call_add")),
            .message("The sum is 3."),
        ]
        try await withRunner(turns) { runner, server in
            let agent = Agent(
                model: "gpt-test", instructions: "Use the tools.", tools: try registry([Echo(), Add()]), toolChoice: .required,
                parallelToolCalls: true, settings: ModelSettings(temperature: 0.2, maxOutputTokens: 500))
            let log = EventLog()
            let result = await runner.run(agent, input: "Say hello, then add 1 and 2.", onEvent: log.record)
            #expect(result.status == .completed)
            #expect(result.finalText == "The sum is 3.")
            #expect(result.turns == 3)
            #expect(result.toolCalls.map(\.name) == ["echo", "add"])
            #expect(result.toolCalls.map(\.output) == ["echo: hello", #"{"sum":3}"#])
            #expect(result.lastResponseID == log.responseIDs.last)
            #expect(log.text == "The sum is 3.")

            let requests = server.createRequests
            try #require(requests.count == 3)
            let ids = log.responseIDs
            for (index, request) in requests.enumerated() {
                #expect(request.body?["model"] == "gpt-test")
                #expect(request.body?["instructions"] == "Use the tools.", "instructions are re-sent on turn \(index + 1)")
                #expect(request.body?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["echo", "add"])
                #expect(request.body?["tools"]?[0]?["strict"] == true)
                #expect(request.body?["tools"]?[0]?["parameters"] == ["type": "object", "properties": ["text": ["type": "string", "description": "What to repeat"]], "required": ["text"], "additionalProperties": false])
                #expect(request.body?["parallel_tool_calls"] == true)
                #expect(request.body?["temperature"] == 0.2)
                #expect(request.body?["max_output_tokens"] == 500)
                #expect(request.body?["stream"] == true)
            }
            #expect(requests[0].body?["tool_choice"] == "required")
            #expect(requests[1].body?["tool_choice"] == "auto", "a forcing tool_choice is reset after the first tool turn")
            #expect(requests[0].body?["previous_response_id"] == nil)
            #expect(requests[0].body?["input"] == [["type": "message", "role": "user", "content": "Say hello, then add 1 and 2."]])
            #expect(requests[1].body?["previous_response_id"] == .string(ids[0]))
            #expect(requests[1].functionOutputs.map(\.0) == ["call_echo"])
            #expect(requests[1].functionOutputs.map(\.1) == ["echo: hello"])
            #expect(requests[1].inputTypes == ["function_call_output"])
            #expect(requests[2].body?["previous_response_id"] == .string(ids[1]))
            #expect(requests[2].functionOutputs.map(\.0) == ["call_add"])
            #expect(requests[2].functionOutputs.map(\.1) == [#"{"sum":3}"#])
            // The run's usage is the sum of what each turn reported.
            let perTurn = log.events.compactMap { if case .turnFinished(_, _, let usage, _) = $0 { usage } else { nil } }
            #expect(perTurn.count == 3)
            #expect(result.usage == perTurn.reduce(Usage(), +))
            #expect(result.usage.totalTokens > 0)
            #expect(result.usage.totalTokens == result.usage.inputTokens + result.usage.outputTokens)
        }
    }

    @Test(arguments: [true, false])
    func parallelCallsReturnTheirOutputsInCallOrder(parallel: Bool) async throws {
        let concurrency = Concurrency()
        let turns: [ScriptedTurn] = [
            .calls(.call("sleep", ["ms": 300, "label": "first"], id: "c1"), .call("sleep", ["ms": 10, "label": "second"], id: "c2"),
                   .call("sleep", ["ms": 150, "label": "third"], id: "c3")),
            .message("ok"),
        ]
        try await withRunner(turns) { runner, server in
            let agent = Agent(
                model: "m", tools: try registry([Sleep(concurrency: concurrency)]),
                limits: RunLimits(maxToolConcurrency: parallel ? 8 : 1))
            let result = await runner.run(agent, input: "go")
            #expect(result.status == .completed)
            #expect(server.createRequests[1].functionOutputs.map(\.0) == ["c1", "c2", "c3"])
            #expect(server.createRequests[1].functionOutputs.map(\.1) == ["first", "second", "third"])
            #expect(result.toolCalls.map(\.callID) == ["c1", "c2", "c3"])
            #expect(parallel ? concurrency.peak == 3 : concurrency.peak == 1)
        }
    }

    struct BadCall: Sendable, CustomTestStringConvertible {
        var name: String
        var call: ScriptedOutput
        var expected: [String]
        var testDescription: String { name }
    }

    static let badCalls: [BadCall] = [
        BadCall(name: "arguments that are not JSON", call: .functionCall(name: "add", arguments: "{a: 1, b:", callID: "c"),
                expected: ["arguments of add are not valid JSON", "{a: 1, b:"]),
        BadCall(name: "arguments that are not an object", call: .functionCall(name: "add", arguments: "[1, 2]", callID: "c"),
                expected: ["must be a JSON object"]),
        BadCall(name: "a missing required field", call: .call("add", ["a": 1], id: "c"), expected: ["invalid arguments for add", "missing required field 'b'"]),
        BadCall(name: "a wrong type", call: .call("add", ["a": "one", "b": 2], id: "c"),
                expected: ["invalid arguments for add", "'a' must be an integer, not a string (\"one\")"]),
        BadCall(name: "an unexpected field", call: .call("add", ["a": 1, "b": 2, "c": 3], id: "c"), expected: ["unexpected field 'c'"]),
        BadCall(name: "an unknown tool", call: .call("subtract", ["a": 1], id: "c"),
                expected: ["there is no tool named 'subtract'", "The tools are: add, fail, sleep, stubborn"]),
        BadCall(name: "a tool that throws", call: .call("fail", [:], id: "c"), expected: ["error: disk on fire"]),
        BadCall(name: "a tool that times out", call: .call("sleep", ["ms": 30_000, "label": "late"], id: "c"), expected: ["sleep timed out after"]),
        BadCall(name: "a tool that ignores its timeout", call: .call("stubborn", [:], id: "c"), expected: ["stubborn timed out after"]),
    ]

    @Test(arguments: badCalls)
    func badCallsBecomeOutputsTheModelCanRead(_ bad: BadCall) async throws {
        try await withRunner([ScriptedTurn(output: [bad.call]), .message("understood")]) { runner, server in
            let stubborn = Stubborn(seconds: 30)
            let tools = try registry([Add(), Fail(), Sleep(concurrency: Concurrency()), stubborn])
            // Only the timeout cases get a short limit: on a loaded machine an instant tool can take 200 ms to be scheduled.
            let limit: Duration = bad.name.contains("time") ? .milliseconds(300) : .seconds(20)
            let agent = Agent(model: "m", tools: tools, limits: RunLimits(toolTimeout: limit))
            let clock = ContinuousClock()
            let start = clock.now
            let result = await runner.run(agent, input: "go")
            #expect(result.status == .completed, "a bad call does not end the run")
            #expect(result.finalText == "understood")
            let output = try #require(server.createRequests.last?.functionOutputs.first)
            #expect(output.0 == "c")
            for expected in bad.expected { #expect(output.1.contains(expected), "\(output.1)") }
            #expect(result.toolCalls.first?.isError == true)
            // A stuck tool does not hold the run: it ends long before the 30 s the tool takes (a bound that holds on
            // a loaded machine, where even an instant tool's run can take seconds).
            #expect(clock.now - start < .seconds(20), "a stuck tool does not hold the run")
            #expect(!stubborn.finished.isSet)
        }
    }

    @Test func maxTurnsEndsTheRunWithWhatItDid() async throws {
        let turns: [ScriptedTurn] = [.calls(.call("echo", ["text": "1"])), .calls(.call("echo", ["text": "2"])), .message("never")]
        try await withRunner(turns) { runner, server in
            let agent = Agent(model: "m", tools: try registry([Echo()]), limits: RunLimits(maxTurns: 2))
            let result = await runner.run(agent, input: "go")
            #expect(result.status == .maxTurns)
            #expect(result.turns == 2)
            #expect(result.toolCalls.map(\.output) == ["echo: 1", "echo: 2"])
            #expect(result.error?.contains("2 turns") == true)
            #expect(server.createRequests.count == 2)
            #expect(result.items.count == 2)
        }
    }

    @Test func maxToolCallsEndsTheRunBeforeRunningTheExcess() async throws {
        let turns: [ScriptedTurn] = [.calls(.call("echo", ["text": "1"])), .calls(.call("echo", ["text": "2"]), .call("echo", ["text": "3"]))]
        try await withRunner(turns) { runner, _ in
            let agent = Agent(model: "m", tools: try registry([Echo()]), limits: RunLimits(maxToolCalls: 2))
            let result = await runner.run(agent, input: "go")
            #expect(result.status == .maxToolCalls)
            #expect(result.toolCalls.map(\.output) == ["echo: 1"])
            #expect(result.turns == 2)
        }
    }

    @Test func theRunTimeoutStopsASlowModel() async throws {
        try await withRunner([ScriptedTurn.message("late").delayed(by: .seconds(30))]) { runner, _ in
            let agent = Agent(model: "m", limits: RunLimits(timeout: .milliseconds(300)))
            let clock = ContinuousClock()
            let start = clock.now
            let result = await runner.run(agent, input: "go")
            #expect(result.status == .timedOut)
            #expect(result.error?.contains("time limit") == true)
            // Far below the model's 30 s, with room for a loaded machine.
            #expect(clock.now - start < .seconds(15))
        }
    }

    @Test(arguments: ["sleep", "stubborn"])
    func cancellationMidToolStopsPromptly(tool: String) async throws {
        let call: ScriptedOutput = tool == "sleep" ? .call("sleep", ["ms": 10_000, "label": "x"]) : .call("stubborn", [:])
        try await withRunner([ScriptedTurn(output: [call]), .message("never")]) { runner, server in
            let agent = Agent(model: "m", tools: try registry([Sleep(concurrency: Concurrency()), Stubborn()]))
            let started = AsyncStream<Void>.makeStream()
            let task = Task {
                await runner.run(agent, input: "go") { event in
                    if case .toolCallStarted = event { started.continuation.yield() }
                }
            }
            for await _ in started.stream { break }
            let clock = ContinuousClock()
            let start = clock.now
            task.cancel()
            let result = await task.value
            #expect(result.status == .cancelled)
            #expect(clock.now - start < .seconds(3))
            #expect(server.createRequests.count == 1)
        }
    }

    @Test func autoFallsBackToStatelessWhenTheProviderRefusesTheChain() async throws {
        let turns: [ScriptedTurn] = [.calls(.call("echo", ["text": "a"], id: "c1")), .calls(.call("echo", ["text": "b"], id: "c2")), .message("done")]
        // The server keeps nothing, and nothing says so: the runner must find out.
        try await withRunner(turns, dialect: .stateless) { runner, server in
            let journal = try temporaryDirectory().appendingPathComponent("run.jsonl")
            let log = EventLog()
            let agent = Agent(model: "m", instructions: "Be brief.", tools: try registry([Echo()]))
            let result = await runner.run(agent, input: "go", journal: journal, onEvent: log.record)
            #expect(result.status == .completed)
            #expect(result.finalText == "done")
            let requests = server.createRequests
            try #require(requests.count == 4)
            #expect(requests[1].body?["previous_response_id"] != nil, "the chain is tried first")
            #expect(requests[2].body?["previous_response_id"] == nil)
            #expect(requests[2].inputTypes == ["message", "function_call", "function_call_output"])
            #expect(requests[3].body?["previous_response_id"] == nil, "and the run stays stateless")
            #expect(requests[3].inputTypes == ["message", "function_call", "function_call_output", "function_call", "function_call_output"])
            #expect(requests[3].body?["instructions"] == "Be brief.")
            #expect(log.events.contains { if case .stateFallback = $0 { true } else { false } })
            #expect(try String(contentsOf: journal, encoding: .utf8).contains(#""type":"state_fallback""#))
            #expect(result.turns == 3)
        }
    }

    @Test func statelessReplayCarriesEncryptedReasoning() async throws {
        let turns: [ScriptedTurn] = [ScriptedTurn(output: [.reasoning(summary: "think"), .call("echo", ["text": "x"], id: "c1")]), .message("ok")]
        try await withRunner(turns) { runner, server in
            let agent = Agent(model: "m", tools: try registry([Echo()]), settings: ModelSettings(store: false), state: .stateless)
            let result = await runner.run(agent, input: "go")
            #expect(result.status == .completed)
            let second = server.createRequests[1]
            #expect(second.body?["previous_response_id"] == nil)
            #expect(second.body?["store"] == false)
            #expect(second.body?["include"] == ["reasoning.encrypted_content"])
            #expect(second.inputTypes == ["message", "reasoning", "function_call", "function_call_output"])
            #expect(second.body?["input"]?[1]?["encrypted_content"]?.stringValue?.hasPrefix("enc:") == true)
        }
    }

    @Test func aStatelessAgentNeverTriesTheChain() async throws {
        try await withRunner([.calls(.call("echo", ["text": "x"])), .message("ok")], dialect: .stateless) { runner, server in
            let result = await runner.run(Agent(model: "m", tools: try registry([Echo()]), state: .stateless), input: "go")
            #expect(result.status == .completed)
            #expect(server.createRequests.count == 2, "no refused chain first")
            #expect(server.createRequests.allSatisfy { $0.body?["previous_response_id"] == nil })
        }
    }

    @Test func aProviderFailureEndsTheRunWithAnActionableError() async throws {
        let turns: [ScriptedTurn] = [.calls(.call("echo", ["text": "x"])), .error(status: 401, message: "Incorrect API key provided.", code: "invalid_api_key")]
        try await withRunner(turns) { runner, _ in
            let journal = try temporaryDirectory().appendingPathComponent("run.jsonl")
            let result = await runner.run(Agent(model: "m", tools: try registry([Echo()])), input: "go", journal: journal)
            #expect(result.status == .failed)
            #expect(result.error?.contains("HTTP 401") == true)
            #expect(result.error?.contains("Check the API key") == true)
            #expect(result.toolCalls.count == 1, "what was done is kept")
            let text = try String(contentsOf: journal, encoding: .utf8)
            #expect(text.contains(#""type":"error""#))
            #expect(text.contains(#""type":"run_finished""#))
            #expect(!text.contains("sk-scripted-test-key"))
        }
    }

    @Test func nonStreamingGivesTheSameEventsWithoutDeltas() async throws {
        try await withRunner([.calls(.call("echo", ["text": "x"])), .message("final words")]) { runner, server in
            let log = EventLog()
            let agent = Agent(model: "m", tools: try registry([Echo()]), streaming: false)
            let result = await runner.run(agent, input: "go", onEvent: log.record)
            #expect(result.finalText == "final words")
            #expect(log.text.isEmpty)
            let kinds = log.events.map { event -> String in
                switch event {
                case .runStarted: "run"
                case .turnStarted: "turn"
                case .textDelta: "delta"
                case .toolCallStarted: "call"
                case .toolCallFinished: "done"
                case .turnFinished: "turned"
                case .stateFallback: "fallback"
                case .hostedToolCall: "hosted"
                case .hostedApproval: "approval"
                case .connection: "connection"
                case .compacted: "compacted"
                case .outputRejected, .guardrail, .handoff, .subRun: "agents"
                case .runFinished: "finished"
                }
            }
            #expect(kinds == ["run", "turn", "turned", "call", "done", "turn", "turned", "finished"])
            #expect(server.createRequests.allSatisfy { $0.body?["stream"] == nil })
        }
    }

    @Test func theEventStreamEndsWithTheResult() async throws {
        try await withRunner([.message("streamed answer")]) { runner, _ in
            var text = ""
            var finished: RunResult?
            for await event in runner.events(Agent(model: "m"), input: "go") {
                if case .textDelta(let delta) = event { text += delta }
                if case .runFinished(let result) = event { finished = result }
            }
            #expect(text == "streamed answer")
            #expect(finished?.status == .completed)
        }
    }
}
