import Foundation
import Logging
import ResponsesAPI
import Synchronization

/// Runs an agent: calls the model, runs the tools it asks for, sends their outputs back, and loops until the model
/// answers without tools or a limit is reached. A tool failure is data for the model; only limits and provider
/// failures end a run. Every step goes to the journal before the next one starts.
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
        var state = RunState(runID: id, history: items, stateless: agent.state == .stateless || !client.provider.keepsState)
        state.toolChoice = agent.toolChoice
        let opened: Journal?
        do {
            opened = try journal.map(Journal.init(url:))
        } catch {
            state.status = .failed
            state.error = "cannot write the journal at \(journal?.path ?? "?"): \(error)"
            return state.result(journal: journal)
        }
        var start = JournalEntry(type: "run_started", runID: id)
        start.agent = agent.name
        start.model = agent.model
        start.mode = agent.state.rawValue
        start.instructions = agent.instructions
        start.tools = agent.tools.definitions
        start.input = items
        opened?.append(start)
        onEvent(.runStarted(runID: id, agent: agent.name))
        return await drive(RunLoop(agent: agent, client: client, logger: logger, journal: opened, emit: onEvent, state: state))
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

    /// Resumes the run recorded in `journal` from its last completed step, appending to the same journal: a request
    /// without its response is sent again, tool calls without results are run, and the loop goes on. A run whose
    /// journal records its end is not run again; its recorded result is returned.
    public func resume(_ agent: Agent, journal url: URL, onEvent: @escaping @Sendable (RunEvent) -> Void = { _ in }) async throws -> RunResult {
        let entries = try Journal.read(url)
        guard let start = entries.first, start.type == "run_started" else {
            throw ToolError("\(url.path) is not a run journal: it does not begin with run_started")
        }
        var state = try RunState(replaying: entries, agent: agent, keepsState: client.provider.keepsState)
        if let finished = entries.last(where: { $0.type == "run_finished" }) {
            state.status = RunResult.Status(rawValue: finished.status ?? "") ?? .completed
            state.finalText = finished.finalText ?? state.finalText
            state.error = finished.message
            let result = state.result(journal: url)
            onEvent(.runFinished(result))
            return result
        }
        let journal = try Journal(url: url)
        var resumed = JournalEntry(type: "run_resumed", runID: state.runID)
        resumed.turn = state.turn
        journal.append(resumed)
        onEvent(.runStarted(runID: state.runID, agent: agent.name))
        return await drive(RunLoop(agent: agent, client: client, logger: logger, journal: journal, emit: onEvent, state: state))
    }

    /// Runs the loop under the run's time limit.
    private func drive(_ loop: RunLoop) async -> RunResult {
        enum Outcome: Sendable {
            case finished(RunState)
            case timerFired
            case timerStopped
        }
        let timeout = loop.agent.limits.timeout
        var final = await withTaskGroup(of: Outcome.self) { group -> RunState in
            group.addTask {
                var loop = loop
                await loop.run()
                return .finished(loop.state)
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
                case .finished(var state):
                    group.cancelAll()
                    if timedOut {
                        state.status = .timedOut
                        let limit = "the run reached its time limit of \(timeout.map { "\($0)" } ?? "?")"
                        state.error = state.error.map { "\(limit); \($0)" } ?? limit
                    }
                    return state
                case .timerFired:
                    timedOut = true
                    group.cancelAll()
                case .timerStopped:
                    break
                }
            }
            return loop.state
        }
        if final.status == nil {
            final.status = Task.isCancelled ? .cancelled : .failed
        }
        let result = final.result(journal: loop.journal?.url)
        var entry = JournalEntry(type: "run_finished", runID: result.runID)
        entry.status = result.status.rawValue
        entry.finalText = result.finalText
        entry.usage = result.usage
        entry.lastResponseID = result.lastResponseID
        entry.turn = result.turns
        entry.toolCallCount = result.toolCalls.count
        entry.message = result.error
        loop.journal?.append(entry)
        loop.journal?.close()
        loop.emit(.runFinished(result))
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

