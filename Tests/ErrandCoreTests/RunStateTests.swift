import ErrandCore
import Foundation
import ResponsesAPI
import Testing

/// `RunState` with no server and no I/O: each case feeds a short sequence of journal events and checks what `decide`
/// says next (the shape of async-http-client's `HTTPRequestStateMachineTests`). The same events, encoded and decoded as
/// a journal, must lead to the same decision: a resume is a fold of the same function.
@Suite struct RunStateTests {
    // MARK: Events

    static func started(_ mode: StateMode = .auto, input: [InputItem] = [.user("do it")]) -> JournalEvent {
        .runStarted(.init(
            agent: "a", model: "m", mode: mode, instructions: nil, tools: nil, input: input, toolChoice: nil, resetToolChoice: nil, fingerprint: nil))
    }

    static func sent(_ turn: Int, stateless: Bool = false, previous: String? = nil, input: [InputItem]? = nil) -> JournalEvent {
        .requestSent(.init(turn: turn, stateless: stateless, previousResponseID: previous, input: input, request: nil))
    }

    static func response(
        _ turn: Int, id: String? = nil, calls: [(id: String, name: String)] = [], text: String = "", status: ResponseStatus = .completed,
        incomplete: String? = nil, failure: String? = nil, approvals: [String] = []
    ) -> JournalEvent {
        var output: [OutputItem] = []
        if !text.isEmpty { output.append(.message(OutputMessage(content: [.text(OutputText(text: text))]))) }
        output += calls.map { .functionCall(FunctionCall(callID: $0.id, name: $0.name, arguments: "{}")) }
        output += approvals.map { .hostedToolCall(HostedToolCall(raw: ["type": "mcp_approval_request", "id": .string($0), "server_label": "s", "name": "t"])) }
        let response = Response(
            id: id ?? "resp_\(turn)", status: status, error: failure.map { ResponseFailure(code: "server_error", message: $0) },
            incompleteDetails: incomplete.map { IncompleteDetails(reason: $0) }, output: output)
        return .responseReceived(.init(turn: turn, response: response))
    }

    static func toolStarted(_ turn: Int, _ id: String, name: String = "echo", wire: String? = nil) -> JournalEvent {
        .toolStarted(.init(turn: turn, callID: id, name: name, arguments: "{}", wireCallID: wire))
    }

    static func toolFinished(_ turn: Int, _ id: String, name: String = "echo", output: String = "ok", wire: String? = nil) -> JournalEvent {
        .toolFinished(ToolCallRecord(turn: turn, callID: id, name: name, arguments: "{}", output: output, isError: false, duration: 0.001, wireCallID: wire))
    }

    static func finished(_ status: RunResult.Status, turns: Int = 1) -> JournalEvent {
        .runFinished(.init(status: status, finalText: "", usage: nil, lastResponseID: nil, turns: turns, toolCallCount: 0, message: nil, incompleteReason: nil))
    }

    /// `event` (a response) with a usage of 1000 input and 200 output tokens, and `cost`.
    static func priced(_ event: JournalEvent, cost: Double?) -> JournalEvent {
        guard case .responseReceived(var e) = event else { return event }
        e.response.usage = Usage(inputTokens: 1000, outputTokens: 200)
        e.costUSD = cost
        return .responseReceived(e)
    }

    /// A local compaction before `turn`, leaving `tokens`.
    static func compacted(before turn: Int, tokens: Int, reason: JournalEvent.Compaction.Reason = .threshold) -> JournalEvent {
        .compaction(.init(
            turn: turn, method: .prune, reason: reason, tokensBefore: 5000, tokensAfter: tokens, window: nil, kept: "test",
            history: [.user("do it"), .user("[summary]")]))
    }

    @Test(arguments: [
        (2.345, "$2.35"), (0.0123, "$0.0123"), (0.001, "$0.001"), (0.0000042, "$0.0000042"), (0, "$0.00"), (-0.5, "-$0.50"),
        (Double.nan, "$?"), (Double.infinity, "$?"),
    ])
    func dollarsAreReadable(_ amount: Double, _ text: String) {
        #expect(USD.format(amount) == text)
    }

