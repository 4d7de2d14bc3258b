import Foundation
import Logging
import ResponsesAPI

/// Keeping a run inside its context window: when to compact, and how (see ``ContextPolicy``).
extension RunLoop {
    /// How a run compacts: `auto` is `server` for a provider that compacts itself, else `local`.
    static func compactionMode(_ asked: ContextPolicy.Compaction, provider: Provider) -> ContextPolicy.Compaction {
        switch asked {
        case .auto: provider.offersServerCompaction ? .server : .local
        case let mode: mode
        }
    }

    /// The tokens past which the run compacts before a request: nil when it never does (compaction off, no window
    /// known, or a server that compacts inside responses and has no `/responses/compact`).
    var compactAt: Int? {
        guard compactionMode != .off, let window = state.learnedWindow ?? contextWindow else { return nil }
        if compactionMode == .server, compactEndpointMissing { return nil }
        return agent.context.limit(window: window)
    }

    /// The provider refused the request as too long: compact and send it once more, or end the run saying what to do.
    mutating func overflowed(_ error: ResponsesError, turn: Int, estimate: Int) async throws(CoreError) {
        let said = error.providerError.map { OneLine.squash($0.message, limit: 300) } ?? error.message
        guard compactionMode != .off, state.overflowRetryTurn != turn else {
            let message = compactionMode == .off
                ? "the request does not fit the model's context window (\(said)). Compaction is off for this run: turn it on (\"context\": {\"compaction\": \"auto\"} in the spec, or Agent.context.compaction) so that the run compacts its history and goes on"
                : "the request still does not fit the model's context window after compacting (\(said)); lower context.keep_recent_turns or context.threshold in the spec, or have the tools return less"
            try await record(.failure(.init(turn: turn, message: "\(error)", httpStatus: error.status, response: nil)))
            try await record(.runFinished(state.finish(.failed, message: message)))
            return
        }
        logger.notice("the context overflowed; compacting and sending the turn again", metadata: ["run_id": "\(state.runID)", "provider_said": "\(said)"])
        let window = error.reportedContextWindow
        try await compactContext(reason: .overflow, tokens: max(estimate, window.map { $0 + 1 } ?? 0), learnedWindow: window)
    }

    /// Compacts the conversation (the history; what the next request adds stays as it is) and journals how. On the
    /// server with `POST /responses/compact` where the run compacts there and the server has it; else here.
    mutating func compactContext(
        reason: JournalEvent.Compaction.Reason, tokens before: Int, learnedWindow: Int? = nil
    ) async throws(CoreError) {
        let turn = state.nextTurn
        var event: JournalEvent.Compaction?
        if compactionMode == .server, !compactEndpointMissing {
            event = await compactOnServer(turn: turn, reason: reason, before: before, learnedWindow: learnedWindow)
        }
        if Task.isCancelled { return }
        if event == nil { event = await compactHere(turn: turn, reason: reason, before: before, learnedWindow: learnedWindow) }
        guard let event, !Task.isCancelled else { return }
        try await record(.compaction(event))
        emit(.compacted(event))
    }

    /// `POST /responses/compact` over all but the last turn, whose calls and outputs stay as they are; nil when the
    /// server has no such endpoint or the call failed (the run then compacts here).
    private mutating func compactOnServer(
        turn: Int, reason: JournalEvent.Compaction.Reason, before: Int, learnedWindow: Int?
    ) async -> JournalEvent.Compaction? {
        let history = state.history
        let recent = LocalCompaction.recentStart(history, keeping: 1)
        guard recent > 0 else { return nil }
        do {
            let compacted = try await client.compact(CompactRequest(model: agent.model, input: Array(history[..<recent]), instructions: agent.instructions))
            let replacement = compacted.output.map(InputItem.output) + history[recent...]
            let cost = charge(compacted.usage)
            return JournalEvent.Compaction(
                turn: turn, method: .serverCompact, reason: reason, tokensBefore: before,
                tokensAfter: state.overheadTokens + TokenEstimate.of(replacement), window: learnedWindow,
                kept: "the server's compaction (\(compacted.output.count) items) and the last turn (\(history.count - recent) items)",
                history: replacement, usage: compacted.usage, costUSD: cost)
        } catch let error as ResponsesError where error.isEndpointMissing {
            compactEndpointMissing = true
            logger.notice("the server has no POST /responses/compact; compacting here", metadata: ["run_id": "\(state.runID)"])
            return nil
        } catch {
            logger.warning("POST /responses/compact failed; compacting here", metadata: ["run_id": "\(state.runID)", "error": "\(error)"])
            return nil
        }
    }

