import Foundation
import Logging
import ResponsesAPI
import Synchronization
import Tracing

/// The I/O of one run: each phase asks the state what to do, does it (a model call, tool calls, approvals), records
/// the event that results and applies it. The rules are in ``RunState``.
struct RunLoop: Sendable {
    /// The run's own agent: its limits are the run's, and its handoffs lead to every agent the run may hand to.
    let root: Agent
    /// The agent that has the conversation: the run's own, or the one the last handoff named (set it with ``take(_:)``).
    private(set) var agent: Agent
    /// What the run's end depends on for the active agent (its output schema and checks, the run's input checks),
    /// settled when the agent changes rather than every step.
    private var rules: RunState.OutputRules
    /// The active agent's `transfer_to_…` tools.
    private var handoffNames: Set<String>
    let client: ResponsesClient
    let logger: Logger
    var journal: (any RunJournal)?
    let emit: @Sendable (RunEvent) -> Void
    var state: RunState
    var options: Runner.ResumeOptions
    /// Asked before each step (see ``Runner/stopRequested``).
    var stopRequested: (@Sendable () -> Bool)?
    /// The run's way to the model: HTTP, or its WebSocket connection.
    let link = ModelLink()
    /// A budget the run shares with others (a batch's), checked before each step.
    var sharedBudget: SharedBudget?
    /// How this run compacts: the agent's choice, with `auto` settled by the provider (see ``RunLoop/compactAt``).
    let compactionMode: ContextPolicy.Compaction
    /// The context window the agent's policy names, or the built-in table's for its model (a provider's refusal can
    /// still teach the run another: ``RunState/learnedWindow``).
    let contextWindow: Int?
    /// Whether the server answered `POST /responses/compact` with 404: the run then relies on `context_management`.
    var compactEndpointMissing = false
    /// Where agents this run calls are journaled (the run's own store); nil: they are not.
    var childStore: (any RunStore)?
    /// How deep the run is among runs started by runs (a top-level run is 0).
    var depth = 0

    /// A loop for `agent`'s run in `state`; what each turn would otherwise look up (the compaction mode, the window)
    /// is settled here, once.
    init(
        agent: Agent, client: ResponsesClient, logger: Logger, journal: (any RunJournal)?, emit: @escaping @Sendable (RunEvent) -> Void,
        state: RunState, options: Runner.ResumeOptions = Runner.ResumeOptions()
    ) {
        self.root = agent
        let active = state.activeAgent.flatMap { agent.reachable(named: $0) } ?? agent
        self.agent = active
        self.rules = Self.rules(for: active, root: agent)
        self.handoffNames = Set(active.handoffs.map(\.toolName))
        self.client = client
        self.logger = logger
        self.journal = journal
        self.emit = emit
        self.state = state
        self.options = options
        self.compactionMode = Self.compactionMode(agent.context.compaction, provider: client.provider)
        self.contextWindow = agent.contextWindow
    }

    /// Journals an event, then applies it: nothing changes the state that is not in the journal first.
    mutating func record(_ event: JournalEvent) async throws(CoreError) {
        try await journal?.append(event, runID: state.runID)
        state.apply(event)
    }

    /// Ends the run with `status`, journaling it when the journal still takes lines.
    mutating func end(_ status: RunResult.Status, _ message: String?) async {
        var message = message
        if status == .cancelled || status == .timedOut, let id = state.backgroundResponseID {
            let note = client.configuration.cancelBackgroundOnCancellation
                ? "its background response \(id) was cancelled on the server"
                : "its background response \(id) keeps running on the server; resuming the run picks it up"
            message = message.map { "\($0); \(note)" } ?? note
        }
        let end = state.finish(status, message: message)
        do {
            try await record(.runFinished(end))
        } catch {
            state.apply(.runFinished(state.finish(.failed, message: [message, error.description].compactMap { $0 }.joined(separator: "; "))))
        }
    }