/// Everything a run has done so far.
struct RunState: Sendable {
    var runID: String
    var turn = 0
    var usage = Usage()
    var items: [OutputItem] = []
    var toolCalls: [ToolCallRecord] = []
    /// The whole conversation, kept for stateless replay and for the fallback to it.
    var history: [InputItem]
    /// The items for the next request when chaining.
    var pending: [InputItem] = []
    /// Calls to run before the next model turn (a resumed run whose journal lacks their results).
    var pendingCalls: [FunctionCall] = []
    /// The call ids of the last response, in the order the model asked for them.
    var callOrder: [String] = []
    /// Each call's position in the response that asked for it (every turn), to keep records in call order.
    var callRank: [String: Int] = [:]
    var previousResponseID: String?
    var stateless: Bool
    var toolChoice: ToolChoice?
    var finalText = ""
    var status: RunResult.Status?
    var error: String?
    var incompleteReason: String?
    var lastResponseID: String?
    /// A background response the server is (or was) working on for the turn whose request has no response yet: a
    /// resumed run fetches it instead of sending the turn again.
    var attachResponseID: String?
    /// The background response of the turn in flight, once the server named it.
    var backgroundResponseID: String?

    init(runID: String, history: [InputItem], stateless: Bool) {
        self.runID = runID
        self.history = history
        self.stateless = stateless
    }

    /// Rebuilds the state of a run from its journal.
    init(replaying entries: [JournalEntry], agent: Agent, keepsState: Bool) throws {
        let start = entries[0]
        self.init(runID: start.runID, history: start.input ?? [], stateless: agent.state == .stateless || !keepsState)
        toolChoice = agent.toolChoice
        var lastCalls: [FunctionCall] = []
        var outputs: [String: String] = [:]
        var approvals: [InputItem] = []
        var openRequest: JournalEntry?
        var openBackground: String?
        func settleCalls() {
            // The outputs of the last response's calls, in call order, join the history and the next request.
            let answered = lastCalls.compactMap { call in outputs[call.callId].map { FunctionCallOutput(callId: call.callId, output: $0) } }
            for output in answered { history.append(.functionCallOutput(output)) }
            pending = approvals + answered.map { .functionCallOutput($0) }
            pendingCalls = lastCalls.filter { outputs[$0.callId] == nil }
        }
        for entry in entries {
            switch entry.type {
            case "request":
                openRequest = entry
                openBackground = nil
            case "background_response":
                if openRequest != nil, entry.turn == nil || entry.turn == openRequest?.turn { openBackground = entry.responseID }
            case "response":
                guard let response = entry.response else { continue }
                openRequest = nil
                openBackground = nil
                turn = entry.turn ?? turn + 1
                usage = usage + (response.usage ?? Usage())
                items += response.output
                history += response.output.map(InputItem.output)
                lastResponseID = response.id
                previousResponseID = response.id.isEmpty ? nil : response.id
                lastCalls = response.functionCalls
                callOrder = lastCalls.map(\.callId)
                for (rank, call) in lastCalls.enumerated() { callRank[call.callId] = rank }
                outputs = [:]
                pending = []
                approvals = []
                let asksApproval = response.output.contains { $0.type == "mcp_approval_request" }
                if lastCalls.isEmpty, !asksApproval {
                    finalText = response.outputText
                    if response.status == .failed {
                        status = .failed
                        error = response.error?.message
                    } else {
                        status = .completed
                    }
                }
                if !lastCalls.isEmpty, agent.resetToolChoiceAfterToolUse { toolChoice = toolChoice.map(Self.relaxed) }
            case "tool_call":
                guard let callID = entry.callID else { continue }
                outputs[callID] = entry.output ?? ""
                toolCalls.append(ToolCallRecord(
                    turn: entry.turn ?? turn, callID: callID, name: entry.name ?? "", arguments: entry.arguments ?? "",
                    output: entry.output ?? "", isError: entry.isError ?? false, duration: entry.durationSeconds ?? 0, notes: entry.notes))
            case "approval":
                approvals += entry.input ?? []
                history += entry.input ?? []
            case "state_fallback":
                stateless = true
            default:
                break
            }
        }
        settleCalls()
        putInCallOrder()
        if let request = openRequest {
            // The request was sent (or about to be) and no response was recorded: send it again.
            turn = max(0, (request.turn ?? turn + 1) - 1)
            if !(request.input ?? []).isEmpty, !stateless { pending = request.input ?? [] }
            previousResponseID = request.previousResponseID
            pendingCalls = []
            status = nil
            attachResponseID = openBackground
        }
    }

