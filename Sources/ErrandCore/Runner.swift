import Foundation
import Logging
import ResponsesAPI
import Synchronization
import Tracing

/// Runs an agent: calls the model, runs the tools it asks for, sends their outputs back, and loops until the model
/// answers without tools or a limit is reached. A tool failure is data for the model; only limits and provider
/// failures end a run.
///
/// The journal is the run: every step is a ``JournalEvent`` written before the next step starts, and the run's state
/// is what ``RunState/apply(_:)`` makes of those events, live and on resume alike.
///
/// ```swift
/// let runner = Runner(client: client)
/// let result = await runner.run(agent, input: "What is in README.md?")
/// print(result.status, result.finalText)
/// ```
public struct Runner: Sendable {
    /// The Responses API client.
    public let client: ResponsesClient
    /// Where the runner logs.
    public let logger: Logger

    /// Creates a runner.
    public init(client: ResponsesClient, logger: Logger = ResponsesClient.quietLogger) {
        self.client = client
        self.logger = logger
    }

    /// How a journaled run is taken up again.
    public struct ResumeOptions: Sendable, Hashable {
        /// Go on even when the agent differs from the journaled one (model, instructions, tools).
        public var force: Bool
        /// Run again the calls that a crash interrupted, even those of tools not safe to repeat.
        public var rerunInterrupted: Bool

        /// Creates options; by default a different agent is refused and interrupted unsafe calls are not run again.
        public init(force: Bool = false, rerunInterrupted: Bool = false) {
            self.force = force
            self.rerunInterrupted = rerunInterrupted
        }
    }

    /// Runs `agent` on `input`, calling `onEvent` for each event, and returns how the run ended. Never throws: a failure
    /// is the result's status and error. Cancelling the calling task cancels the run (status `cancelled`).
    public func run(
        _ agent: Agent, input: ResponseInput, journal: URL? = nil, runID: String? = nil,
        onEvent: @escaping @Sendable (RunEvent) -> Void = { _ in }
    ) async -> RunResult {
        let id = runID ?? Self.makeRunID()
        let items: [InputItem]
        switch input {
        case .text(let text): items = [.user(text)]
        case .items(let list): items = list
        }
        var loop = RunLoop(agent: agent, client: client, logger: logger, journal: nil, emit: onEvent, state: RunState(runID: id))
        do {
            loop.journal = try journal.map { url throws(CoreError) in try Journal(url: url, policy: journalPolicy(for: agent)) }
            try loop.record(.runStarted(agent.startEvent(input: items)))
        } catch {
            loop.state.apply(.runFinished(loop.state.finish(.failed, message: error.description)))
            return loop.state.result(journal: journal)
        }
        onEvent(.runStarted(runID: id, agent: agent.name))
        return await drive(loop)
    }

