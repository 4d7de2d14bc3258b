import Foundation
import Logging
import ResponsesAPI
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
    /// Asked before each step: when it answers `true`, the run stops there, between steps, as cancelled (nothing in
    /// flight is cut), so that it can be resumed elsewhere at once. A worker that is shutting down sets it.
    public var stopRequested: (@Sendable () -> Bool)?
    /// A budget this runner's runs share (a batch's): each run adds its calls' cost, and stops at its next step once
    /// the budget is spent (status `budget_exceeded`).
    public var sharedBudget: SharedBudget?
    /// The run that starts this runner's runs (an agent used as a tool, a guardrail's judge), journaled in their
    /// `run_started`.
    package var parent: JournalEvent.ParentLink?
    /// How deep this runner's runs are among runs started by runs (a top-level run is 0).
    package var depth = 0

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
        let policy = journalPolicy(for: agent)
        return await run(
            agent, input: input, runID: runID, opening: journal.map { url in { () throws(CoreError) in try Journal(url: url, policy: policy) } },
            children: journal.map { FileRunStore(folder: $0.deletingLastPathComponent()) }, onEvent: onEvent)
    }

    /// Runs `agent` on `input` as ``run(_:input:journal:runID:onEvent:)`` does, journaling into `store` under `runID`.
    public func run(
        _ agent: Agent, input: ResponseInput, store: any RunStore, runID: String? = nil, onEvent: @escaping @Sendable (RunEvent) -> Void = { _ in }
    ) async -> RunResult {
        let id = runID ?? Self.makeRunID()
        let policy = journalPolicy(for: agent)
        return await run(
            agent, input: input, runID: id, opening: { () async throws(CoreError) in try await store.openJournal(runID: id, policy: policy) }, children: store,
            onEvent: onEvent)
    }

    /// Runs `agent` on `input` with the journal `open` gives (none when `nil`).
    private func run(
        _ agent: Agent, input: ResponseInput, runID: String?, opening open: (() async throws(CoreError) -> any RunJournal)?, children: (any RunStore)?,
        onEvent: @escaping @Sendable (RunEvent) -> Void
    ) async -> RunResult {
        let id = runID ?? Self.makeRunID()
        let items: [InputItem]
        switch input {
        case .text(let text): items = [.user(text)]
        case .items(let list): items = list
        }
        var loop = RunLoop(agent: agent, client: client, logger: logger, journal: nil, emit: onEvent, state: RunState(runID: id))
        loop.childStore = children
        loop.depth = depth
        do {
            // A cost budget for a model with no price is refused before anything is journaled or sent.
            try agent.checkBudget()
            if let open { loop.journal = try await open() }
            try await loop.record(.runStarted(agent.startEvent(input: items, parent: parent)))
        } catch {
            // Nothing ran and nothing could be journaled: the run ends here, and says so as every run ends.
            loop.state.apply(.runFinished(loop.state.finish(.failed, message: error.description)))
            await loop.journal?.close()
            let result = loop.state.result(journal: loop.journal?.fileURL)
            onEvent(.runFinished(result))
            return result
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
    public func journalPolicy(for agent: Agent) -> JournalPolicy {
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
        try await resume(agent, state: try RunState(replaying: try Journal.read(url)), journal: url, options: options, onEvent: onEvent)
    }

    /// Resumes the run `runID` of `store` (`last` for the one that started last), as ``resume(_:journal:options:onEvent:)`` does.
    public func resume(
        _ agent: Agent, runID: String, store: any RunStore, options: ResumeOptions = ResumeOptions(),
        onEvent: @escaping @Sendable (RunEvent) -> Void = { _ in }
    ) async throws(CoreError) -> RunResult {
        let id = try await store.existingRunID(runID)
        let state = try RunState(replaying: try await store.existingRecords(id))
        let policy = journalPolicy(for: agent)
        return try await resume(
            agent, state: state, location: store.location(of: id), opening: { () async throws(CoreError) in try await store.openJournal(runID: id, policy: policy) },
            options: options, onEvent: onEvent, children: store)
    }

    /// Resumes the run whose journal at `url` was read into `state` (see ``resume(_:journal:options:onEvent:)``).
    func resume(
        _ agent: Agent, state: RunState, journal url: URL, options: ResumeOptions, onEvent: @escaping @Sendable (RunEvent) -> Void
    ) async throws(CoreError) -> RunResult {
        let policy = journalPolicy(for: agent)
        return try await resume(
            agent, state: state, location: url.lastPathComponent, opening: { () throws(CoreError) in try Journal(url: url, policy: policy) },
            options: options, onEvent: onEvent, settledJournal: url, children: FileRunStore(folder: url.deletingLastPathComponent()))
    }

    /// Resumes the run read into `state`, appending to the journal `open` gives.
    package func resume(
        _ agent: Agent, state: RunState, location: String, opening open: () async throws(CoreError) -> any RunJournal, options: ResumeOptions,
        onEvent: @escaping @Sendable (RunEvent) -> Void, settledJournal: URL? = nil, children: (any RunStore)? = nil
    ) async throws(CoreError) -> RunResult {
        try Self.check(agent, against: state, force: options.force, journal: location)
        try agent.checkBudget()
        if state.isSettled {
            let result = state.result(journal: settledJournal)
            onEvent(.runFinished(result))
            return result
        }
        let journal = try await open()
        var loop = RunLoop(agent: agent, client: client, logger: logger, journal: journal, emit: onEvent, state: state, options: options)
        loop.childStore = children
        loop.depth = depth
        do {
            try await loop.record(.runResumed(.init(turn: state.turn)))
        } catch {
            await journal.close()
            throw error
        }
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
        let policy = journalPolicy(for: agent)
        return try await continueRun(
            agent, state: try RunState(replaying: try Journal.read(url)), location: url.lastPathComponent,
            opening: { () throws(CoreError) in try Journal(url: url, policy: policy) }, with: input, options: options, onEvent: onEvent,
            children: FileRunStore(folder: url.deletingLastPathComponent()))
    }

    /// Continues the run `runID` of `store` as a conversation, as ``continueRun(_:journal:with:options:onEvent:)`` does.
    public func continueRun(
        _ agent: Agent, runID: String, store: any RunStore, with input: ResponseInput, options: ResumeOptions = ResumeOptions(),
        onEvent: @escaping @Sendable (RunEvent) -> Void = { _ in }
    ) async throws(CoreError) -> RunResult {
        let id = try await store.existingRunID(runID)
        let state = try RunState(replaying: try await store.existingRecords(id))
        let policy = journalPolicy(for: agent)
        return try await continueRun(
            agent, state: state, location: store.location(of: id),
            opening: { () async throws(CoreError) in try await store.openJournal(runID: id, policy: policy) }, with: input, options: options,
            onEvent: onEvent, children: store)
    }

    private func continueRun(
        _ agent: Agent, state: RunState, location: String, opening open: () async throws(CoreError) -> any RunJournal, with input: ResponseInput,
        options: ResumeOptions, onEvent: @escaping @Sendable (RunEvent) -> Void, children: (any RunStore)?
    ) async throws(CoreError) -> RunResult {
        try Self.check(agent, against: state, force: options.force, journal: location)
        try agent.checkBudget()
        try state.checkContinuable()
        let items: [InputItem]
        switch input {
        case .text(let text): items = [.user(text)]
        case .items(let list): items = list
        }
        let journal = try await open()
        var loop = RunLoop(agent: agent, client: client, logger: logger, journal: journal, emit: onEvent, state: state, options: options)
        loop.childStore = children
        loop.depth = depth
        do {
            try await loop.record(.inputAdded(.init(input: items)))
        } catch {
            await journal.close()
            throw error
        }
        onEvent(.runStarted(runID: state.runID, agent: agent.name))
        return await drive(loop)
    }

    /// Refuses to go on with an agent other than the journaled one, naming what differs.
    static func check(_ agent: Agent, against state: RunState, force: Bool, journal: String) throws(CoreError) {
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
            "the agent is not the one that ran \(state.runID) (\(journal)): \(differences.joined(separator: "; ")); go on anyway with --force")
    }

    /// Runs the loop under the run's time limit, in a span of its own (`errand.run`), and journals how it ended.
    private func drive(_ loop: RunLoop) async -> RunResult {
        await withSpan("errand.run", ofKind: .internal) { span in
            span.attributes["errand.run.id"] = loop.state.runID
            span.attributes["errand.agent"] = loop.agent.name
            span.attributes["gen_ai.request.model"] = loop.agent.model
            if let parent = loop.state.started?.parentRunID { span.attributes["errand.parent_run.id"] = parent }
            let result = await driveUnderLimit(loop)
            span.attributes["errand.run.status"] = result.status.rawValue
            span.attributes["errand.run.turns"] = result.turns
            span.attributes["errand.run.tool_calls"] = result.toolCalls.count
            span.attributes["gen_ai.usage.input_tokens"] = result.usage.inputTokens
            span.attributes["gen_ai.usage.output_tokens"] = result.usage.outputTokens
            if let cost = result.costUSD { span.attributes["errand.cost_usd"] = cost }
            if result.status != .completed {
                span.setStatus(SpanStatus(code: .error, message: result.error ?? result.status.rawValue))
            }
            return result
        }
    }

    private func driveUnderLimit(_ loop: RunLoop) async -> RunResult {
        let timeout = loop.root.limits.timeout
        let (stopRequested, sharedBudget) = (self.stopRequested, self.sharedBudget)
        var (final, timedOut) = await withTimeLimit(timeout) {
            var loop = loop
            loop.stopRequested = stopRequested
            loop.sharedBudget = sharedBudget
            await loop.run()
            return loop
        }
        if timedOut, final.state.finished == nil {
            await final.end(.timedOut, "the run reached its time limit of \(timeout.map { "\($0)" } ?? "?")")
        }
        if final.state.finished == nil {
            if Task.isCancelled {
                await final.end(.cancelled, "the run was stopped before it finished")
            } else {
                await final.end(.failed, "the run stopped without a reason")
            }
        }
        await final.journal?.close()
        let result = final.state.result(journal: final.journal?.fileURL)
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