    /// Runs the steps until the run ends, then gives its connection back (or closes it when the run did not end cleanly).
    mutating func run() async {
        await runSteps()
        await link.finish(client, reusable: !Task.isCancelled && state.finished.map { $0.status != .failed && $0.status != .cancelled && $0.status != .timedOut } ?? false)
    }

    private mutating func runSteps() async {
        if let name = state.activeAgent, agent.name != name, state.finished == nil {
            await end(.failed, "the journal says the conversation was handed to the agent \(name), which \(root.name) cannot hand to (through its handoffs); the spec changed since")
            return
        }
        let rerunAll = options.rerunInterrupted
        while !Task.isCancelled {
            if let stopRequested, stopRequested() {
                await end(.cancelled, "stopped between steps (its worker is shutting down); resuming the run goes on from here")
                return
            }
            if let spent = sharedBudget?.exhausted, state.finished == nil {
                do {
                    try await record(.runFinished(state.finish(
                        .budgetExceeded, message: "\(spent); the run stopped at its next step, and resuming it goes on from here", incompleteReason: "shared_budget")))
                } catch {
                    state.apply(.runFinished(state.finish(.failed, message: error.description)))
                }
                return
            }
            let (tools, handoffNames) = (agent.tools, handoffNames)
            let decision = state.decide(limits: root.limits, price: agent.price, compactAt: compactAt, output: rules) { name in
                rerunAll || tools[name]?.isIdempotent == true || handoffNames.contains(name)
            }
            let unchecked = root.guardrails.input.isEmpty ? [] : state.uncheckedInput(rules.inputGuardrails)
            let inputChecks = root.guardrails.input.filter { unchecked.contains($0.name) }
            do {
                switch decision {
                case .done:
                    return
                case .finish(let end):
                    try await record(.runFinished(end))
                    return
                case .send where !inputChecks.isEmpty:
                    try await sendTurnChecking(inputChecks)
                case .send:
                    try await sendTurn()
                case .attach(let id):
                    try await attachTurn(id)
                case .answerApprovals(let requests):
                    try await answer(requests)
                case .settleInterrupted(let records):
                    for record in records {
                        try await self.record(.toolFinished(record))
                        emit(.toolCallFinished(record))
                    }
                case .compact(let tokens):
                    try await compactContext(reason: .threshold, tokens: tokens)
                case .rejectOutput(let rejected):
                    try await record(.outputRejected(rejected))
                    emit(.outputRejected(rejected))
                case .checkOutput(let names, let text):
                    let checks = agent.guardrails.output.filter { names.contains($0.name) }
                    try await check(checks, kind: .output, text: text)
                case .checkInput(let names):
                    // A resumed run whose input was not checked yet: nothing happens before it is.
                    try await check(root.guardrails.input.filter { names.contains($0.name) }, kind: .input, text: state.inputText)
                case .runTools(let calls, let rerun):
                    if !rerun.isEmpty {
                        logger.notice("running calls a crash interrupted again", metadata: ["call_ids": "\(rerun.sorted())"])
                    }
                    try await runTools(calls)
                }
            } catch {
                // The journal cannot be written: the run cannot go on without losing what it does.
                state.apply(.runFinished(state.finish(.failed, message: error.description)))
                return
            }
        }
    }

    // MARK: Phases