    /// The events of a run of `agent` on `input`, ending with ``RunEvent/runFinished(_:)``. Stopping the iteration
    /// cancels the run.
    public func events(_ agent: Agent, input: ResponseInput, journal: URL? = nil, runID: String? = nil) -> AsyncStream<RunEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: RunEvent.self, bufferingPolicy: .unbounded)
        let task = Task {
            _ = await run(agent, input: input, journal: journal, runID: runID) { continuation.yield($0) }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// The agent's journal policy with the client's API key among its secrets.
    func journalPolicy(for agent: Agent) -> JournalPolicy {
        var policy = agent.journalPolicy
        if let key = client.provider.apiKey?.value, !policy.secrets.contains(key) { policy.secrets.append(key) }
        return policy
    }

    /// Resumes the run recorded in `journal` from its last completed step, appending to the same journal: a request
    /// without its response is sent again (or its background response fetched), calls that never started are run,
    /// and calls a crash interrupted are run again only when their tool is safe to repeat (or `rerunInterrupted`);
    /// otherwise the model is told the call was interrupted. A run stopped early (cancelled, out of time, failed) is
    /// taken up again where it stopped; one that completed or hit a limit is not run again: its recorded result is
    /// returned. The agent must be the journaled one (model, instructions, tools) unless `force`.
    public func resume(
        _ agent: Agent, journal url: URL, options: ResumeOptions = ResumeOptions(), onEvent: @escaping @Sendable (RunEvent) -> Void = { _ in }
    ) async throws(CoreError) -> RunResult {
        let state = try RunState(replaying: try Journal.read(url))
        try Self.check(agent, against: state, force: options.force, journal: url)
        if let end = state.finished, !end.status.canResume {
            let result = state.result(journal: url)
            onEvent(.runFinished(result))
            return result
        }
        let journal = try Journal(url: url, policy: journalPolicy(for: agent))
        var loop = RunLoop(agent: agent, client: client, logger: logger, journal: journal, emit: onEvent, state: state, options: options)
        try loop.record(.runResumed(.init(turn: state.turn)))
        onEvent(.runStarted(runID: state.runID, agent: agent.name))
        return await drive(loop)
    }

    /// Continues a finished run as a conversation: `input` is added as the next user message, and the run goes on in
    /// the same journal, chained to its last response when the provider keeps state, with the history replayed when
    /// it does not. Its turn and tool-call limits count anew.
    public func continueRun(
        _ agent: Agent, journal url: URL, with input: ResponseInput, options: ResumeOptions = ResumeOptions(),
        onEvent: @escaping @Sendable (RunEvent) -> Void = { _ in }
    ) async throws(CoreError) -> RunResult {
        let state = try RunState(replaying: try Journal.read(url))
        try Self.check(agent, against: state, force: options.force, journal: url)
        guard let end = state.finished else {
            throw CoreError(.continuation, "the run \(state.runID) has not ended; resume it instead (--resume \(state.runID))")
        }
        if !state.unansweredCalls.isEmpty || state.openRequest != nil {
            throw CoreError(
                .continuation,
                "the run \(state.runID) ended \(end.status.rawValue) in the middle of a turn (a request or tool calls without their answers); resume it instead (--resume \(state.runID))")
        }
        let items: [InputItem]
        switch input {
        case .text(let text): items = [.user(text)]
        case .items(let list): items = list
        }
        var loop = RunLoop(
            agent: agent, client: client, logger: logger, journal: try Journal(url: url, policy: journalPolicy(for: agent)), emit: onEvent, state: state,
            options: options)
        try loop.record(.inputAdded(.init(input: items)))
        onEvent(.runStarted(runID: state.runID, agent: agent.name))
        return await drive(loop)
    }

    /// Refuses to go on with an agent other than the journaled one, naming what differs.
    static func check(_ agent: Agent, against state: RunState, force: Bool, journal: URL) throws(CoreError) {
        guard !force, let started = state.started else { return }
        let now = agent.startEvent(input: [])
        if let fingerprint = started.fingerprint, fingerprint == now.fingerprint { return }
        var differences: [String] = []
        if started.model != now.model { differences.append("the model is '\(now.model)', the run used '\(started.model)'") }
        if (started.instructions ?? "") != (now.instructions ?? "") { differences.append("the instructions differ") }
        let before = Dictionary((started.tools ?? []).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let after = Dictionary((now.tools ?? []).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let added = after.keys.filter { before[$0] == nil }.sorted()
        let removed = before.keys.filter { after[$0] == nil }.sorted()
        let changed = after.keys.filter { before[$0] != nil && before[$0] != after[$0] }.sorted()
        if !added.isEmpty { differences.append("tools added: \(added.joined(separator: ", "))") }
        if !removed.isEmpty { differences.append("tools removed: \(removed.joined(separator: ", "))") }
        if !changed.isEmpty { differences.append("tools changed: \(changed.joined(separator: ", "))") }
        guard !differences.isEmpty else { return }
        throw CoreError(
            .resume,
            "the agent is not the one that ran \(state.runID) (\(journal.lastPathComponent)): \(differences.joined(separator: "; ")); go on anyway with --force")
    }

    /// Runs the loop under the run's time limit, in a span of its own (`errand.run`), and journals how it ended.
    private func drive(_ loop: RunLoop) async -> RunResult {
        await withSpan("errand.run", ofKind: .internal) { span in
            span.attributes["errand.run.id"] = loop.state.runID
            span.attributes["errand.agent"] = loop.agent.name
            span.attributes["gen_ai.request.model"] = loop.agent.model
            let result = await driveUnderLimit(loop)
            span.attributes["errand.run.status"] = result.status.rawValue
            span.attributes["errand.run.turns"] = result.turns
            span.attributes["errand.run.tool_calls"] = result.toolCalls.count
            span.attributes["gen_ai.usage.input_tokens"] = result.usage.inputTokens
            span.attributes["gen_ai.usage.output_tokens"] = result.usage.outputTokens
            if result.status != .completed {
                span.setStatus(SpanStatus(code: .error, message: result.error ?? result.status.rawValue))
            }
            return result
        }
    }

    private func driveUnderLimit(_ loop: RunLoop) async -> RunResult {
        enum Outcome: Sendable {
            case finished(RunLoop)
            case timerFired
            case timerStopped
        }
        let timeout = loop.agent.limits.timeout
        var final = await withTaskGroup(of: Outcome.self) { group -> RunLoop in
            group.addTask {
                var loop = loop
                await loop.run()
                return .finished(loop)
            }
            if let timeout {
                group.addTask {
                    do {
                        try await Task.sleep(for: timeout)
                        return .timerFired
                    } catch {
                        return .timerStopped
                    }
                }
            }
            var timedOut = false
            while let outcome = await group.next() {
                switch outcome {
                case .finished(var loop):
                    group.cancelAll()
                    if timedOut, loop.state.finished == nil {
                        loop.end(.timedOut, "the run reached its time limit of \(timeout.map { "\($0)" } ?? "?")")
                    }
                    return loop
                case .timerFired:
                    timedOut = true
                    group.cancelAll()
                case .timerStopped:
                    break
                }
            }
            return loop
        }
        if final.state.finished == nil {
            if Task.isCancelled { final.end(.cancelled, "the run was stopped before it finished") } else { final.end(.failed, "the run stopped without a reason") }
        }
        final.journal?.close()
        let result = final.state.result(journal: final.journal?.url)
        final.emit(.runFinished(result))
        return result
    }

    /// A fresh run id: the UTC time and a random suffix, e.g. `run-20261122-010422-3f9a1c2e`.
    public static func makeRunID() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "run-\(formatter.string(from: Date()))-\(UUID().uuidString.prefix(8).lowercased())"
    }
}

extension Agent {
    /// The `run_started` event of a run of this agent on `input`.
    func startEvent(input: [InputItem]) -> JournalEvent.RunStarted {
        let tools = self.tools.definitions + hostedTools.map(ResponseTool.hosted)
        return JournalEvent.RunStarted(
            agent: name, model: model, mode: state, instructions: instructions, tools: tools, input: input, toolChoice: toolChoice,
            resetToolChoice: resetToolChoiceAfterToolUse, fingerprint: fingerprint)
    }

    /// A digest of what makes the agent this agent for a journal: its model, instructions and tools (FNV-1a over their
    /// canonical JSON). Resume compares it with the journaled one.
    public var fingerprint: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let tools = self.tools.definitions + hostedTools.map(ResponseTool.hosted)
        let canonical: JSONValue = ["model": .string(model), "instructions": instructions.map(JSONValue.string) ?? .null, "tools": (try? JSONValue(encoding: tools)) ?? .null]
        return StableDigest.hex((try? encoder.encode(canonical)) ?? Data())
    }
}