    @Test func aCompactedHistoryIsWhatTheNextRequestReplaysLiveAndOnResume() throws {
        let events: [JournalEvent] = [
            Self.s, Self.sent(1), Self.priced(Self.response(1, calls: [("c1", "echo")]), cost: nil), Self.toolFinished(1, "c1"),
            Self.compacted(before: 2, tokens: 40),
        ]
        for state in [Self.state(events), try Self.replayed(events)] {
            #expect(state.decide(limits: RunLimits(), compactAt: 30) == .send)
            #expect(state.replaysThisTurnOnly)
            let (input, previous) = state.nextInput
            #expect(previous == nil)
            // The compacted history, then the output that was pending when it was made.
            #expect(input.count == 3)
            #expect(input.first == .user("do it"))
            #expect(input.last == .functionCallOutput(FunctionCallOutput(callID: "c1", output: "ok")))
            #expect(state.nextInputEstimate > 40)
        }
    }

    static func state(_ events: [JournalEvent]) -> RunState {
        var state = RunState(runID: "run-test")
        for event in events { state.apply(event) }
        return state
    }

    /// The state the same events lead to after a round trip through the journal's JSON encoding.
    static func replayed(_ events: [JournalEvent]) throws -> RunState {
        let encoder = JSONEncoder()
        let records = try events.map { event in
            try JSONDecoder().decode(JournalRecord.self, from: encoder.encode(JournalRecord(runID: "run-test", time: 0, event: event)))
        }
        return try RunState(replaying: records)
    }

    // MARK: Decisions

    /// A decision in a few words, so that a table can say what it expects.
    static func describe(_ decision: RunState.Decision) -> String {
        switch decision {
        case .send: "send"
        case .attach(let id): "attach \(id)"
        case .answerApprovals(let requests): "approvals \(requests.compactMap(\.id).joined(separator: ","))"
        case .settleInterrupted(let records): "settle \(records.map(\.callID).joined(separator: ","))"
        case .runTools(let calls, let rerun):
            "run \(calls.map(\.wireID).joined(separator: ","))" + (rerun.isEmpty ? "" : " rerun \(rerun.sorted().joined(separator: ","))")
        case .finish(let end): "finish \(end.status.rawValue)"
        case .compact(let tokens): "compact \(tokens)"
        case .rejectOutput(let e): "reject \(e.attempt)"
        case .checkOutput(let names, _): "check \(names.joined(separator: ","))"
        case .checkInput(let names): "check input \(names.joined(separator: ","))"
        case .done: "done"
        }
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var events: [JournalEvent]
        var limits = RunLimits()
        var safe: Set<String> = []
        var price: ModelPrice? = nil
        var compactAt: Int? = nil
        var expected: String
        var testDescription: String { name }
    }