    /// Prepares the next request, calls the model, and records what came back.
    private mutating func sendTurn(announce: Bool = true, tripwire: Tripwire? = nil) async throws(CoreError) {
        let turn = state.nextTurn
        var (input, previous) = state.nextInput
        // A run that chains replays its history for this one request (after a compaction, or a connection that did
        // not hold the chained response): journaled as such, without the history the journal already has.
        var replayed = state.replaysThisTurnOnly
        let connection: ResponsesConnection?
        do {
            switch try await link.route(client, turn: turn, background: agent.settings.request.background == true) {
            case .http(let settled):
                connection = nil
                if let settled { try await note(settled) }
            case .webSocket(let open, var opened):
                connection = open
                if let chained = previous, open.lastResponseID != chained, agent.settings.request.store == false {
                    // A new connection knows only stored responses; with `store: false` the history goes again.
                    (input, previous) = state.replayInput
                    replayed = true
                }
                if opened != nil {
                    opened?.next = previous != nil ? "chain" : replayed ? "replay" : "start"
                    try await note(opened!)
                }
            }
        } catch let error as CoreError {
            throw error
        } catch {
            if Task.isCancelled || error is CancellationError { return }
            try await record(.failure(.init(turn: turn, message: "\(error)", httpStatus: (error as? ResponsesError)?.status, response: nil)))
            try await record(.runFinished(state.finish(.failed, message: "\(error)")))
            return
        }
        // What the request holds, estimated only when a compaction needs it (its journal line, an overflow): the
        // conversation the server held before it (or the instructions and tools), plus what the request sends.
        let (overhead, sent) = (state.overheadTokens, input)
        let held = previous != nil ? state.contextTokens ?? overhead : overhead
        let estimate = { held + TokenEstimate.of(sent) }
        let request = makeRequest(input: input, previousResponseID: previous, overWebSocket: connection != nil)
        var body = request
        body.input = nil
        body.instructions = nil
        body.tools = nil
        let stateless = state.replaysHistory
        try await record(.requestSent(.init(
            turn: turn, stateless: stateless, previousResponseID: previous, input: stateless || replayed ? nil : input, request: body,
            replayed: replayed)))
        if announce { emit(.turnStarted(turn: turn, stateless: stateless || replayed)) }
        let background = BackgroundID()
        let response: Response
        do {
            let loop = self
            response = try await withSpan("chat \(agent.model)", ofKind: .client) { span in
                span.attributes["gen_ai.operation.name"] = "chat"
                span.attributes["gen_ai.request.model"] = loop.agent.model
                span.attributes["errand.run.id"] = loop.state.runID
                span.attributes["errand.turn"] = turn
                span.attributes["errand.stateless"] = loop.state.replaysHistory
                span.attributes["errand.transport"] = connection == nil ? "http" : "websocket"
                let response = try await loop.callModel(request, turn: turn, background: background, connection: connection, tripwire: tripwire)
                span.attributes["gen_ai.response.id"] = response.id
                span.attributes["gen_ai.response.status"] = response.status.rawValue
                span.attributes["gen_ai.usage.input_tokens"] = response.usage?.inputTokens ?? 0
                span.attributes["gen_ai.usage.output_tokens"] = response.usage?.outputTokens ?? 0
                if let usage = response.usage, let price = loop.agent.price { span.attributes["errand.cost_usd"] = price.cost(of: usage) }
                span.attributes["errand.function_calls"] = response.functionCalls.count
                return response
            }
            try await noteBackground(background, turn: turn)
        } catch let error as ResponsesError where error.isPreviousResponseNotFound && connection != nil && state.replaysTurnWhenChainRefused {
            // The connection does not hold the response and the server does not store it: this turn replays, and the
            // next ones chain on the connection again.
            let said = error.providerError.map { OneLine.squash($0.message, limit: 200) } ?? "status \(error.status ?? 0)"
            let reason = "the server did not find previous_response_id on this connection (\(said)); this turn replays the history"
            logger.info("replaying the turn", metadata: ["run_id": "\(state.runID)", "reason": "\(reason)"])
            try await record(.stateFallback(.init(turn: turn, reason: reason, httpStatus: error.status, onlyThisTurn: true)))
            emit(.stateFallback(reason: reason))
            return
        } catch let error as ResponsesError where error.isPreviousResponseNotFound && state.fallsBackWhenChainRefused {
            let said = error.providerError.map { OneLine.squash($0.message, limit: 200) } ?? "HTTP \(error.status ?? 0)"
            let reason = "the provider refused previous_response_id (\(said)); replaying the history from now on"
            logger.info("falling back to stateless", metadata: ["run_id": "\(state.runID)", "reason": "\(reason)"])
            try await record(.stateFallback(.init(turn: turn, reason: reason, httpStatus: error.status)))
            emit(.stateFallback(reason: reason))
            return
        } catch let error as ResponsesError where error.isContextOverflow && !Task.isCancelled {
            try await overflowed(error, turn: turn, estimate: estimate())
            return
        } catch let error as ResponsesError where connection != nil && (error.kind == .connectionClosed || error.kind == .timeout) && !Task.isCancelled {
            // The connection ended before the response did: the turn goes again on a new one, which decides anew
            // whether to chain or replay (the `connection` event journals it).
            if await link.lost(connection!, turn: turn, reason: error.message) {
                logger.notice("WebSocket connection lost; sending the turn again on a new one", metadata: ["run_id": "\(state.runID)", "reason": "\(error.message)"])
                return
            }
            try await record(.failure(.init(turn: turn, message: "\(error)", httpStatus: nil, response: error.partialResponse.flatMap { $0.output.isEmpty ? nil : $0 })))
            try await record(.runFinished(state.finish(.failed, message: "\(error) (the turn was sent on \(ModelLink.maxReconnectsPerTurn + 1) connections)")))
            return
        } catch let error as CoreError {
            throw error
        } catch is GuardrailTripped {
            // An input guardrail tripped while the model was answering: the call was cancelled, and its verdict ends the run.
            try await noteBackground(background, turn: turn)
            return
        } catch {
            try await noteBackground(background, turn: turn)
            if Task.isCancelled || error is CancellationError { return }
            let partial = (error as? ResponsesError)?.partialResponse
            try await record(.failure(.init(
                turn: turn, message: "\(error)", httpStatus: (error as? ResponsesError)?.status,
                response: partial.flatMap { $0.output.isEmpty ? nil : $0 })))
            try await record(.runFinished(state.finish(.failed, message: "\(error)")))
            return
        }
        try await interpret(response, turn: turn, estimate: estimate)
    }