/// A short digest that is the same on every machine and every run (unlike `Hasher`): 64-bit FNV-1a, in hex. For
/// noticing change (an agent's tools, a batch task's line) and naming files; not for security.
public enum StableDigest {
    /// The digest of `bytes`, as lower-case hex (up to 16 digits).
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16, uppercase: false)
    }
}

/// The I/O of one run: each phase asks the state what to do, does it (a model call, tool calls, approvals), records
/// the event that results and applies it. The rules are in ``RunState``.
struct RunLoop: Sendable {
    let agent: Agent
    let client: ResponsesClient
    let logger: Logger
    var journal: Journal?
    let emit: @Sendable (RunEvent) -> Void
    var state: RunState
    var options = Runner.ResumeOptions()

    /// Journals an event, then applies it: nothing changes the state that is not in the journal first.
    mutating func record(_ event: JournalEvent) throws(CoreError) {
        try journal?.append(event, runID: state.runID)
        state.apply(event)
    }

    /// Ends the run with `status`, journaling it when the journal still takes lines.
    mutating func end(_ status: RunResult.Status, _ message: String?) {
        var message = message
        if status == .cancelled || status == .timedOut, let id = state.backgroundResponseID {
            let note = client.configuration.cancelBackgroundOnCancellation
                ? "its background response \(id) was cancelled on the server"
                : "its background response \(id) keeps running on the server; resuming the run picks it up"
            message = message.map { "\($0); \(note)" } ?? note
        }
        let end = state.finish(status, message: message)
        do {
            try record(.runFinished(end))
        } catch {
            state.apply(.runFinished(state.finish(.failed, message: [message, error.description].compactMap { $0 }.joined(separator: "; "))))
        }
    }