    static let s = started()
    static let cases: [Case] = [
        // Sending and attaching
        Case(name: "a new run sends its first request", events: [s], expected: "send"),
        Case(name: "a request without its response (a crash) is sent again", events: [s, sent(1)], expected: "send"),
        Case(name: "a failed request stays open and is sent again", events: [s, sent(1), .failure(.init(turn: 1, message: "HTTP 500", httpStatus: 500, response: nil))], expected: "send"),
        Case(
            name: "a request with a background response attaches to it",
            events: [s, sent(1), .backgroundResponse(.init(turn: 1, responseID: "resp_bg"))], expected: "attach resp_bg"),
        Case(
            name: "a background id of another turn is ignored",
            events: [s, sent(2), .backgroundResponse(.init(turn: 1, responseID: "resp_old"))], expected: "send"),
        // Answers
        Case(name: "an answer without calls completes", events: [s, sent(1), response(1, text: "hi")], expected: "finish completed"),
        Case(name: "an incomplete answer completes with its reason", events: [s, sent(1), response(1, text: "h", status: .incomplete, incomplete: "max_output_tokens")], expected: "finish completed"),
        Case(name: "a failed response fails the run", events: [s, sent(1), response(1, status: .failed, failure: "boom")], expected: "finish failed"),
        // Tools
        Case(name: "calls are run in the order asked", events: [s, sent(1), response(1, calls: [("c1", "echo"), ("c2", "add")])], expected: "run c1,c2"),
        Case(name: "only calls without output are run", events: [s, sent(1), response(1, calls: [("c1", "echo"), ("c2", "add")]), toolStarted(1, "c2", name: "add"), toolFinished(1, "c2", name: "add")], expected: "run c1"),
        Case(name: "answered calls lead to the next request", events: [s, sent(1), response(1, calls: [("c1", "echo")]), toolStarted(1, "c1"), toolFinished(1, "c1")], expected: "send"),
        // Interruptions
        Case(name: "an interrupted call of an unsafe tool is settled", events: [s, sent(1), response(1, calls: [("c1", "echo")]), toolStarted(1, "c1")], expected: "settle c1"),
        Case(name: "an interrupted call of a safe tool runs again", events: [s, sent(1), response(1, calls: [("c1", "echo")]), toolStarted(1, "c1")], safe: ["echo"], expected: "run c1 rerun c1"),
        Case(
            name: "unsafe interrupted calls are settled before the others run",
            events: [s, sent(1), response(1, calls: [("c1", "append"), ("c2", "echo")]), toolStarted(1, "c1", name: "append")], safe: ["echo"], expected: "settle c1"),
        Case(
            name: "after settling, the calls that never started run",
            events: [s, sent(1), response(1, calls: [("c1", "append"), ("c2", "echo")]), toolStarted(1, "c1", name: "append"), toolFinished(1, "c1", name: "append", output: "error: interrupted")],
            expected: "run c2"),
        Case(
            name: "a safe interrupted call runs again beside a fresh one",
            events: [s, sent(1), response(1, calls: [("c1", "echo"), ("c2", "echo")]), toolStarted(1, "c1")], safe: ["echo"], expected: "run c1,c2 rerun c1"),
        // Limits
        Case(name: "the turn limit ends the run after the tools", events: [s, sent(1), response(1, calls: [("c1", "echo")]), toolFinished(1, "c1")], limits: RunLimits(maxTurns: 1), expected: "finish max_turns"),
        Case(name: "an answer at the turn limit still completes", events: [s, sent(1), response(1, text: "done")], limits: RunLimits(maxTurns: 1), expected: "finish completed"),
        Case(name: "the tool-call limit refuses calls over it", events: [s, sent(1), response(1, calls: [("c1", "echo"), ("c2", "echo")])], limits: RunLimits(maxToolCalls: 1), expected: "finish max_tool_calls"),
        Case(name: "calls up to the tool-call limit run", events: [s, sent(1), response(1, calls: [("c1", "echo"), ("c2", "echo")])], limits: RunLimits(maxToolCalls: 2), expected: "run c1,c2"),
        Case(
            name: "an interrupted call rerun does not count twice against the limit",
            events: [s, sent(1), response(1, calls: [("c1", "echo"), ("c2", "echo")]), toolStarted(1, "c1"), toolStarted(1, "c2")],
            limits: RunLimits(maxToolCalls: 2), safe: ["echo"], expected: "run c1,c2 rerun c1,c2"),
        // Budgets (the usage below is 1000 input and 200 output tokens a response)
        Case(
            name: "a token budget reached by a response stops the run before its calls run",
            events: [s, sent(1), priced(response(1, calls: [("c1", "echo")]), cost: 0.003)], limits: RunLimits(maxTotalTokens: 1200), expected: "finish budget_exceeded"),
        Case(
            name: "calls run while the budget holds",
            events: [s, sent(1), priced(response(1, calls: [("c1", "echo")]), cost: 0.003)], limits: RunLimits(maxTotalTokens: 1201), expected: "run c1"),
        Case(
            name: "a turn that would pass the token budget is not sent",
            events: [s, sent(1), priced(response(1, calls: [("c1", "echo")]), cost: 0.003), toolFinished(1, "c1")], limits: RunLimits(maxTotalTokens: 2000),
            expected: "finish budget_exceeded"),
        Case(
            name: "a turn that fits the token budget is sent",
            events: [s, sent(1), priced(response(1, calls: [("c1", "echo")]), cost: 0.003), toolFinished(1, "c1")], limits: RunLimits(maxTotalTokens: 3000),
            expected: "send"),
        Case(
            name: "a turn whose input would pass the cost budget is not sent",
            events: [s, sent(1), priced(response(1, calls: [("c1", "echo")]), cost: 0.003), toolFinished(1, "c1")], limits: RunLimits(maxCostUSD: 0.005),
            price: ModelPrice(input: 2, output: 10), expected: "finish budget_exceeded"),
        Case(
            name: "a turn whose input fits the cost budget is sent",
            events: [s, sent(1), priced(response(1, calls: [("c1", "echo")]), cost: 0.003), toolFinished(1, "c1")], limits: RunLimits(maxCostUSD: 0.006),
            price: ModelPrice(input: 2, output: 10), expected: "send"),
        Case(
            name: "an answer that reaches the budget still completes",
            events: [s, sent(1), priced(response(1, text: "done"), cost: 0.003)], limits: RunLimits(maxTotalTokens: 100), expected: "finish completed"),
        Case(
            name: "a budget stop is resumed",
            events: [s, sent(1), priced(response(1, calls: [("c1", "echo")]), cost: 0.003), finished(.budgetExceeded), .runResumed(.init(turn: 1))],
            limits: RunLimits(maxTotalTokens: 5000), expected: "run c1"),
        // Compaction
        Case(
            name: "a turn past the compaction threshold compacts first",
            events: [s, sent(1), priced(response(1, calls: [("c1", "echo")]), cost: nil), toolFinished(1, "c1")], compactAt: 1100, expected: "compact 1216"),
        Case(
            name: "a turn under the threshold is sent",
            events: [s, sent(1), priced(response(1, calls: [("c1", "echo")]), cost: nil), toolFinished(1, "c1")], compactAt: 1300, expected: "send"),
        Case(
            name: "after a compaction the turn is sent, whatever the estimate",
            events: [s, sent(1), priced(response(1, calls: [("c1", "echo")]), cost: nil), toolFinished(1, "c1"), compacted(before: 2, tokens: 1500)],
            compactAt: 1100, expected: "send"),
        Case(
            name: "a refusal as too long compacts and sends the turn again",
            events: [s, sent(1), compacted(before: 1, tokens: 50, reason: .overflow)], compactAt: 1100, expected: "send"),
        // Approvals
        Case(name: "approval requests are answered first", events: [s, sent(1), response(1, approvals: ["ap1", "ap2"])], expected: "approvals ap1,ap2"),
        Case(
            name: "answered approvals lead to the next request",
            events: [s, sent(1), response(1, approvals: ["ap1"]), .approval(.init(turn: 1, callID: "ap1", summary: nil, reply: .raw(["type": "mcp_approval_response"]), approved: true))],
            expected: "send"),
        // Fallback
        Case(name: "a refused chain sends the turn again", events: [s, sent(1), response(1, calls: [("c1", "echo")]), toolFinished(1, "c1"), sent(2, previous: "resp_1"), .stateFallback(.init(turn: 2, reason: "no", httpStatus: 400))], expected: "send"),
        // Ends, resumes, continuations
        Case(name: "a finished run is done", events: [s, sent(1), response(1, text: "hi"), finished(.completed)], expected: "done"),
        Case(name: "a completed run is not resumed", events: [s, sent(1), response(1, text: "hi"), finished(.completed), .runResumed(.init(turn: 1))], expected: "done"),
        Case(name: "a run at its turn limit is not resumed", events: [s, sent(1), response(1, calls: [("c1", "echo")]), toolFinished(1, "c1"), finished(.maxTurns), .runResumed(.init(turn: 1))], limits: RunLimits(maxTurns: 1), expected: "done"),
        Case(name: "a cancelled run is resumed where it stopped", events: [s, sent(1), response(1, calls: [("c1", "echo")]), finished(.cancelled), .runResumed(.init(turn: 1))], expected: "run c1"),
        Case(name: "a run out of time is resumed", events: [s, sent(1), finished(.timedOut), .runResumed(.init(turn: 1))], expected: "send"),
        Case(name: "a failed response's request is sent again on resume", events: [s, sent(1), response(1, status: .failed, failure: "boom"), finished(.failed), .runResumed(.init(turn: 1))], expected: "send"),
        Case(name: "a continued run sends the follow-up", events: [s, sent(1), response(1, text: "hi"), finished(.completed), .inputAdded(.init(input: [.user("more")]))], expected: "send"),
        Case(
            name: "a continued run counts its turns anew",
            events: [s, sent(1), response(1, text: "hi"), finished(.completed), .inputAdded(.init(input: [.user("more")])), sent(2), response(2, calls: [("c2", "echo")]), toolFinished(2, "c2")],
            limits: RunLimits(maxTurns: 2), expected: "send"),
    ]