    /// The cost of a call's `usage` at the agent's price (nil when either is unknown), added to the shared budget.
    func charge(_ usage: Usage?) -> Double? {
        let cost = usage.flatMap { usage in agent.price?.cost(of: usage) }
        sharedBudget?.add(costUSD: cost, tokens: usage?.totalTokens ?? 0)
        return cost
    }

    /// Journals and announces a connection opened, or the run settling on HTTP.
    private mutating func note(_ connection: JournalEvent.Connection) async throws(CoreError) {
        try await record(.connection(connection))
        emit(.connection(connection))
    }

    /// Fetches the background response a resumed run's request was waiting for; sends the request again when that
    /// response was cancelled or is gone.
    private mutating func attachTurn(_ id: String) async throws(CoreError) {
        let turn = state.nextTurn
        emit(.turnStarted(turn: turn, stateless: state.replaysHistory))
        let fetched: Response?
        do {
            var response = try await client.retrieve(id)
            if !response.status.isTerminal { response = try await client.waitUntilDone(id) }
            fetched = response.status == .cancelled ? nil : response
            if fetched == nil { logger.notice("the background response was cancelled; sending the turn again", metadata: ["response_id": "\(id)"]) }
        } catch let error as ResponsesError where error.isNotFound {
            logger.notice("the background response is gone; sending the turn again", metadata: ["response_id": "\(id)"])
            fetched = nil
        } catch {
            if Task.isCancelled || error is CancellationError { return }
            try await record(.failure(.init(turn: turn, message: "\(error)", httpStatus: (error as? ResponsesError)?.status, response: nil)))
            try await record(.runFinished(state.finish(.failed, message: "\(error)")))
            return
        }
        let estimate = state.nextInputEstimate
        if let fetched { try await interpret(fetched, turn: turn, estimate: { estimate }) } else { try await sendTurn(announce: false) }
    }