    /// Puts tool records (every turn) and the last turn's outputs back in the order of the calls: a resumed run finds
    /// records in its journal in the order they finished, and runs the missing ones after.
    mutating func putInCallOrder() {
        let position = Dictionary(uniqueKeysWithValues: callOrder.enumerated().map { ($1, $0) })
        func rank(_ id: String) -> Int { position[id] ?? Int.max }
        // Every turn's records in the order its response asked for the calls (a journal has them as they finished).
        let ranks = callRank
        toolCalls = toolCalls.enumerated().sorted { left, right in
            let a = (left.element.turn, ranks[left.element.callID] ?? Int.max, left.offset)
            let b = (right.element.turn, ranks[right.element.callID] ?? Int.max, right.offset)
            return a < b
        }.map(\.element)
        func callID(_ item: InputItem) -> String? {
            if case .functionCallOutput(let output) = item { return output.callId }
            return nil
        }
        pending.sort { rank(callID($0) ?? "") < rank(callID($1) ?? "") }
        if let historyStart = history.firstIndex(where: { callID($0).map { position[$0] != nil } ?? false }) {
            let tail = history[historyStart...].sorted { rank(callID($0) ?? "") < rank(callID($1) ?? "") }
            history.replaceSubrange(historyStart..., with: tail)
        }
    }

    /// `auto` in place of a choice that forces a tool.
    static func relaxed(_ choice: ToolChoice) -> ToolChoice {
        switch choice {
        case .required, .function, .mcp, .custom, .hosted: .auto
        case .allowedTools(_, let tools): .allowedTools(mode: "auto", tools: tools)
        default: choice
        }
    }

    func result(journal: URL?) -> RunResult {
        RunResult(
            runID: runID, status: status ?? .failed, finalText: finalText, items: items, toolCalls: toolCalls, usage: usage,
            lastResponseID: lastResponseID, turns: turn, error: error, incompleteReason: incompleteReason, journal: journal)
    }
}

/// The loop of one run.
struct RunLoop: Sendable {
    let agent: Agent
    let client: ResponsesClient
    let logger: Logger
    let journal: Journal?
    let emit: @Sendable (RunEvent) -> Void
    var state: RunState

    mutating func run() async {
        if !state.pendingCalls.isEmpty {
            let calls = state.pendingCalls
            state.pendingCalls = []
            await runTools(calls)
            state.putInCallOrder()
        }
        while state.status == nil {
            if Task.isCancelled {
                state.status = .cancelled
                break
            }
            if state.turn >= agent.limits.maxTurns {
                state.status = .maxTurns
                state.error = "the run reached its limit of \(agent.limits.maxTurns) turns"
                break
            }
            await turn()
        }
    }

    private mutating func turn() async {
        state.turn += 1
        let request = makeRequest()
        let response: Response
        do {
            var attached: Response?
            let reattaching = state.attachResponseID
            state.attachResponseID = nil
            if let id = reattaching {
                emit(.turnStarted(turn: state.turn, stateless: state.stateless))
                attached = try await reattach(id)
            }
            if let attached {
                response = attached
            } else {
                var entry = JournalEntry(type: "request", runID: state.runID)
                entry.turn = state.turn
                entry.mode = state.stateless ? "stateless" : "stateful"
                entry.previousResponseID = request.previousResponseID
                entry.input = state.stateless ? nil : { if case .items(let items)? = request.input { items } else { nil } }()
                // The instructions and tools are in run_started; each request line keeps what may change.
                var body = request
                body.input = nil
                body.instructions = nil
                body.tools = nil
                entry.request = body
                journal?.append(entry)
                if reattaching == nil { emit(.turnStarted(turn: state.turn, stateless: state.stateless)) }
                response = try await callModel(request)
            }
        } catch let error as ResponsesError
            where error.isPreviousResponseNotFound && agent.state == .auto && !state.stateless && request.previousResponseID != nil
        {
            state.stateless = true
            state.turn -= 1
            let reason = "the provider refused previous_response_id (\(error.providerError?.message ?? "HTTP \(error.status ?? 0)")); replaying the history from now on"
            logger.info("falling back to stateless", metadata: ["run_id": "\(state.runID)", "reason": "\(reason)"])
            var fallback = JournalEntry(type: "state_fallback", runID: state.runID)
            fallback.turn = state.turn + 1
            fallback.message = reason
            fallback.httpStatus = error.status
            journal?.append(fallback)
            emit(.stateFallback(reason: reason))
            return
        } catch {
            if Task.isCancelled || error is CancellationError {
                state.status = .cancelled
                if let id = state.backgroundResponseID {
                    state.error = client.configuration.cancelBackgroundOnCancellation
                        ? "its background response \(id) was cancelled on the server"
                        : "its background response \(id) keeps running on the server; resuming the run picks it up"
                }
                return
            }
            state.backgroundResponseID = nil
            state.status = .failed
            state.error = "\(error)"
            var failure = JournalEntry(type: "error", runID: state.runID)
            failure.turn = state.turn
            failure.message = state.error
            if let error = error as? ResponsesError {
                failure.httpStatus = error.status
                if let partial = error.partialResponse, !partial.output.isEmpty { failure.response = partial }
            }
            journal?.append(failure)
            return
        }
        state.backgroundResponseID = nil
        record(response)
        let calls = response.functionCalls
        let hosted = response.output.compactMap { item -> HostedToolCall? in if case .hostedToolCall(let call) = item { call } else { nil } }
        for call in hosted where call.type != "mcp_approval_request" {
            var line = JournalEntry(type: "hosted_tool_call", runID: state.runID)
            line.turn = state.turn
            line.callID = call.id
            line.name = call.type
            line.message = call.summary
            journal?.append(line)
            emit(.hostedToolCall(turn: state.turn, call: call))
        }
        let approvals = hosted.filter { $0.type == "mcp_approval_request" }
        if response.status == .failed {
            state.status = .failed
            state.error = "the response failed: \(response.error.map { "\($0.code ?? "error"): \($0.message)" } ?? "no reason given")"
            return
        }
        if !approvals.isEmpty { await answer(approvals) }
        if calls.isEmpty, approvals.isEmpty {
            state.finalText = response.outputText
            if response.status == .incomplete { state.incompleteReason = response.incompleteDetails?.reason ?? "unknown" }
            state.status = .completed
            return
        }
        if let max = agent.limits.maxToolCalls, state.toolCalls.count + calls.count > max {
            state.status = .maxToolCalls
            state.error = "the model asked for \(calls.count) more tool calls after \(state.toolCalls.count), over the limit of \(max)"
            return
        }
        if !calls.isEmpty { await runTools(calls) }
        if agent.resetToolChoiceAfterToolUse { state.toolChoice = state.toolChoice.map(RunState.relaxed) }
    }