    @Test(arguments: cases)
    func decides(_ test: Case) throws {
        let live = Self.state(test.events)
        #expect(Self.describe(live.decide(limits: test.limits, price: test.price, compactAt: test.compactAt) { test.safe.contains($0) }) == test.expected)
        let resumed = try Self.replayed(test.events)
        #expect(Self.describe(resumed.decide(limits: test.limits, price: test.price, compactAt: test.compactAt) { test.safe.contains($0) }) == test.expected)
    }

    @Test func aSettledInterruptionTellsTheModelAndKeepsTheServersID() throws {
        let state = Self.state([Self.s, Self.sent(1), Self.response(1, calls: [("c1", "append")]), Self.toolStarted(1, "c1", name: "append")])
        guard case .settleInterrupted(let records) = state.decide(limits: RunLimits()) else {
            Issue.record("expected the call to be settled")
            return
        }
        let record = try #require(records.first)
        #expect(record.isError)
        #expect(record.output.contains("interrupted by a crash"))
        #expect(record.notes == ["interrupted: not run again, since append is not marked safe to repeat"])
    }

    @Test func limitsAndFailuresEndWithTheirMessages() {
        let turns = Self.state([Self.s, Self.sent(1), Self.response(1, calls: [("c1", "echo")]), Self.toolFinished(1, "c1")])
        #expect(turns.decide(limits: RunLimits(maxTurns: 1)) == .finish(turns.finish(.maxTurns, message: "the run reached its limit of 1 turns")))
        let calls = Self.state([Self.s, Self.sent(1), Self.response(1, calls: [("c1", "echo"), ("c2", "echo")])])
        #expect(calls.decide(limits: RunLimits(maxToolCalls: 1)) == .finish(calls.finish(.maxToolCalls, message: "the model asked for 2 more tool calls after 0, over the limit of 1")))
        let failed = Self.state([Self.s, Self.sent(1), Self.response(1, status: .failed, failure: "boom")])
        #expect(failed.decide(limits: RunLimits()) == .finish(failed.finish(.failed, message: "the response failed: server_error: boom")))
        let incomplete = Self.state([Self.s, Self.sent(1), Self.response(1, text: "h", status: .incomplete, incomplete: "max_output_tokens")])
        #expect(incomplete.decide(limits: RunLimits()) == .finish(incomplete.finish(.completed, text: "h", incompleteReason: "max_output_tokens")))
    }