    /// Records the response with its cost, a compaction the provider made in it, and the provider's own tool calls.
    /// `estimate` says what the request was thought to hold.
    private mutating func interpret(_ response: Response, turn: Int, estimate: () -> Int) async throws(CoreError) {
        // The response as the model made it; what the provider echoes of the request is already journaled.
        var made = response
        made.extra = [:]
        made.instructions = nil
        let cost = charge(response.usage)
        try await record(.responseReceived(.init(turn: turn, response: made, costUSD: cost)))
        emit(.turnFinished(turn: turn, responseID: response.id, usage: response.usage, costUSD: cost))
        if response.output.contains(where: \.isCompaction) {
            let compaction = JournalEvent.Compaction(
                turn: turn, method: .server, reason: .server, tokensBefore: estimate(), tokensAfter: state.contextTokens ?? 0,
                window: nil, kept: "the provider's compaction item and what follows it", history: nil)
            try await record(.compaction(compaction))
            emit(.compacted(compaction))
        }
        for case .hostedToolCall(let call) in response.output where call.type != "mcp_approval_request" {
            try await record(.hostedCall(.init(turn: turn, callID: call.id, name: call.type, message: call.summary)))
            emit(.hostedToolCall(turn: turn, call: call))
        }
    }

    /// Answers a hosted MCP server's approval requests by the agent's policy (refusing without one).
    private mutating func answer(_ requests: [HostedToolCall]) async throws(CoreError) {
        for request in requests {
            let approved = await agent.approveHostedCall?(request) ?? false
            try await record(.approval(.init(
                turn: state.turn, callID: request.id, summary: request.summary, reply: request.approvalResponse(approve: approved), approved: approved)))
            emit(.hostedApproval(turn: state.turn, request: request, approved: approved))
        }
    }

    /// Runs the calls (several at once, up to the concurrency limit). Each call's start is journaled before it runs
    /// and its end after, so that a crash in between is known for what it is: a call a resume must not simply repeat.
    private mutating func runTools(_ all: [RunState.Call]) async throws(CoreError) {
        let turn = state.turn
        guard !all.isEmpty else { return }
        let active = agent
        let handoffs = all.filter { handoffNames.contains($0.call.name) }
        let calls = all.filter { !handoffNames.contains($0.call.name) }
        if !calls.isEmpty { try await runLocalTools(calls, turn: turn) }
        // A stop may have left a call for the resume, which runs it under the agent that asked for it: no handoff yet.
        if Task.isCancelled || stopRequested?() == true { return }
        // Handoffs go last, once the other calls of the turn are answered under the agent that asked for them.
        for (index, slot) in handoffs.enumerated() { try await handOff(slot, turn: turn, first: index == 0, asker: active) }
    }

    /// Hands the conversation to the agent a `transfer_to_…` call names, or answers the call with why not (a second
    /// handoff in one turn, the run's limit reached).
    private mutating func handOff(_ slot: RunState.Call, turn: Int, first: Bool, asker: Agent) async throws(CoreError) {
        let call = slot.call
        guard let handoff = asker.handoff(named: call.name) else { return }
        try await start(slot, turn: turn)
        var refusal: String?
        if !first {
            refusal = "error: only one handoff per turn is made; the conversation already went to the agent named in the first"
        } else if state.handoffCount >= root.limits.maxHandoffs {
            refusal = "error: the conversation was handed on \(state.handoffCount) times already, the run's limit (limits.max_handoffs); answer the user yourself"
        }
        var record = ToolCallRecord(
            turn: turn, callID: call.callID, name: call.name, arguments: call.arguments, output: refusal ?? handoff.output(from: asker.name),
            isError: refusal != nil, duration: 0, wireCallID: slot.requalifiedID)
        guard refusal == nil else { return try await finish(record) }
        let target = handoff.agent
        record.notes = ["handed to \(target.name)"]
        // The call's answer and the switch are one journal line: a crash cannot leave one without the other.
        let event = JournalEvent.Handoff(
            turn: turn, callID: slot.wireID, from: asker.name, to: target.name, model: target.model, toolChoice: target.toolChoice, record: record)
        try await self.record(.handoff(event))
        take(target)
        emit(.toolCallFinished(record))
        emit(.handoff(event))
    }