    /// Answers a hosted MCP server's approval requests (by the agent's policy, refusing without one); the answers go
    /// with the next request.
    private mutating func answer(_ requests: [HostedToolCall]) async {
        for request in requests {
            let approved = await agent.approveHostedCall?(request) ?? false
            let reply = request.approvalResponse(approve: approved)
            var line = JournalEntry(type: "approval", runID: state.runID)
            line.turn = state.turn
            line.callID = request.id
            line.name = request.summary
            line.input = [reply]
            line.message = approved ? "approved" : "refused"
            journal?.append(line)
            emit(.hostedApproval(turn: state.turn, request: request, approved: approved))
            state.history.append(reply)
            state.pending.append(reply)
        }
    }

    private func makeRequest() -> CreateResponseRequest {
        let settings = agent.settings
        let noTools = agent.tools.isEmpty && agent.hostedTools.isEmpty
        var request = settings.request
        request.model = agent.model
        request.instructions = agent.instructions
        if !noTools {
            request.tools = agent.tools.definitions + agent.hostedTools.map(ResponseTool.hosted)
            request.toolChoice = state.toolChoice
            request.parallelToolCalls = agent.parallelToolCalls
        }
        if state.stateless {
            request.input = .items(state.history)
            if settings.store == false {
                var include = request.include ?? []
                if !include.contains("reasoning.encrypted_content") { include.append("reasoning.encrypted_content") }
                request.include = include
            }
        } else if let previous = state.previousResponseID {
            request.previousResponseID = previous
            request.input = .items(state.pending)
        } else {
            request.input = .items(state.history)
        }
        return request
    }

    /// Sends the turn: streamed or one JSON call, polled while the server is not done. A background response's id
    /// goes to the journal as soon as the server gives it, so that a resumed run can fetch the response instead of
    /// paying for the turn again.
    private mutating func callModel(_ request: CreateResponseRequest) async throws -> Response {
        state.backgroundResponseID = nil
        guard agent.streaming else {
            let pending = PendingResponse()
            let (journal, turn, runID) = (self.journal, state.turn, state.runID)
            do {
                return try await client.create(request) { response in
                    guard !response.id.isEmpty else { return }
                    pending.id.withLock { $0 = response.id }
                    Self.journalBackground(response.id, turn: turn, runID: runID, journal: journal)
                }
            } catch {
                state.backgroundResponseID = pending.id.withLock { $0 }
                throw error
            }
        }
        let emit = self.emit
        var announced: String?
        defer { if let announced { state.backgroundResponseID = announced } }
        return try await client.stream(request).finalResponse { [journal, state] event in
            switch event {
            case .created(let e), .queued(let e), .inProgress(let e):
                if announced == nil, e.response.background ?? (request.background == true), !e.response.id.isEmpty {
                    announced = e.response.id
                    Self.journalBackground(e.response.id, turn: state.turn, runID: state.runID, journal: journal)
                }
            case .outputTextDelta(let delta):
                emit(.textDelta(delta.delta))
            default:
                break
            }
        }
    }