    // MARK: Resume, continue, fall back

    @Test(arguments: RunResult.Status.allCases)
    func aRunIsSettledExactlyWhenResumeWouldNotGoOn(_ status: RunResult.Status) {
        let state = Self.state([Self.s, Self.sent(1), Self.response(1, text: "hi"), Self.finished(status)])
        #expect(state.isSettled == !status.canResume)
        #expect(Self.state([Self.s, Self.sent(1)]).isSettled == false)
    }

    @Test func onlyARunThatEndedBetweenTurnsCanBeContinued() {
        #expect(throws: CoreError.self) { try Self.state([Self.s, Self.sent(1)]).checkContinuable() }
        let midTurn = Self.state([Self.s, Self.sent(1), Self.response(1, calls: [("c1", "echo")]), Self.finished(.cancelled)])
        #expect {
            try midTurn.checkContinuable()
        } throws: { error in
            (error as? CoreError)?.kind == .continuation && "\(error)".contains("in the middle of a turn")
        }
        let ended = Self.state([Self.s, Self.sent(1), Self.response(1, text: "hi"), Self.finished(.completed)])
        #expect(throws: Never.self) { try ended.checkContinuable() }
    }

    @Test func onlyAChainedRequestInAutoModeFallsBack() {
        let chained: [JournalEvent] = [Self.sent(1), Self.response(1, calls: [("c1", "echo")]), Self.toolFinished(1, "c1"), Self.sent(2, previous: "resp_1")]
        #expect(Self.state([Self.started(.auto)] + chained).fallsBackWhenChainRefused)
        #expect(!Self.state([Self.started(.stateful)] + chained).fallsBackWhenChainRefused)
        #expect(!Self.state([Self.started(.auto), Self.sent(1)]).fallsBackWhenChainRefused)
        #expect(!Self.state([Self.started(.stateless), Self.sent(1, stateless: true)]).fallsBackWhenChainRefused)
        // After the fallback, the run replays its history: a second refusal cannot happen.
        let fell = Self.state([Self.started(.auto)] + chained + [.stateFallback(.init(turn: 2, reason: "no", httpStatus: 400))])
        #expect(fell.replaysHistory)
        #expect(fell.nextTurn == 2)
        #expect(fell.nextInput.previousResponseID == nil)
    }

    @Test func aResumedFailedResponseSendsItsRequestAgainWithWhatItCarried() {
        let outputs: [InputItem] = [.functionCallOutput(FunctionCallOutput(callID: "c1", output: "ok"))]
        let state = Self.state([
            Self.s, Self.sent(1), Self.response(1, calls: [("c1", "echo")]), Self.toolFinished(1, "c1"),
            Self.sent(2, previous: "resp_1", input: outputs), Self.response(2, id: "resp_2", status: .failed, failure: "boom"), Self.finished(.failed, turns: 2),
            .runResumed(.init(turn: 2)),
        ])
        #expect(state.decide(limits: RunLimits()) == .send)
        #expect(state.nextTurn == 2)
        #expect(state.nextInput.previousResponseID == "resp_1")
        #expect(state.nextInput.input == outputs)
    }

    // MARK: Call ids that repeat

    /// Some servers (Amazon Bedrock's Responses endpoint among them) restart call ids in every response.
    static let repeating: [JournalEvent] = [
        started(.stateless), sent(1, stateless: true), response(1, calls: [("call_0", "echo"), ("call_1", "echo")]),
        toolStarted(1, "call_0"), toolFinished(1, "call_0", output: "one"), toolStarted(1, "call_1"), toolFinished(1, "call_1", output: "two"),
        sent(2, stateless: true), response(2, calls: [("call_0", "echo")]),
    ]

    /// The `call_id`s of the function calls and the function call outputs in input items.
    static func ids(_ input: [InputItem]) throws -> (calls: [String], outputs: [String]) {
        let json = try JSONValue(encoding: input).arrayValue ?? []
        return (
            json.filter { $0["type"] == "function_call" }.compactMap { $0["call_id"]?.stringValue },
            json.filter { $0["type"] == "function_call_output" }.compactMap { $0["call_id"]?.stringValue }
        )
    }

    @Test func aRepeatedCallIDIsRequalifiedInTheCallAndItsOutput() throws {
        var state = Self.state(Self.repeating)
        #expect(state.calls.map(\.wireID) == ["call_0-t2"])
        #expect(state.calls.map(\.call.callID) == ["call_0"])
        guard case .runTools(let calls, _) = state.decide(limits: RunLimits()) else {
            Issue.record("expected the call to run")
            return
        }
        #expect(calls.map(\.call.callID) == ["call_0"])
        state.apply(Self.toolStarted(2, "call_0", wire: "call_0-t2"))
        state.apply(Self.toolFinished(2, "call_0", output: "three", wire: "call_0-t2"))
        let ids = try Self.ids(state.nextInput.input)
        #expect(ids.calls == ["call_0", "call_1", "call_0-t2"])
        #expect(ids.outputs == ["call_0", "call_1", "call_0-t2"])
        #expect(Set(ids.calls).count == ids.calls.count)
        // Each output answers its own call.
        let outputs = try JSONValue(encoding: state.nextInput.input).arrayValue?.filter { $0["type"] == "function_call_output" }.compactMap { $0["output"]?.stringValue }
        #expect(outputs == ["one", "two", "three"])
        // The journal keeps the server's id.
        #expect(state.toolCalls.map(\.callID) == ["call_0", "call_1", "call_0"])
        #expect(state.toolCalls.map(\.wireCallID) == [nil, nil, "call_0-t2"])
        // A resume computes the same ids.
        var resumed = try Self.replayed(Self.repeating)
        resumed.apply(Self.toolFinished(2, "call_0", output: "three", wire: "call_0-t2"))
        #expect(resumed.nextInput.input == state.nextInput.input)
    }

    @Test func aChainedRequestAnswersTheServersOwnIDs() throws {
        var events = Self.repeating
        events[0] = Self.started(.auto)
        events[1] = Self.sent(1)
        events[7] = Self.sent(2, previous: "resp_1")
        var state = Self.state(events + [Self.toolFinished(2, "call_0", output: "three", wire: "call_0-t2")])
        #expect(try Self.ids(state.nextInput.input).outputs == ["call_0"])
        #expect(state.nextInput.previousResponseID == "resp_2")
        // Falling back to replaying keeps the history unique.
        state.apply(Self.sent(3, previous: "resp_2", input: state.nextInput.input))
        state.apply(.stateFallback(.init(turn: 3, reason: "gone", httpStatus: 404)))
        let ids = try Self.ids(state.nextInput.input)
        #expect(ids.calls == ["call_0", "call_1", "call_0-t2"])
        #expect(ids.outputs == ids.calls)
    }

    @Test func aCallIDRepeatedInOneResponseOrInTheInputIsRequalifiedToo() throws {
        let given: [InputItem] = [.output(.functionCall(FunctionCall(callID: "call_9", name: "echo", arguments: "{}"))), .functionCallOutput(FunctionCallOutput(callID: "call_9", output: "x")), .user("go")]
        var state = Self.state([
            Self.started(.stateless, input: given), Self.sent(1, stateless: true), Self.response(1, calls: [("call_9", "echo"), ("call_9", "echo"), ("", "echo")]),
        ])
        #expect(state.calls.map(\.wireID) == ["call_9-t1", "call_9-t1-2", "call-t1"])
        for (slot, output) in zip(state.calls, ["a", "b", "c"]) {
            state.apply(Self.toolStarted(1, slot.call.callID, wire: slot.requalifiedID))
            state.apply(Self.toolFinished(1, slot.call.callID, output: output, wire: slot.requalifiedID))
        }
        let ids = try Self.ids(state.nextInput.input)
        #expect(ids.calls == ["call_9", "call_9-t1", "call_9-t1-2", "call-t1"])
        #expect(ids.outputs == ids.calls)
    }

    @Test func aJournalWithoutWireIDsMatchesARepeatInsideOneResponseToEachCall() throws {
        // Two calls with one id in one response, journaled (before wire ids) under the server's id alone: each line
        // answers its own call, so neither is run again and both outputs are replayed.
        var state = Self.state([Self.started(.stateless), Self.sent(1, stateless: true), Self.response(1, calls: [("call_9", "echo"), ("call_9", "echo")])])
        #expect(state.calls.map(\.wireID) == ["call_9", "call_9-t1"])
        state.apply(Self.toolFinished(1, "call_9", output: "first"))
        state.apply(Self.toolFinished(1, "call_9", output: "second"))
        #expect(state.decide(limits: RunLimits()) == .send)
        let outputs = try JSONValue(encoding: state.nextInput.input).arrayValue?.filter { $0["type"] == "function_call_output" }
        #expect(outputs?.compactMap { $0["call_id"]?.stringValue } == ["call_9", "call_9-t1"])
        #expect(outputs?.compactMap { $0["output"]?.stringValue } == ["first", "second"])
    }

    @Test func aJournalWithoutWireIDsStillMatchesItsCalls() {
        // Journals written before wire ids name the server's id alone; the first call with that id takes the record.
        let state = Self.state(Self.repeating + [Self.toolStarted(2, "call_0")])
        guard case .settleInterrupted(let records) = state.decide(limits: RunLimits()) else {
            Issue.record("expected the interrupted call to be settled")
            return
        }
        #expect(records.map(\.wireCallID) == ["call_0-t2"])
    }
}