    /// Makes `agent` the active one.
    private mutating func take(_ agent: Agent) {
        self.agent = agent
        rules = Self.rules(for: agent, root: root)
        handoffNames = Set(agent.handoffs.map(\.toolName))
    }

    /// The end rules of a run of `root` while `agent` has the conversation.
    private static func rules(for agent: Agent, root: Agent) -> RunState.OutputRules {
        RunState.OutputRules(
            schema: agent.outputSchema, retries: root.limits.outputRetries, guardrails: agent.guardrails.output.map(\.name),
            inputGuardrails: root.guardrails.input.map(\.name))
    }

    /// Runs agents as children of this run, sharing its runner, store, budgets and cancellation.
    func subRuns() -> SubRuns {
        var runner = Runner(client: client, logger: logger)
        runner.stopRequested = stopRequested
        let limits = root.limits
        var budget = sharedBudget
        if limits.maxCostUSD != nil || limits.maxTotalTokens != nil {
            budget = SharedBudget(
                maxCostUSD: limits.maxCostUSD.map { max(0, $0 - state.pricedCost) },
                maxTotalTokens: limits.maxTotalTokens.map { max(0, $0 - state.usage.totalTokens) },
                name: "what is left of the budget of run \(state.runID)", parent: sharedBudget)
        }
        return SubRuns(
            runner: runner, store: childStore, parentRunID: state.runID, depth: depth, maxDepth: limits.maxAgentDepth, budget: budget,
            options: options, emit: emit)
    }

    /// Runs the checks at once, journals every verdict in order, and announces it. A trip ends the run at the next
    /// decision.
    private mutating func check(_ checks: [Guardrail], kind: Guardrail.Kind, text: String) async throws(CoreError) {
        let verdicts = await Self.verdicts(
            checks, kind: kind, text: text, runID: state.runID, turn: kind == .input ? 0 : state.turn, stretch: state.nextTurn, logger: logger,
            subRuns: subRuns(), tripwire: nil)
        try await journal(verdicts)
    }

    /// Journals and announces verdicts; those a stop of the run cut short are left out, so that a resume checks again
    /// instead of reading the stop as a check that could not run.
    private mutating func journal(_ verdicts: [JournalEvent.GuardrailChecked]) async throws(CoreError) {
        let stopping = Task.isCancelled || stopRequested?() == true
        for verdict in verdicts where !(stopping && verdict.error != nil) {
            try await record(.guardrail(verdict))
            emit(.guardrail(verdict))
        }
    }

    /// The first request, sent while the input guardrails check the task: one that trips cancels the model call.
    /// Their verdicts are journaled once the call is over, so no tool runs before they are in.
    private mutating func sendTurnChecking(_ checks: [Guardrail]) async throws(CoreError) {
        let tripwire = Tripwire()
        let (text, runID, stretch, logger, subRuns) = (state.inputText, state.runID, state.nextTurn, self.logger, subRuns())
        async let verdicts = Self.verdicts(
            checks, kind: .input, text: text, runID: runID, turn: 0, stretch: stretch, logger: logger, subRuns: subRuns, tripwire: tripwire)
        try await sendTurn(tripwire: tripwire)
        try await journal(await verdicts)
    }

    /// The checks' verdicts, in the checks' order; `tripwire` is tripped by the first that does not pass.
    private static func verdicts(
        _ checks: [Guardrail], kind: Guardrail.Kind, text: String, runID: String, turn: Int, stretch: Int, logger: Logger, subRuns: SubRuns,
        tripwire: Tripwire?
    ) async -> [JournalEvent.GuardrailChecked] {
        await withTaskGroup(of: (Int, JournalEvent.GuardrailChecked).self) { group in
            for (index, guardrail) in checks.enumerated() {
                let check = GuardrailCheck(
                    kind: kind, name: guardrail.name, text: text, runID: runID, turn: turn, stretch: stretch, logger: logger, subRuns: subRuns)
                group.addTask { (index, await guardrail.run(check)) }
            }
            var verdicts = [JournalEvent.GuardrailChecked?](repeating: nil, count: checks.count)
            for await (index, verdict) in group {
                verdicts[index] = verdict
                if !verdict.passed { tripwire?.trip() }
            }
            return verdicts.compactMap { $0 }
        }
    }

