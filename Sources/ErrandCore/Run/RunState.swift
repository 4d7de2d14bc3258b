import Foundation
import ResponsesAPI

/// Everything a run has done so far, and the rules that move it on. A plain value with no I/O: ``apply(_:)`` is the
/// only code that changes it, one ``JournalEvent`` at a time, and ``decide(limits:)`` says what the run should do next.
/// The live loop decides, records the event that results, and applies it; a resume reads the journal's events and
/// applies the same function, so there is no second copy of the rules.
package struct RunState: Sendable, Hashable {
    /// What the run should do next.
    package enum Decision: Sendable, Hashable {
        /// Send the next request (or send the last one again: a fallback, a crash before its response).
        case send
        /// Fetch the background response the server was working on for the unanswered request.
        case attach(responseID: String)
        /// Answer a hosted MCP server's approval requests.
        case answerApprovals([HostedToolCall])
        /// Record these calls as interrupted without running them again: a crash stopped them after they started, and
        /// their tools are not safe to repeat. Each record tells the model so.
        case settleInterrupted([ToolCallRecord])
        /// Run these calls of the last response; those in `rerun` (wire ids) had started before a crash and are run
        /// again because their tools are safe to repeat.
        case runTools([Call], rerun: Set<String>)
        /// Compact the conversation before the next request: it would hold about `tokens` tokens, past the threshold.
        case compact(tokens: Int)
        /// Refuse the final answer, which does not fit the output schema, and ask again.
        case rejectOutput(JournalEvent.OutputRejected)
        /// Check the final answer with these output guardrails (by name) before the run completes.
        case checkOutput(names: [String], text: String)
        /// Check the input with these input guardrails (by name) before anything else happens (a resumed run whose
        /// verdicts were not journaled). A `send` with unchecked input guardrails runs them beside the request instead.
        case checkInput(names: [String])
        /// End the run.
        case finish(JournalEvent.RunFinished)
        /// The run has ended.
        case done
    }

    /// A function call of the last response and the id it goes by in requests.
    ///
    /// Some servers restart `call_id`s in every response (`call_0` for the first call of each turn), so that a replayed
    /// history would carry two calls and two outputs with the same id, and nothing would say which output answers which
    /// call. A call whose id repeats one already in the run is re-qualified with its turn (`call_0-t2`), consistently in
    /// the call and its output, in replays, continuations and resumes alike (it is computed from the journal). The
    /// journal and the tool keep the id the server gave; a chained request answers the server's own ids.
    package struct Call: Sendable, Hashable {
        /// The call as the server gave it.
        package var call: FunctionCall
        /// The id that is unique in the run: the server's, unless it repeats an earlier one.
        package var wireID: String

        /// Creates a call; `wireID` defaults to the server's id.
        package init(_ call: FunctionCall, wireID: String? = nil) {
            self.call = call
            self.wireID = wireID ?? call.callID
        }

        /// The wire id when it differs from the server's, as journal records keep it.
        package var requalifiedID: String? { wireID == call.callID ? nil : wireID }
    }

    /// The run's id.
    package private(set) var runID: String
    /// The agent's name, as journaled.
    package private(set) var agent = "agent"
    /// The model, as journaled.
    package private(set) var model = ""
    /// How the run started: its instructions, tools and digest.
    package private(set) var started: JournalEvent.RunStarted?

    /// How the run carries state, as it started: the agent's mode is the run's from then on (the journal keeps it).
    package var mode: StateMode { started?.mode ?? .auto }
    /// The turn of the last request sent; a request sent again (after a fallback or a crash) keeps its number.
    package private(set) var turn = 0
    /// Whether the history is replayed each turn (stateless) rather than chained with `previous_response_id`.
    package private(set) var replaysHistory = false
    /// The `tool_choice` of the next request.
    package private(set) var toolChoice: ToolChoice?
    private var resetToolChoice = true

    /// Token usage summed over the responses (and compaction calls).
    package private(set) var usage = Usage()
    /// USD summed over the priced responses and compaction calls.
    package private(set) var pricedCost: Double = 0
    /// Responses (and compaction calls) with a usage but no cost: the model had no price.
    package private(set) var unpricedCalls = 0
    /// The tokens of the conversation as the server will read it next, before what the next request adds: the last
    /// response's input plus output as the provider reported them, or a compaction's estimate; nil when unknown.
    package private(set) var contextTokens: Int?
    /// An estimate of the instructions and tools, which every request carries.
    package private(set) var overheadTokens = 0
    /// The context window a compaction learned (a provider that named it when it refused a request).
    package private(set) var learnedWindow: Int?
    /// The turn before which the run last compacted (one compaction per turn, whatever the estimate says after it).
    private var compactedBeforeTurn: Int?
    /// The turn a refusal as too long was answered by compacting: it is sent again once, not twice.
    package private(set) var overflowRetryTurn: Int?
    /// Every output item, in order.
    package private(set) var items: [OutputItem] = []
    /// Every finished tool call, turn by turn, each turn in the order the model asked for the calls.
    package private(set) var toolCalls: [ToolCallRecord] = []
    /// The conversation so far, as a replayed request sends it (what the next request adds is in ``pendingInput``).
    package private(set) var history: [InputItem] = []
    /// The last response's id, which the next chained request names.
    package private(set) var previousResponseID: String?
    /// The last response's id, for the result.
    package private(set) var lastResponseID: String?

    /// The last request, until its response arrives.
    package private(set) var openRequest: JournalEvent.RequestSent?
    /// The last request sent, answered or not: sent again when a resumed run's last response had failed.
    private var lastRequest: JournalEvent.RequestSent?
    /// Whether the next request is the last one sent again.
    private var resend = false
    /// Whether the next request replays the history once (a WebSocket connection did not hold the chained response).
    private var replayNext = false
    /// The background response the server named for the open request.
    package private(set) var backgroundResponseID: String?

    /// The last response's function calls, in the order the model asked for them.
    package private(set) var calls: [Call] = []
    /// The finished calls of the last response, by wire id.
    private var outputs: [String: ToolCallRecord] = [:]
    /// The calls of the last response that started, by wire id.
    private var startedCalls: Set<String> = []
    /// Every `call_id` the run's requests have carried or will carry, to keep them unique.
    private var usedCallIDs: Set<String> = []
    /// Approval requests of the last response not yet answered.
    package private(set) var openApprovals: [HostedToolCall] = []
    /// Replies to approval requests, and input added to a finished run, for the next request.
    private var added: [InputItem] = []
    /// What the last response ended with, once it arrived.
    private var answer: Answer?
    /// Where the current stretch of the run began (a continued run counts its turns and calls anew).
    private var segmentTurn = 0
    private var segmentCalls = 0

    /// How the run ended, once it has.
    package private(set) var finished: JournalEvent.RunFinished?

    /// The agent that has the conversation after a handoff (nil: the run's own agent).
    package private(set) var activeAgent: String?
    /// How many times the conversation was handed on.
    package private(set) var handoffCount = 0
    /// The guardrails that gave a verdict: `input:NAME` (for the current input), `output:NAME:TURN`.
    package private(set) var checkedGuardrails: Set<String> = []
    /// The guardrail that tripped (or could not run), which ends the run.
    package private(set) var trip: JournalEvent.GuardrailChecked?
    /// Corrective turns asked for in this stretch of the run.
    package private(set) var outputAttempts = 0
    /// The input of this stretch of the run: the run's, or what a continuation added (what input guardrails check).
    private var stretchInput: [InputItem] = []

    /// What the run's end depends on besides the limits: the active agent's output schema and output guardrails.
    package struct OutputRules: Sendable {
        /// The schema the final answer must fit.
        package var schema: OutputSchema?
        /// How many corrective turns a refused answer gets.
        package var retries: Int
        /// The output guardrails' names.
        package var guardrails: [String]
        /// The input guardrails' names (the run's own agent's).
        package var inputGuardrails: [String]

        package init(schema: OutputSchema? = nil, retries: Int = 2, guardrails: [String] = [], inputGuardrails: [String] = []) {
            self.schema = schema
            self.retries = retries
            self.guardrails = guardrails
            self.inputGuardrails = inputGuardrails
        }
    }

    private struct Answer: Sendable, Hashable {
        var status: ResponseStatus
        var text: String
        var incompleteReason: String?
        var failure: String?
    }

    /// An empty state for the run `runID`; apply its `run_started` first.
    package init(runID: String) {
        self.runID = runID
    }

    /// The state a journal's events lead to.
    package init(replaying records: [JournalRecord]) throws(CoreError) {
        guard case .runStarted? = records.first?.event else {
            throw CoreError(.notAJournal, "not a run journal: it does not begin with run_started")
        }
        self.init(runID: records[0].runID)
        for record in records { apply(record.event) }
    }

    // MARK: The transition

    /// Applies one event. The only code that changes the state.
    package mutating func apply(_ event: JournalEvent) {
        switch event {
        case .runStarted(let e):
            started = e
            agent = e.agent
            model = e.model
            history = e.input
            stretchInput = e.input
            overheadTokens = TokenEstimate.of(text: e.instructions ?? "") + (e.tools.map { TokenEstimate.of($0) } ?? 0)
            usedCallIDs.formUnion(Self.callIDs(in: e.input))
            replaysHistory = e.mode == .stateless
            toolChoice = e.toolChoice
            resetToolChoice = e.resetToolChoice ?? true

        case .requestSent(let e):
            // What the request carried joins the history: the replies and outputs, in call order.
            history += pendingInput
            added = []
            outputs = [:]
            calls = []
            startedCalls = []
            turn = e.turn
            replaysHistory = e.stateless
            openRequest = e
            lastRequest = e
            resend = false
            replayNext = false
            backgroundResponseID = nil
            answer = nil

        case .backgroundResponse(let e):
            if openRequest?.turn == e.turn { backgroundResponseID = e.responseID }

        case .responseReceived(let e):
            receive(e)

        case .toolStarted(let e):
            startedCalls.insert(e.wireCallID ?? wireID(forServerID: e.callID, turn: e.turn) { startedCalls.contains($0) })

        case .toolFinished(let record):
            finishCall(record)

        case .hostedCall:
            break

        case .approval(let e):
            openApprovals.removeAll { $0.id == e.callID }
            added.append(e.reply)

        case .stateFallback(let e):
            // The chained request was refused: it goes again, with the history replayed, under the same turn; from
            // then on, unless only this turn's connection lacked the response.
            if e.onlyThisTurn { replayNext = true } else { replaysHistory = true }
            openRequest = nil
            resend = true

        case .connection:
            break

        case .compaction(let e):
            compact(e)

        case .outputRejected(let e):
            outputAttempts = max(outputAttempts, e.attempt)
            added.append(.user(e.message))

        case .guardrail(let e):
            checkedGuardrails.insert(e.kind == .input ? "input:\(e.name)" : "output:\(e.name):\(e.turn)")
            count(e.subRun?.usage, cost: e.subRun?.costUSD)
            if !e.passed, trip == nil { trip = e }

        case .handoff(let e):
            // One line for the call's answer and the switch, so that a crash cannot leave one without the other.
            if let record = e.record { finishCall(record) }
            activeAgent = e.to
            handoffCount += 1
            toolChoice = e.toolChoice

        case .inputAdded(let e):
            finished = nil
            answer = nil
            trip = nil
            outputAttempts = 0
            checkedGuardrails = checkedGuardrails.filter { !$0.hasPrefix("input:") }
            stretchInput = e.input
            added += e.input
            usedCallIDs.formUnion(Self.callIDs(in: e.input))
            segmentTurn = turn
            segmentCalls = toolCalls.count

        case .failure:
            // The request stays open: it got no response, so a resumed run sends it again (or attaches again to the
            // background response it was waiting for), with what it carried.
            break

        case .runResumed:
            resume()

        case .runFinished(let e):
            finished = e
        }
    }

    /// A response arrived: its output joins the items and the history, its calls (under their wire ids) and approval
    /// requests are what the run answers next, and its status is the answer so far.
    private mutating func receive(_ e: JournalEvent.ResponseReceived) {
        let response = e.response
        openRequest = nil
        resend = false
        backgroundResponseID = nil
        turn = e.turn
        count(response.usage, cost: e.costUSD)
        contextTokens = response.usage.flatMap { $0.inputTokens > 0 ? $0.inputTokens + $0.outputTokens : nil }
        items += response.output
        calls = response.functionCalls.map { call in Call(call, wireID: uniqueCallID(call.callID, turn: e.turn)) }
        let output = replayable(response.output)
        if let cut = output.lastIndex(where: { if case .output(let item) = $0 { item.isCompaction } else { false } }) {
            // The provider compacted: its item stands for everything before it, which a replay no longer sends.
            history = Array(output[cut...])
        } else {
            history += output
        }
        lastResponseID = response.id
        previousResponseID = response.id.isEmpty ? nil : response.id
        outputs = [:]
        startedCalls = []
        openApprovals = response.output.compactMap { item in
            if case .hostedToolCall(let call) = item, call.type == "mcp_approval_request" { call } else { nil }
        }
        answer = Answer(
            status: response.status, text: response.outputText,
            incompleteReason: response.status == .incomplete ? response.incompleteDetails?.reason ?? "unknown" : nil,
            failure: response.status == .failed
                ? "the response failed: \(response.error.map { "\($0.code ?? "error"): \(OneLine.squash($0.message, limit: ResponsesError.providerTextLimit))" } ?? "no reason given")" : nil)
        if (!calls.isEmpty || !openApprovals.isEmpty) && resetToolChoice { toolChoice = toolChoice.map(Self.relaxed) }
    }

    /// A call ended: its output is kept under its wire id, and its record takes its place among the run's calls, in
    /// the order the model asked for them (records arrive as calls finish).
    private mutating func finishCall(_ record: ToolCallRecord) {
        if let child = record.subRun { count(child.usage, cost: child.costUSD) }
        let id = record.wireCallID ?? wireID(forServerID: record.callID, turn: record.turn) { outputs[$0] != nil }
        outputs[id] = record
        startedCalls.insert(id)
        // Records arrive as calls finish; they are kept in the order the model asked for the calls.
        let key = (record.turn, rank(record, turn: record.turn))
        var position = toolCalls.count
        while position > 0, (toolCalls[position - 1].turn, rank(toolCalls[position - 1], turn: toolCalls[position - 1].turn)) > key {
            position -= 1
        }
        toolCalls.insert(record, at: position)
    }

    /// Adds a call's usage and cost to the run's.
    private mutating func count(_ used: Usage?, cost: Double?) {
        guard let used else { return }
        usage = usage + used
        if let cost { pricedCost += cost } else if used.totalTokens > 0 { unpricedCalls += 1 }
    }

    /// The conversation was compacted: its history replaces the run's, and the next request replays it (a chained run
    /// chains again from that request's response). A compaction that answers a refusal sends the refused turn again.
    private mutating func compact(_ e: JournalEvent.Compaction) {
        count(e.usage, cost: e.costUSD)
        if let window = e.window { learnedWindow = window }
        guard e.method != .server else { return }
        if let replacement = e.history {
            history = replacement
            if !replaysHistory { replayNext = true }
        }
        contextTokens = e.tokensAfter
        compactedBeforeTurn = e.turn
        if e.reason == .overflow {
            overflowRetryTurn = e.turn
            openRequest = nil
            resend = true
        }
    }

    /// The run was resumed: a run stopped early (a cancel, its time limit, a failure) is taken up again where it stopped.
    private mutating func resume() {
        if let end = finished, end.status.canResume {
            finished = nil
            // A response that failed (`response.failed`, an `error` event) answered nothing: its request goes again.
            if answer?.failure != nil, let last = lastRequest {
                answer = nil
                calls = []
                outputs = [:]
                startedCalls = []
                openApprovals = []
                openRequest = last
                previousResponseID = last.previousResponseID
            }
        }
    }

    /// Where a call stands in the order the model asked for it (the last response's calls; others keep their place).
    private func rank(_ record: ToolCallRecord, turn: Int) -> Int {
        guard turn == self.turn else { return Int.max }
        let id = record.wireCallID ?? record.callID
        return calls.firstIndex { $0.wireID == id } ?? calls.firstIndex { $0.call.callID == record.callID } ?? Int.max
    }

    /// The wire id of a journal line that names only the server's id: that id itself when a call goes by it and has
    /// no line yet (the usual case), else the first of the last response's calls with that server id that is not `taken` yet (a journal
    /// written before wire ids existed).
    private func wireID(forServerID serverID: String, turn: Int, taken: (String) -> Bool) -> String {
        guard turn == self.turn else { return serverID }
        if !taken(serverID), calls.contains(where: { $0.wireID == serverID }) { return serverID }
        let matching = calls.filter { $0.call.callID == serverID }
        return (matching.first { !taken($0.wireID) } ?? matching.first)?.wireID ?? serverID
    }

    /// `id`, or, when the run has used it already (or it is empty), the same id qualified with the turn.
    private mutating func uniqueCallID(_ id: String, turn: Int) -> String {
        var unique = id
        if unique.isEmpty || usedCallIDs.contains(unique) {
            let base = id.isEmpty ? "call" : id
            unique = "\(base)-t\(turn)"
            var n = 2
            while usedCallIDs.contains(unique) {
                unique = "\(base)-t\(turn)-\(n)"
                n += 1
            }
        }
        usedCallIDs.insert(unique)
        return unique
    }

    /// The response's output as the history replays it: each function call under its wire id.
    private func replayable(_ output: [OutputItem]) -> [InputItem] {
        var next = calls.makeIterator()
        return output.map { item in
            guard case .functionCall(var call) = item, let slot = next.next() else { return .output(item) }
            call.callID = slot.wireID
            return .output(.functionCall(call))
        }
    }

    /// The `call_id`s of function calls in input items.
    private static func callIDs(in input: [InputItem]) -> [String] {
        input.compactMap { item in
            switch item {
            case .output(.functionCall(let call)): call.callID
            case .raw(let json) where json["type"]?.stringValue == "function_call": json["call_id"]?.stringValue
            default: nil
            }
        }
    }

    // MARK: The decision

    /// What the run should do next, within `limits`. Every limit is checked here and nowhere else (the wall-clock
    /// time limit and cancellation aside, which the loop's driver watches). `safeToRepeat` says whether a tool (by
    /// name) may run again when a crash interrupted its call: such calls run again; the others are settled as
    /// interrupted and the model is told.
    ///
    /// Budgets (``RunLimits/maxTotalTokens`` and the others) are checked after a response, before its calls run, when
    /// the totals have reached one; and before each request, when what it would send (``nextInputEstimate``) cannot
    /// fit, costed at `price`. Past `compactAt` tokens, the run compacts before sending (once a turn).
    package func decide(
        limits: RunLimits, price: ModelPrice? = nil, compactAt: Int? = nil, output rules: OutputRules = OutputRules(),
        safeToRepeat: (String) -> Bool = { _ in false }
    ) -> Decision {
        let next = step(limits: limits, price: price, compactAt: compactAt, rules: rules, safeToRepeat: safeToRepeat)
        guard !rules.inputGuardrails.isEmpty else { return next }
        switch next {
        case .send, .done:
            return next
        case .finish(let end) where end.status == .guardrailTripped:
            return next
        default:
            // Nothing happens before the input is checked (a resumed run whose verdicts were lost with a crash).
            let unchecked = uncheckedInput(rules.inputGuardrails)
            return unchecked.isEmpty ? next : .checkInput(names: unchecked)
        }
    }

    private func step(
        limits: RunLimits, price: ModelPrice?, compactAt: Int?, rules: OutputRules, safeToRepeat: (String) -> Bool
    ) -> Decision {
        if finished != nil { return .done }
        if let trip { return .finish(finish(.guardrailTripped, message: Self.tripMessage(trip))) }
        if openRequest != nil {
            // A request without its response (a resumed run): fetch the background response, or send it again.
            if let backgroundResponseID { return .attach(responseID: backgroundResponseID) }
            return .send
        }
        if resend { return .send }
        if let answer {
            if let failure = answer.failure { return .finish(finish(.failed, message: failure)) }
            if !openApprovals.isEmpty { return .answerApprovals(openApprovals) }
            let unanswered = unansweredCalls
            if !unanswered.isEmpty {
                let interrupted = unanswered.filter { startedCalls.contains($0.wireID) }
                let abandoned = interrupted.filter { !safeToRepeat($0.call.name) }
                if !abandoned.isEmpty { return .settleInterrupted(abandoned.map { interruptedRecord($0) }) }
                if limits.hasBudget, let stop = budgetStop(limits, price: price, nextInput: nil) {
                    return .finish(finish(.budgetExceeded, message: stop.message, incompleteReason: stop.budget))
                }
                if let max = limits.maxToolCalls {
                    let made = toolCalls.count - segmentCalls
                    let fresh = unanswered.count - interrupted.count
                    if made + fresh > max, fresh > 0 {
                        return .finish(finish(.maxToolCalls, message: "the model asked for \(fresh) more tool calls after \(made), over the limit of \(max)"))
                    }
                }
                return .runTools(unanswered, rerun: Set(interrupted.map(\.wireID)))
            }
            if calls.isEmpty, added.isEmpty {
                return complete(answer, rules: rules)
            }
        }
        if turn - segmentTurn >= limits.maxTurns {
            return .finish(finish(.maxTurns, message: "the run reached its limit of \(limits.maxTurns) turns"))
        }
        if compactAt != nil || limits.hasBudget {
            let next = nextInputEstimate
            if let compactAt, next > compactAt, compactedBeforeTurn != nextTurn { return .compact(tokens: next) }
            if limits.hasBudget, let stop = budgetStop(limits, price: price, nextInput: next) {
                return .finish(finish(.budgetExceeded, message: stop.message, incompleteReason: stop.budget))
            }
        }
        return .send
    }

    /// The end of a run whose model answered without tools: the answer read against the output schema (refused, with
    /// a corrective turn while any are left), checked by the output guardrails, then the run completes.
    private func complete(_ answer: Answer, rules: OutputRules) -> Decision {
        var output: JSONValue?
        if let schema = rules.schema {
            switch schema.read(answer.text) {
            case .success(let value):
                output = value
            case .failure(let rejection):
                let cut = answer.incompleteReason.map { " (the answer was cut short: \($0))" } ?? ""
                guard outputAttempts < rules.retries else {
                    let tries = rules.retries == 0 ? "" : " after \(rules.retries) corrective turn\(rules.retries == 1 ? "" : "s")"
                    return .finish(finish(
                        .invalidOutput, text: answer.text,
                        message: "the answer does not match the output schema \"\(schema.name)\"\(tries)\(cut): \(rejection.description)"))
                }
                let attempt = outputAttempts + 1
                return .rejectOutput(JournalEvent.OutputRejected(
                    turn: turn, problems: rejection.problems, attempt: attempt,
                    message: schema.correction(rejection, attempt: attempt, of: rules.retries)))
            }
        }
        let unchecked = rules.guardrails.filter { !checkedGuardrails.contains("output:\($0):\(turn)") }
        if !unchecked.isEmpty { return .checkOutput(names: unchecked, text: answer.text) }
        return .finish(finish(.completed, text: answer.text, incompleteReason: answer.incompleteReason, output: output))
    }

    /// The message of a run a guardrail stopped.
    static func tripMessage(_ trip: JournalEvent.GuardrailChecked) -> String {
        let what = "the \(trip.kind.rawValue) guardrail '\(trip.name)'"
        if let error = trip.error { return "\(what) could not run: \(error); guardrails fail closed, so the run stopped" }
        return "\(what) tripped: \(trip.reason ?? "no reason given")"
    }

    /// Which of `names` (input guardrails) have not given a verdict on the current input.
    package func uncheckedInput(_ names: [String]) -> [String] { names.filter { !checkedGuardrails.contains("input:\($0)") } }

    /// The text input guardrails check: the user messages of the run's input (or of the input a continuation added).
    package var inputText: String {
        stretchInput.compactMap { item -> String? in
            let json = (try? JSONValue(encoding: item)) ?? .null
            guard json["role"] == "user" else { return nil }
            return json["content"]?.stringValue ?? (json["content"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }.joined(separator: "\n")
        }.joined(separator: "\n\n")
    }

    /// The record of a call a crash interrupted and that is not run again: an error that tells the model so.
    private func interruptedRecord(_ slot: Call) -> ToolCallRecord {
        let call = slot.call
        return ToolCallRecord(
            turn: turn, callID: call.callID, name: call.name, arguments: call.arguments,
            output: "error: this call of \(call.name) was interrupted by a crash before it finished; it may or may not have taken effect. Check before calling it again.",
            isError: true, duration: 0, notes: ["interrupted: not run again, since \(call.name) is not marked safe to repeat"],
            wireCallID: slot.requalifiedID)
    }

    // MARK: Resuming, continuing, falling back

    /// Whether the run has ended for good: it completed or hit a turn or call limit, so a resume returns its recorded
    /// result instead of going on. A run that has not ended, or that stopped early (cancelled, out of time, failed),
    /// is taken up again.
    package var isSettled: Bool { finished.map { !$0.status.canResume } ?? false }

    /// Refuses a continuation (more input for a finished run) when the run has not ended, or ended in the middle of a
    /// turn: such a run is resumed instead.
    package func checkContinuable() throws(CoreError) {
        guard let end = finished else {
            throw CoreError(.continuation, "the run \(runID) has not ended; resume it instead (--resume \(runID))")
        }
        if end.status == .guardrailTripped, openRequest != nil || !unansweredCalls.isEmpty {
            throw CoreError(
                .continuation,
                "the run \(runID) ended guardrail_tripped before its first answer was in (\(end.message ?? "")); it cannot be continued: start a new run")
        }
        if !unansweredCalls.isEmpty || openRequest != nil {
            throw CoreError(
                .continuation,
                "the run \(runID) ended \(end.status.rawValue) in the middle of a turn (a request or tool calls without their answers); resume it instead (--resume \(runID))")
        }
    }

    /// Whether a refusal of `previous_response_id` for the request in flight makes the run replay its history from now
    /// on: only in `auto` mode, and only for a request that was chained.
    package var fallsBackWhenChainRefused: Bool {
        mode == .auto && !replaysHistory && openRequest?.previousResponseID != nil
    }

    /// The end of the run as it stands, with `status`.
    package func finish(
        _ status: RunResult.Status, text: String = "", message: String? = nil, incompleteReason: String? = nil, output: JSONValue? = nil
    ) -> JournalEvent.RunFinished {
        JournalEvent.RunFinished(
            status: status, finalText: text, usage: usage, lastResponseID: lastResponseID, turns: turn, toolCallCount: toolCalls.count,
            message: message, incompleteReason: incompleteReason, costUSD: cost, output: output)
    }

    /// The last response's calls that have no output yet.
    package var unansweredCalls: [Call] { calls.filter { outputs[$0.wireID] == nil } }

    // MARK: The next request

    /// The turn number of the next request: the same as the last one when it is sent again.
    package var nextTurn: Int { openRequest != nil || resend ? turn : turn + 1 }

    /// What the next request adds to the conversation: input added to a finished run, approval replies, and the last
    /// response's call outputs in the order of the calls, under their wire ids (as a replayed history carries them).
    package var pendingInput: [InputItem] { pending(wireIDs: true) }

    private func pending(wireIDs: Bool) -> [InputItem] {
        added + calls.compactMap { slot in
            outputs[slot.wireID].map { .functionCallOutput(FunctionCallOutput(callID: wireIDs ? slot.wireID : slot.call.callID, output: $0.output)) }
        }
    }

    /// The input and `previous_response_id` of the next request: the whole history when replaying; else what is
    /// pending, chained to the last response and answering the server's own call ids (a request sent again after a
    /// crash carries what it carried then).
    package var nextInput: (input: [InputItem], previousResponseID: String?) {
        if replaysHistory || replayNext { return replayInput }
        if let open = openRequest, !open.stateless {
            return open.replayed ? replayInput : (open.input ?? [], open.previousResponseID)
        }
        guard let previousResponseID else { return (history + pendingInput, nil) }
        return (pending(wireIDs: false), previousResponseID)
    }

    /// The next request's input when it replays the history: what a new connection that does not hold the last
    /// response needs (a request sent again carries what it carried, which the history already has).
    package var replayInput: (input: [InputItem], previousResponseID: String?) { (history + pendingInput, nil) }

    /// Whether the next request replays the history although the run chains: once, after a compaction or a refused
    /// chain on a connection.
    package var replaysThisTurnOnly: Bool { replayNext && !replaysHistory && openRequest == nil }

    /// Whether a refusal of `previous_response_id` on a WebSocket connection is answered by replaying this turn only:
    /// the request in flight was chained, in a run that chains.
    package var replaysTurnWhenChainRefused: Bool {
        !replaysHistory && openRequest?.previousResponseID != nil
    }

    /// The result of the run as it stands.
    package func result(journal: URL?) -> RunResult {
        let end = finished
        return RunResult(
            runID: runID, status: end?.status ?? .failed, finalText: end?.finalText ?? "", items: items, toolCalls: toolCalls,
            usage: usage, lastResponseID: lastResponseID, turns: turn, error: end?.message, incompleteReason: end?.incompleteReason,
            journal: journal, costUSD: cost, output: end?.output)
    }

    /// `auto` in place of a choice that forces a tool.
    static func relaxed(_ choice: ToolChoice) -> ToolChoice {
        switch choice {
        case .required, .function, .mcp, .custom, .hosted: .auto
        case .allowedTools(_, let tools): .allowedTools(mode: "auto", tools: tools)
        default: choice
        }
    }
}