    /// The id of a response the server answered before it was done, once known.
    private final class PendingResponse: Sendable {
        let id = Mutex<String?>(nil)
    }

    private static func journalBackground(_ id: String, turn: Int, runID: String, journal: Journal?) {
        var line = JournalEntry(type: "background_response", runID: runID)
        line.turn = turn
        line.responseID = id
        journal?.append(line)
    }

    /// Fetches the background response a resumed run's last turn was waiting for, polling it to its end; `nil` when it
    /// is gone or was cancelled, and the turn must be sent again.
    private mutating func reattach(_ id: String) async throws -> Response? {
        state.backgroundResponseID = id
        do {
            var response = try await client.retrieve(id)
            if !response.status.isTerminal { response = try await client.waitUntilDone(id) }
            if response.status == .cancelled {
                logger.notice("the background response was cancelled; sending the turn again", metadata: ["response_id": "\(id)"])
                return nil
            }
            return response
        } catch let error as ResponsesError where error.isNotFound {
            logger.notice("the background response is gone; sending the turn again", metadata: ["response_id": "\(id)"])
            return nil
        }
    }

    private mutating func record(_ response: Response) {
        if let journal {
            // The response as the model made it; what the provider echoes of the request (tools, instructions,
            // sampling settings) is already in run_started and the request line.
            var made = response
            made.extra = [:]
            made.instructions = nil
            var entry = JournalEntry(type: "response", runID: state.runID)
            entry.turn = state.turn
            entry.response = made
            journal.append(entry)
        }
        if let usage = response.usage { state.usage = state.usage + usage }
        state.items += response.output
        state.history += response.output.map(InputItem.output)
        state.lastResponseID = response.id
        state.previousResponseID = response.id.isEmpty ? nil : response.id
        state.pending = []
        emit(.turnFinished(turn: state.turn, responseID: response.id, usage: response.usage))
    }

    /// Runs the calls (several at once, up to the concurrency limit), then adds their outputs in call order.
    private mutating func runTools(_ calls: [FunctionCall]) async {
        let turn = state.turn
        for call in calls { emit(.toolCallStarted(turn: turn, callID: call.callId, name: call.name, arguments: call.arguments)) }
        let limit = max(1, agent.limits.maxToolConcurrency)
        let executor = ToolExecutor(agent: agent, runID: state.runID, logger: logger)
        let journal = self.journal
        let emit = self.emit
        let runID = state.runID
        var records = [ToolCallRecord?](repeating: nil, count: calls.count)
        func finished(_ record: ToolCallRecord) {
            var entry = JournalEntry(type: "tool_call", runID: runID)
            entry.turn = turn
            entry.callID = record.callID
            entry.name = record.name
            entry.arguments = record.arguments
            entry.output = record.output
            entry.isError = record.isError
            entry.durationSeconds = record.duration
            entry.notes = record.notes
            journal?.append(entry)
            emit(.toolCallFinished(record))
        }
        if calls.count == 1 {
            // One call needs no task group (and its extra hop).
            let record = await executor.execute(calls[0], turn: turn)
            records[0] = record
            finished(record)
        } else {
            await withTaskGroup(of: (Int, ToolCallRecord).self) { group in
                var next = 0
                func start(_ index: Int) {
                    let call = calls[index]
                    group.addTask { (index, await executor.execute(call, turn: turn)) }
                }
                while next < min(limit, calls.count) {
                    start(next)
                    next += 1
                }
                while let (index, record) = await group.next() {
                    records[index] = record
                    finished(record)
                    if next < calls.count {
                        start(next)
                        next += 1
                    }
                }
            }
        }
        if Task.isCancelled {
            state.toolCalls += records.compactMap { $0 }
            state.status = .cancelled
            return
        }
        for record in records.compactMap({ $0 }) {
            state.toolCalls.append(record)
            let output = InputItem.functionCallOutput(FunctionCallOutput(callId: record.callID, output: record.output))
            state.history.append(output)
            state.pending.append(output)
        }
    }
}