    /// Runs the calls of local tools (several at once, up to the concurrency limit).
    private mutating func runLocalTools(_ calls: [RunState.Call], turn: Int) async throws(CoreError) {
        let limit = max(1, root.limits.maxToolConcurrency)
        var configured = ToolExecutor(agent: agent, runID: state.runID, logger: logger)
        configured.subRuns = subRuns()
        let executor = configured
        if calls.count == 1 {
            // One call needs no task group (and its extra hop).
            let slot = calls[0]
            try await start(slot, turn: turn)
            let record = await executor.execute(slot, turn: turn)
            if !leftForResume(record) { try await finish(record) }
            return
        }
        var failure: CoreError?
        await withTaskGroup(of: ToolCallRecord.self) { group in
            var next = 0
            func startNext() async -> Bool {
                guard next < calls.count, failure == nil else { return false }
                let slot = calls[next]
                next += 1
                do throws(CoreError) {
                    try await self.start(slot, turn: turn)
                } catch {
                    failure = error
                    return false
                }
                group.addTask { await executor.execute(slot, turn: turn) }
                return true
            }
            while next < min(limit, calls.count), await startNext() {}
            while let finished = await group.next() {
                if failure == nil, !self.leftForResume(finished) {
                    do throws(CoreError) {
                        try await self.finish(finished)
                    } catch {
                        failure = error
                    }
                }
                _ = await startNext()
            }
        }
        if let failure { throw failure }
    }

    /// Whether a call's end is left out of the journal so that a resume takes it up again: an agent's call whose child
    /// run was stopped because this run is (cancelled, out of time, its worker shutting down). Journaled, it would tell
    /// the model the agent was cancelled; left out, the call is one a stop interrupted, and a resume runs it again,
    /// which resumes the child from its journal.
    private func leftForResume(_ record: ToolCallRecord) -> Bool {
        guard record.subRun?.status == .cancelled else { return false }
        return Task.isCancelled || stopRequested?() == true
    }

    /// Journals and announces a call's start.
    private mutating func start(_ slot: RunState.Call, turn: Int) async throws(CoreError) {
        let call = slot.call
        try await record(.toolStarted(.init(turn: turn, callID: call.callID, name: call.name, arguments: call.arguments, wireCallID: slot.requalifiedID)))
        emit(.toolCallStarted(turn: turn, callID: call.callID, name: call.name, arguments: call.arguments))
    }

    /// Journals and announces a call's end.
    private mutating func finish(_ finished: ToolCallRecord) async throws(CoreError) {
        try await record(.toolFinished(finished))
        emit(.toolCallFinished(finished))
    }

    // MARK: The model call

    /// The request for the next turn. With `store: false`, reasoning comes back encrypted whenever the history may have
    /// to be replayed: a stateless run, and a WebSocket run, whose next connection knows nothing of the last one.
    private func makeRequest(input: [InputItem], previousResponseID: String?, overWebSocket: Bool) -> CreateResponseRequest {
        let settings = agent.settings
        var request = settings.request
        request.model = agent.model
        request.instructions = agent.instructions
        if !(agent.tools.isEmpty && agent.hostedTools.isEmpty && agent.handoffs.isEmpty) {
            request.tools = agent.toolDefinitions
            request.toolChoice = state.toolChoice
            request.parallelToolCalls = agent.parallelToolCalls
        }
        request.input = .items(input)
        request.previousResponseID = previousResponseID
        if let schema = agent.outputSchema, request.text?.format == nil {
            var text = request.text ?? TextOptions()
            text.format = schema.format
            request.text = text
            if client.provider.sendsResponseFormat, request.extra["response_format"] == nil {
                request.extra["response_format"] = [
                    "type": "json_schema", "json_schema": ["name": .string(schema.name), "schema": schema.schema, "strict": .bool(schema.isStrict)],
                ]
            }
        }
        if request.contextManagement == nil, compactionMode == .server, let window = state.learnedWindow ?? contextWindow {
            request.contextManagement = [["type": "compaction", "compact_threshold": .number(Double(agent.context.limit(window: window)))]]
        }
        if state.replaysHistory || overWebSocket, settings.store == false {
            var include = request.include ?? []
            if !include.contains("reasoning.encrypted_content") { include.append("reasoning.encrypted_content") }
            request.include = include
        }
        return request
    }