    mutating func run() async {
        while !Task.isCancelled {
            let decision = state.decide(limits: agent.limits)
            do {
                switch decision {
                case .done:
                    return
                case .finish(let end):
                    try record(.runFinished(end))
                    return
                case .send:
                    try await sendTurn()
                case .attach(let id):
                    try await attachTurn(id)
                case .answerApprovals(let requests):
                    try await answer(requests)
                case .runTools(let calls, let interrupted):
                    try await runTools(calls, interrupted: interrupted)
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
    private mutating func sendTurn(announce: Bool = true) async throws(CoreError) {
        let turn = state.nextTurn
        let (input, previous) = state.nextInput
        let request = makeRequest(input: input, previousResponseID: previous)
        var body = request
        body.input = nil
        body.instructions = nil
        body.tools = nil
        try record(.requestSent(.init(
            turn: turn, stateless: state.replaysHistory, previousResponseID: previous, input: state.replaysHistory ? nil : input, request: body)))
        if announce { emit(.turnStarted(turn: turn, stateless: state.replaysHistory)) }
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
                let response = try await loop.callModel(request, turn: turn, background: background)
                span.attributes["gen_ai.response.id"] = response.id
                span.attributes["gen_ai.response.status"] = response.status.rawValue
                span.attributes["gen_ai.usage.input_tokens"] = response.usage?.inputTokens ?? 0
                span.attributes["gen_ai.usage.output_tokens"] = response.usage?.outputTokens ?? 0
                span.attributes["errand.function_calls"] = response.functionCalls.count
                return response
            }
            noteBackground(background, turn: turn)
        } catch let error as ResponsesError
            where error.isPreviousResponseNotFound && state.mode == .auto && !state.replaysHistory && previous != nil
        {
            let reason = "the provider refused previous_response_id (\(error.providerError?.message ?? "HTTP \(error.status ?? 0)")); replaying the history from now on"
            logger.info("falling back to stateless", metadata: ["run_id": "\(state.runID)", "reason": "\(reason)"])
            try record(.stateFallback(.init(turn: turn, reason: reason, httpStatus: error.status)))
            emit(.stateFallback(reason: reason))
            return
        } catch {
            noteBackground(background, turn: turn)
            if Task.isCancelled || error is CancellationError { return }
            let partial = (error as? ResponsesError)?.partialResponse
            try record(.failure(.init(
                turn: turn, message: "\(error)", httpStatus: (error as? ResponsesError)?.status,
                response: partial.flatMap { $0.output.isEmpty ? nil : $0 })))
            try record(.runFinished(state.finish(.failed, message: "\(error)")))
            return
        }
        try interpret(response, turn: turn)
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
            try record(.failure(.init(turn: turn, message: "\(error)", httpStatus: (error as? ResponsesError)?.status, response: nil)))
            try record(.runFinished(state.finish(.failed, message: "\(error)")))
            return
        }
        if let fetched { try interpret(fetched, turn: turn) } else { try await sendTurn(announce: false) }
    }

    /// Records the response, and the provider's own tool calls in it.
    private mutating func interpret(_ response: Response, turn: Int) throws(CoreError) {
        // The response as the model made it; what the provider echoes of the request is already journaled.
        var made = response
        made.extra = [:]
        made.instructions = nil
        try record(.responseReceived(.init(turn: turn, response: made)))
        emit(.turnFinished(turn: turn, responseID: response.id, usage: response.usage))
        for case .hostedToolCall(let call) in response.output where call.type != "mcp_approval_request" {
            try record(.hostedCall(.init(turn: turn, callID: call.id, name: call.type, message: call.summary)))
            emit(.hostedToolCall(turn: turn, call: call))
        }
    }

    /// Answers a hosted MCP server's approval requests by the agent's policy (refusing without one).
    private mutating func answer(_ requests: [HostedToolCall]) async throws(CoreError) {
        for request in requests {
            let approved = await agent.approveHostedCall?(request) ?? false
            try record(.approval(.init(
                turn: state.turn, callID: request.id, summary: request.summary, reply: request.approvalResponse(approve: approved), approved: approved)))
            emit(.hostedApproval(turn: state.turn, request: request, approved: approved))
        }
    }

    /// Runs the calls (several at once, up to the concurrency limit). Each call's start is journaled before it runs
    /// and its end after, so that a crash in between is known for what it is: a call a resume must not simply repeat.
    private mutating func runTools(_ calls: [FunctionCall], interrupted: Set<String>) async throws(CoreError) {
        let turn = state.turn
        var pending: [FunctionCall] = []
        for call in calls {
            guard interrupted.contains(call.callID) else {
                pending.append(call)
                continue
            }
            if options.rerunInterrupted || agent.tools[call.name]?.isIdempotent == true {
                logger.notice("running a call a crash interrupted again", metadata: ["call_id": "\(call.callID)", "tool": "\(call.name)"])
                pending.append(call)
            } else {
                let record = ToolCallRecord(
                    turn: turn, callID: call.callID, name: call.name, arguments: call.arguments,
                    output: "error: this call of \(call.name) was interrupted by a crash before it finished; it may or may not have taken effect. Check before calling it again.",
                    isError: true, duration: 0, notes: ["interrupted: not run again, since \(call.name) is not marked safe to repeat"])
                try self.record(.toolFinished(record))
                emit(.toolCallFinished(record))
            }
        }
        guard !pending.isEmpty else { return }
        let limit = max(1, agent.limits.maxToolConcurrency)
        let executor = ToolExecutor(agent: agent, runID: state.runID, logger: logger)
        if pending.count == 1 {
            // One call needs no task group (and its extra hop).
            let call = pending[0]
            try record(.toolStarted(.init(turn: turn, callID: call.callID, name: call.name, arguments: call.arguments)))
            emit(.toolCallStarted(turn: turn, callID: call.callID, name: call.name, arguments: call.arguments))
            let finished = await executor.execute(call, turn: turn)
            try record(.toolFinished(finished))
            emit(.toolCallFinished(finished))
            return
        }
        var failure: CoreError?
        await withTaskGroup(of: ToolCallRecord.self) { group in
            var next = 0
            func start() -> Bool {
                guard next < pending.count, failure == nil else { return false }
                let call = pending[next]
                next += 1
                do throws(CoreError) {
                    try record(.toolStarted(.init(turn: turn, callID: call.callID, name: call.name, arguments: call.arguments)))
                } catch {
                    failure = error
                    return false
                }
                emit(.toolCallStarted(turn: turn, callID: call.callID, name: call.name, arguments: call.arguments))
                group.addTask { await executor.execute(call, turn: turn) }
                return true
            }
            while next < min(limit, pending.count), start() {}
            while let finished = await group.next() {
                if failure == nil {
                    do throws(CoreError) {
                        try record(.toolFinished(finished))
                        emit(.toolCallFinished(finished))
                    } catch {
                        failure = error
                    }
                }
                _ = start()
            }
        }
        if let failure { throw failure }
    }

    // MARK: The model call

    private func makeRequest(input: [InputItem], previousResponseID: String?) -> CreateResponseRequest {
        let settings = agent.settings
        var request = settings.request
        request.model = agent.model
        request.instructions = agent.instructions
        if !(agent.tools.isEmpty && agent.hostedTools.isEmpty) {
            request.tools = agent.tools.definitions + agent.hostedTools.map(ResponseTool.hosted)
            request.toolChoice = state.toolChoice
            request.parallelToolCalls = agent.parallelToolCalls
        }
        request.input = .items(input)
        request.previousResponseID = previousResponseID
        if state.replaysHistory, settings.store == false {
            var include = request.include ?? []
            if !include.contains("reasoning.encrypted_content") { include.append("reasoning.encrypted_content") }
            request.include = include
        }
        return request
    }

    /// The id of a background response, as soon as the server gives it (from a stream's callback or a poll's).
    private final class BackgroundID: Sendable {
        let id = Mutex<String?>(nil)
    }

    /// Applies the background response the call named, if any (its line is already journaled).
    private mutating func noteBackground(_ background: BackgroundID, turn: Int) {
        guard let id = background.id.withLock({ $0 }) else { return }
        state.apply(.backgroundResponse(.init(turn: turn, responseID: id)))
    }

    /// Sends the turn: streamed or one JSON call, polled while the server is not done. A background response's id
    /// goes to the journal as soon as the server gives it, so that a resumed run can fetch the response instead of
    /// paying for the turn again.
    private func callModel(_ request: CreateResponseRequest, turn: Int, background: BackgroundID) async throws -> Response {
        let (journal, runID, emit) = (self.journal, state.runID, self.emit)
        let note: @Sendable (String) -> Void = { id in
            let first = background.id.withLock { seen -> Bool in
                defer { seen = seen ?? id }
                return seen == nil
            }
            // Journaled at once: a crash before the response must leave the id behind. Applied once the call returns.
            if first { try? journal?.append(.backgroundResponse(.init(turn: turn, responseID: id)), runID: runID) }
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
