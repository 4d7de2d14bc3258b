import Foundation
import ResponsesAPI

/// A run in words, for people: the one renderer of run events (live), journal events (`errand runs show`), run ends
/// and batch lines. Every line is one line: text from a model, a tool or a provider is squashed and shortened.
package enum RunText {
    /// `text` on one line, at most `limit` characters.
    package static func short(_ text: String, _ limit: Int) -> String { OneLine.squash(text, limit: limit) }

    /// `1 turn`, `2 turns`.
    package static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

    /// A duration in seconds as `12 ms` or `1.5 s`.
    package static func milliseconds(_ seconds: Double) -> String {
        seconds < 1 ? "\(Int((seconds * 1000).rounded())) ms" : String(format: "%.1f s", seconds)
    }

    /// `path` relative to the current folder when it is inside it.
    package static func relative(_ path: String) -> String {
        let here = FileManager.default.currentDirectoryPath + "/"
        return path.hasPrefix(here) ? String(path.dropFirst(here.count)) : path
    }

    /// `12:05`, or `1:02:03` past an hour.
    package static func clock(_ duration: Duration) -> String {
        let seconds = Int(duration.seconds.rounded())
        return seconds < 3600 ? String(format: "%d:%02d", seconds / 60, seconds % 60) : String(format: "%d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60)
    }

    /// `950`, `12.3k`, `1.20M`.
    package static func tokens(_ count: Int) -> String {
        count < 10_000 ? "\(count)" : count < 1_000_000 ? String(format: "%.1fk", Double(count) / 1000) : String(format: "%.2fM", Double(count) / 1_000_000)
    }

    // MARK: Steps

    /// A finished tool call: `↳ read_file {"path":…} ✓ 3 ms`.
    package static func toolCall(_ record: ToolCallRecord, arguments: Int = 60, output: Int = 70) -> String {
        let outcome = record.isError ? "✗ \(short(record.output, output))" : "✓"
        let child = record.subRun.map { " · run \($0.runID) (\($0.turns) turns, \($0.usage.totalTokens) tokens)" } ?? ""
        return "↳ \(record.name) \(short(record.arguments, arguments)) \(outcome) \(milliseconds(record.duration))\(child)"
    }

    /// A tool the provider ran.
    package static func hostedCall(_ summary: String, limit: Int = 110) -> String { "↳ [provider] \(short(summary, limit))" }

    /// A hosted MCP server's approval request and its answer.
    package static func approval(_ summary: String, approved: Bool, limit: Int = 90) -> String {
        "↳ [provider] \(short(summary, limit)) \(approved ? "approved" : "refused")"
    }

    /// The fallback to replaying the history.
    package static func fallback(_ reason: String, httpStatus: Int? = nil) -> String {
        "⚠ \(httpStatus.map { "HTTP \($0): " } ?? "")\(short(reason, 300))"
    }

    /// `⇄ websocket connection 2 (the server closed it (close code 1001 going away)); replaying the history`.
    package static func connection(_ e: JournalEvent.Connection) -> String {
        let next = switch e.next {
        case "chain": "; chaining"
        case "replay": "; replaying the history"
        default: ""
        }
        let which = e.number.map { " connection \($0)" } ?? ""
        return "⇄ \(e.transport.rawValue)\(which) (\(short(e.reason, 200)))\(next)"
    }

    /// `3 turns, 2 tool calls, 1200 tokens`, and `, $0.0123` when the cost is known.
    package static func facts(turns: Int, toolCalls: Int, tokens: Int, cost: Double? = nil) -> String {
        "\(count(turns, "turn")), \(count(toolCalls, "tool call")), \(tokens) tokens\(cost.map { ", \(USD.format($0))" } ?? "")"
    }

    /// A cost for a table: `$0.0123`, or `?` when unknown.
    package static func cost(_ amount: Double?) -> String { amount.map(USD.format) ?? "?" }

    /// `⇲ compacted before turn 12 (summary, threshold): 98.2k → 12.1k tokens; a summary of …`.
    package static func compaction(_ e: JournalEvent.Compaction) -> String {
        let when = e.method == .server ? "in turn \(e.turn)" : "before turn \(e.turn)"
        let price = e.costUSD.map { " · \(USD.format($0))" } ?? ""
        return "⇲ compacted \(when) (\(e.method.rawValue), \(e.reason.rawValue)): \(tokens(e.tokensBefore)) → \(tokens(e.tokensAfter)) tokens; \(short(e.kept, 160))\(price)"
    }

    // MARK: Ends

    /// The lines that say how a run ended, for stderr: `✓ completed: …` (when `completed` lines are wanted), or why it
    /// did not complete, with `--resume` offered exactly when a resume would go on with it (``RunResult/Status/canResume``);
    /// and an incomplete answer's reason.
    package static func end(_ result: RunResult, sayCompleted: Bool = true) -> [String] {
        var lines: [String] = []
        let journal = result.journal.map { " · journal \(relative($0.path))" } ?? ""
        if result.status == .completed {
            if sayCompleted {
                lines.append("✓ completed: \(facts(turns: result.turns, toolCalls: result.toolCalls.count, tokens: result.usage.totalTokens, cost: result.costUSD)) · run \(result.runID)\(journal)")
            }
        } else {
            let resume = result.journal != nil && result.status.canResume ? " (resume with --resume \(result.runID))" : ""
            lines.append("errand: the run ended \(result.status.rawValue): \(short(result.error ?? "no reason given", 600))\(resume)")
        }
        // A budget stop names its budget in its message; its incomplete reason is for programs.
        if let reason = result.incompleteReason, result.status != .budgetExceeded { lines.append("errand: the answer is incomplete (\(reason))") }
        return lines
    }

    // MARK: Journals

    /// A journal's steps in words, one a line, with the time since the run started.
    package static func transcript(_ records: [JournalRecord]) -> [String] {
        guard let first = records.first else { return [] }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        var lines: [String] = []
        for record in records {
            let when = String(format: "%7.1f s", record.time - first.time)
            if case .runStarted(let e) = record.event {
                lines.append("run \(record.runID) · agent \(e.agent) · model \(e.model) · started \(formatter.string(from: Date(timeIntervalSince1970: record.time)))")
            }
            if let line = step(record.event) { lines.append("\(when)  \(line)") }
        }
        if case .runFinished? = records.last?.event {} else {
            lines.append("         (no end recorded: the run is going on, or was cut short; --resume \(first.runID) goes on)")
        }
        return lines
    }

    /// One journal event in words, or `nil` for one not shown (a tool's start: its end says it all).
    package static func step(_ event: JournalEvent) -> String? {
        switch event {
        case .runStarted(let e):
            return "task: \(short(RunSummary.task(of: e.input), 100))"
        case .requestSent(let e):
            let how = e.stateless ? "the history replayed" : e.previousResponseID.map { "chained to \($0)" } ?? "the first request"
            return "turn \(e.turn) → request (\(how))"
        case .backgroundResponse(let e):
            return "turn \(e.turn)   background response \(e.responseID)"
        case .responseReceived(let e):
            let calls = e.response.functionCalls
            let what = calls.isEmpty
                ? "answer: \(short(e.response.outputText, 70))"
                : "\(count(calls.count, "tool call")) (\(calls.map(\.name).joined(separator: ", ")))"
            return "turn \(e.turn) ← \(e.response.id) \(e.response.status): \(what) · \(e.response.usage?.totalTokens ?? 0) tokens\(e.costUSD.map { " · \(USD.format($0))" } ?? "")"
        case .toolStarted:
            return nil
        case .toolFinished(let r):
            return "turn \(r.turn)   \(toolCall(r, arguments: 50, output: 60))"
        case .hostedCall(let e):
            return "turn \(e.turn)   \(hostedCall(e.message ?? e.name, limit: 80))"
        case .approval(let e):
            return "turn \(e.turn)   \(approval(e.summary ?? "approval", approved: e.approved, limit: 70))"
        case .stateFallback(let e):
            return "turn \(e.turn) \(fallback(e.reason, httpStatus: e.httpStatus))"
        case .connection(let e):
            return "turn \(e.turn) \(connection(e))"
        case .compaction(let e):
            return "turn \(e.turn) \(compaction(e))"
        case .inputAdded(let e):
            return "follow-up: \(short(RunSummary.task(of: e.input), 100))"
        case .outputRejected(let e):
            return "turn \(e.turn) \(outputRejected(e))"
        case .guardrail(let e):
            return "turn \(e.turn) \(guardrail(e))"
        case .handoff(let e):
            return "turn \(e.turn) \(handoff(e))"
        case .failure(let e):
            return "turn \(e.turn) ✗ \(short(e.message, 300))"
        case .runResumed(let e):
            return "resumed after turn \(e.turn)"
        case .runFinished(let e):
            let mark = e.status == .completed ? "✓" : "✗"
            let detail = e.status == .completed ? short(e.finalText, 80) : short(e.message ?? "", 300)
            return "\(mark) \(e.status.rawValue): \(facts(turns: e.turns, toolCalls: e.toolCallCount ?? 0, tokens: e.usage?.totalTokens ?? 0, cost: e.costUSD)) · \(detail)"
        }
    }

    /// A refused answer: `↺ the answer does not fit the output schema (attempt 1): …`.
    package static func outputRejected(_ e: JournalEvent.OutputRejected) -> String {
        "↺ the answer does not fit the output schema; asking again (\(e.attempt)): \(short(e.problems.joined(separator: "; "), 200))"
    }

    /// A guardrail's verdict: `⛨ input guardrail deny passed` or `⛔ output guardrail judge tripped: reason`.
    package static func guardrail(_ e: JournalEvent.GuardrailChecked) -> String {
        let what = "\(e.kind.rawValue) guardrail \(e.name)"
        if let error = e.error { return "⛔ \(what) could not run: \(short(error, 200))" }
        return e.passed ? "⛨ \(what) passed" : "⛔ \(what) tripped: \(short(e.reason ?? "no reason given", 200))"
    }

    /// A handoff: `⇢ handed from triage to billing (model)`.
    package static func handoff(_ e: JournalEvent.Handoff) -> String {
        "⇢ handed from \(e.from) to \(e.to) (\(e.model))"
    }

    /// The runs of a folder as a table: run, agent, status, turns, tokens, started, task.
    package static func runsTable(_ runs: [RunSummary]) -> [String] {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        let rows = runs.map { run in
            [run.parentRunID == nil ? run.runID : "↳ \(run.runID)", run.agent, run.status?.rawValue ?? "unfinished", "\(run.turns)", "\(run.totalTokens)", cost(run.costUSD),
             formatter.string(from: run.started), short(run.task, 50)]
        }
        let header = ["RUN", "AGENT", "STATUS", "TURNS", "TOKENS", "COST", "STARTED", "TASK"]
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        return ([header] + rows).map { row in
            row.enumerated().map { index, cell in index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }
    }

    // MARK: Batches

    /// One task of a batch as a readable line.
    package static func batchTask(_ finished: BatchResult) -> String {
        let result = finished.result
        let mark = result.status == .completed ? "✓" : "✗"
        let origin = finished.origin == .started ? "" : " (\(finished.origin.rawValue))"
        let text = result.status == .completed ? short(result.finalText, 100) : short(result.error ?? "", 300)
        return "\(mark) \(finished.id) \(result.status.rawValue)\(origin): \(facts(turns: result.turns, toolCalls: result.toolCalls.count, tokens: result.usage.totalTokens, cost: result.costUSD)) · \(text)"
    }

    /// A batch's summary as a readable line.
    package static func batchSummary(_ summary: BatchSummary, folder: URL) -> String {
        let others = summary.byStatus.filter { $0.key != .completed && $0.value > 0 }.sorted { $0.key.rawValue < $1.key.rawValue }
            .map { "\($0.value) \($0.key.rawValue)" }
        let notRun = summary.notRun > 0 ? ["\(summary.notRun) not run"] : []
        let parts = (["\(summary.completed) completed"] + others + notRun).joined(separator: ", ")
        let unpriced = summary.unpricedTasks > 0 && summary.costUSD != nil ? " (\(summary.unpricedTasks) unpriced)" : ""
        let spent = summary.costUSD.map { " · \(USD.format($0))\(unpriced)" } ?? ""
        return "\(summary.total) tasks: \(parts) · \(summary.usage.totalTokens) tokens\(spent) · \(clock(.milliseconds(Int64(summary.elapsedSeconds * 1000)))) · journals in \(relative(folder.path))"
    }
}