    /// The id of a background response, as soon as the server gives it (from a stream's callback or a poll's), and
    /// the writing of its journal line, started from the callback the moment the id arrives.
    private final class BackgroundID: Sendable {
        let id = Mutex<String?>(nil)
        let journalError = Mutex<CoreError?>(nil)
        let writing = Mutex<Task<Void, Never>?>(nil)
    }

    /// Applies the background response the call named, if any. Its line was journaled from the callback the moment
    /// the id arrived (a crash before the response must leave it behind); a line that could not be written ends the
    /// run as any journal failure does.
    private mutating func noteBackground(_ background: BackgroundID, turn: Int) async throws(CoreError) {
        if let error = background.journalError.withLock({ $0 }) { throw error }
        guard let id = background.id.withLock({ $0 }) else { return }
        state.apply(.backgroundResponse(.init(turn: turn, responseID: id)))
    }

    /// Sends the turn: streamed or one JSON call, polled while the server is not done. A background response's id
    /// goes to the journal as soon as the server gives it, so that a resumed run can fetch the response instead of
    /// paying for the turn again: the callback starts the line's write (a journal's append may be I/O that the
    /// callback cannot wait for), and the call returns only once that line is written or has failed. A turn with no
    /// background response starts nothing.
    private func callModel(
        _ request: CreateResponseRequest, turn: Int, background: BackgroundID, connection: ResponsesConnection?, tripwire: Tripwire? = nil
    ) async throws -> Response {
        let (journal, runID, emit) = (self.journal, state.runID, self.emit)
        let note: @Sendable (String) -> Void = { id in
            let first = background.id.withLock { seen -> Bool in
                defer { seen = seen ?? id }
                return seen == nil
            }
            // Journaled at once: a crash before the response must leave the id behind. Applied once the call returns.
            guard first, let journal else { return }
            background.writing.withLock { writing in
                writing = Task {
                    do throws(CoreError) {
                        try await journal.append(.backgroundResponse(.init(turn: turn, responseID: id)), runID: runID)
                    } catch {
                        background.journalError.withLock { $0 = error }
                    }
                }
            }
        }
        do {
            let response: Response
            if let tripwire {
                response = try await tripwire.race { try await self.sendModelCall(request, note: note, emit: emit, connection: connection) }
            } else {
                response = try await sendModelCall(request, note: note, emit: emit, connection: connection)
            }
            await background.writing.withLock({ $0 })?.value
            return response
        } catch {
            await background.writing.withLock({ $0 })?.value
            throw error
        }
    }

    private func sendModelCall(
        _ request: CreateResponseRequest, note: @escaping @Sendable (String) -> Void, emit: @escaping @Sendable (RunEvent) -> Void,
        connection: ResponsesConnection?
    ) async throws -> Response {
        if let connection {
            let streaming = agent.streaming
            return try await connection.send(request, echoes: false) { event in
                if streaming, case .outputTextDelta(let delta) = event { emit(.textDelta(delta.delta)) }
            }
        }
        guard agent.streaming else {
            return try await client.create(request, echoes: false) { response in
                if !response.id.isEmpty { note(response.id) }
            }
        }
        return try await client.stream(request, echoes: false).finalResponse { event in
            switch event {
            case .created(let e), .queued(let e), .inProgress(let e):
                if e.response.background ?? (request.background == true), !e.response.id.isEmpty { note(e.response.id) }
            case .outputTextDelta(let delta):
                emit(.textDelta(delta.delta))
            default:
                break
            }
        }
    }
}