    /// Compacts here: old tool outputs dropped first; if that is not enough, the older turns summarised by the model.
    private func compactHere(
        turn: Int, reason: JournalEvent.Compaction.Reason, before: Int, learnedWindow: Int?
    ) async -> JournalEvent.Compaction {
        let policy = agent.context
        let window = learnedWindow ?? state.learnedWindow ?? contextWindow
        // With no window known (a refusal that did not name it), aim well under what did not fit.
        let limit = window.map(policy.limit(window:)) ?? max(1, before * 6 / 10)
        let history = state.history
        let overhead = state.overheadTokens
        let pending = state.pendingInput.isEmpty ? 0 : TokenEstimate.of(state.pendingInput)
        let keep = max(1, policy.keepRecentTurns)
        var recent = LocalCompaction.recentStart(history, keeping: keep)
        let (pruned, dropped) = LocalCompaction.pruned(history, keepFrom: recent)
        let afterPrune = overhead + TokenEstimate.of(pruned)
        // Dropping old outputs is enough when it leaves room for a few turns; otherwise a summary, which leaves more.
        if afterPrune + pending <= limit * 3 / 4 {
            return JournalEvent.Compaction(
                turn: turn, method: .prune, reason: reason, tokensBefore: before, tokensAfter: afterPrune, window: learnedWindow,
                kept: "\(dropped) older tool outputs replaced by notes; the last \(keep) turns whole", history: pruned)
        }
        // Summarise: keep as many recent turns as fit in half the limit, fewer if need be (at least the last).
        var kept = keep
        while kept > 1, overhead + TokenEstimate.of(Array(pruned[recent...])) + pending > limit / 2 {
            kept -= 1
            recent = LocalCompaction.recentStart(history, keeping: kept)
        }
        let (items, droppedAll) = LocalCompaction.pruned(history, keepFrom: recent)
        let task = LocalCompaction.task(of: state.started?.input ?? [])
        let older = items[..<recent].filter { $0 != task.item }
        let (summary, usage, failure) = await summarise(older, task: task.text, window: window, limit: limit)
        if let summary {
            let replacement = [LocalCompaction.summaryMessage(task: task.text, summary: summary)] + items[recent...]
            return JournalEvent.Compaction(
                turn: turn, method: .summary, reason: reason, tokensBefore: before, tokensAfter: overhead + TokenEstimate.of(replacement),
                window: learnedWindow,
                kept: recent == history.count
                    ? "a summary of all \(recent) items (the run's input: no model turns yet)"
                    : "a summary of the \(recent) items before the last \(kept) turns (\(droppedAll) tool outputs among them), and those turns whole",
                history: replacement, usage: usage, costUSD: usage.flatMap { agent.price?.cost(of: $0) })
        }
        // The summary turn failed: old outputs are dropped all the same, and what the failed turn cost is counted.
        logger.warning("the summary turn failed; dropping old tool outputs only", metadata: ["run_id": "\(state.runID)", "error": "\(failure)"])
        return JournalEvent.Compaction(
            turn: turn, method: .prune, reason: reason, tokensBefore: before, tokensAfter: afterPrune, window: learnedWindow,
            kept: "\(dropped) older tool outputs replaced by notes (the summary turn failed: \(OneLine.squash(failure, limit: 200)))",
            history: pruned, usage: usage, costUSD: usage.flatMap { agent.price?.cost(of: $0) })
    }

    /// Asks the model for a summary of `items` in a turn of its own (plain text in, no tools), within the window: the
    /// summary, or why there is none; and what the turn used either way (charged to the shared budget here).
    private func summarise(
        _ items: [InputItem], task: String, window: Int?, limit: Int
    ) async -> (summary: String?, usage: Usage?, failure: String) {
        let answerTokens = min(1024, max(128, (window ?? 8192) / 6))
        let room = max(256, limit - TokenEstimate.of(text: LocalCompaction.summaryInstructions + task) - answerTokens - 64)
        let transcript = LocalCompaction.transcript(items, limit: room * 4 * 9 / 10)
        var request = CreateResponseRequest(model: agent.model)
        request.instructions = LocalCompaction.summaryInstructions
        request.input = .items([.user(LocalCompaction.summaryRequest(task: task, transcript: transcript))])
        request.maxOutputTokens = answerTokens
        if agent.settings.request.store == false { request.store = false }
        let response: Response
        do {
            response = try await client.create(request, echoes: false)
        } catch {
            return (nil, nil, "\(error)")
        }
        _ = charge(response.usage)
        let text = response.outputText.trimmingCharacters(in: .whitespacesAndNewlines)
        guard response.status != .failed, !text.isEmpty else { return (nil, response.usage, "the summary turn came back \(response.status) with no text") }
        return (text, response.usage, "")
    }
}
