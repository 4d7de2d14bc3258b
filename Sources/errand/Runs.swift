import ArgumentParser
import ErrandCore
import Foundation
import ResponsesAPI

/// `errand runs`: the journaled runs, and one run's steps.
struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List journaled runs, or show one run's steps.",
        subcommands: [List.self, Show.self],
        defaultSubcommand: List.self
    )

    /// Options both subcommands share.
    struct Folder: ParsableArguments {
        @Option(help: "Where journals are written (default: ERRAND_JOURNAL_DIR, or .errand/runs).")
        var journalDir: String?

        var store: RunStore { RunStore.standard(folder: journalDir) }
    }

    /// `errand runs [list]`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List journaled runs, oldest first.")

        @OptionGroup var folder: Folder

        @Flag(help: "Print one JSON object per run, one a line.")
        var json = false

        func run() throws {
            let runs: [RunStore.Summary]
            do {
                runs = try folder.store.list()
            } catch {
                printError("errand: \(error)")
                throw ExitCode(1)
            }
            if json {
                for run in runs { writeOut(Self.json(run).jsonString + "\n") }
                return
            }
            guard !runs.isEmpty else {
                printError("errand: no runs in \(folder.store.folder.path)")
                return
            }
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.dateFormat = "yyyy-MM-dd HH:mm"
            let rows = runs.map { run in
                [run.runID, run.agent, run.status?.rawValue ?? "unfinished", "\(run.turns)", "\(run.totalTokens)", formatter.string(from: run.started),
                 RunDisplay.short(run.task, 50)]
            }
            let header = ["RUN", "AGENT", "STATUS", "TURNS", "TOKENS", "STARTED", "TASK"]
            let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
            for row in [header] + rows {
                let cells = row.enumerated().map { index, cell in index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0) }
                writeOut(cells.joined(separator: "  ") + "\n")
            }
        }

        static func json(_ run: RunStore.Summary) -> JSONValue {
            [
                "run_id": .string(run.runID), "agent": .string(run.agent), "model": .string(run.model),
                "status": run.status.map { .string($0.rawValue) } ?? .null, "turns": .number(Double(run.turns)),
                "total_tokens": .number(Double(run.totalTokens)), "started": .number(run.started.timeIntervalSince1970.rounded()),
                "task": .string(run.task), "error": run.error.map(JSONValue.string) ?? .null, "journal": .string(run.journal.path),
            ]
        }
    }

    /// `errand runs show RUN_ID`.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a run's steps, one a line.")

        @Argument(help: "The run's id, or 'last'.")
        var runID: String

        @OptionGroup var folder: Folder

        @Flag(help: "Print the journal's events as they are, one JSON object a line.")
        var json = false

        func run() throws {
            let records: [JournalRecord]
            do {
                records = try Journal.read(try folder.store.existingJournal(runID))
            } catch {
                printError("errand: \(error)")
                throw ExitCode(2)
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                for record in records { writeOut(String(decoding: try encoder.encode(record), as: UTF8.self) + "\n") }
                return
            }
            for line in Self.lines(records) { writeOut(line + "\n") }
        }

        /// The steps in words.
        static func lines(_ records: [JournalRecord]) -> [String] {
            guard let first = records.first else { return [] }
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
            func at(_ record: JournalRecord) -> String { String(format: "%7.1f s", record.time - first.time) }
            var lines: [String] = []
            for record in records {
                let when = at(record)
                switch record.event {
                case .runStarted(let e):
                    lines.append("run \(record.runID) · agent \(e.agent) · model \(e.model) · started \(formatter.string(from: Date(timeIntervalSince1970: record.time)))")
                    lines.append("\(when)  task: \(RunDisplay.short(RunStore.task(of: e.input), 100))")
                case .requestSent(let e):
                    let how = e.stateless ? "the history replayed" : e.previousResponseID.map { "chained to \($0)" } ?? "the first request"
                    lines.append("\(when)  turn \(e.turn) → request (\(how))")
                case .backgroundResponse(let e):
                    lines.append("\(when)  turn \(e.turn)   background response \(e.responseID)")
                case .responseReceived(let e):
                    let calls = e.response.functionCalls
                    let what = calls.isEmpty
                        ? "answer: \(RunDisplay.short(e.response.outputText, 70))"
                        : "\(calls.count) tool call\(calls.count == 1 ? "" : "s") (\(calls.map(\.name).joined(separator: ", ")))"
                    lines.append("\(when)  turn \(e.turn) ← \(e.response.id) \(e.response.status): \(what) · \(e.response.usage?.totalTokens ?? 0) tokens")
                case .toolStarted:
                    break
                case .toolFinished(let r):
                    let outcome = r.isError ? "✗ \(RunDisplay.short(r.output, 60))" : "✓"
                    lines.append("\(when)  turn \(r.turn)   ↳ \(r.name) \(RunDisplay.short(r.arguments, 50)) \(outcome) \(RunDisplay.milliseconds(r.duration))")
                case .hostedCall(let e):
                    lines.append("\(when)  turn \(e.turn)   ↳ [provider] \(RunDisplay.short(e.message ?? e.name, 80))")
                case .approval(let e):
                    lines.append("\(when)  turn \(e.turn)   ↳ [provider] \(RunDisplay.short(e.summary ?? "approval", 70)) \(e.approved ? "approved" : "refused")")
                case .stateFallback(let e):
                    lines.append("\(when)  turn \(e.turn) ⚠ \(e.httpStatus.map { "HTTP \($0): " } ?? "")\(e.reason)")
                case .inputAdded(let e):
                    lines.append("\(when)  follow-up: \(RunDisplay.short(RunStore.task(of: e.input), 100))")
                case .failure(let e):
                    lines.append("\(when)  turn \(e.turn) ✗ \(e.message)")
                case .runResumed(let e):
                    lines.append("\(when)  resumed after turn \(e.turn)")
                case .runFinished(let e):
                    let mark = e.status == .completed ? "✓" : "✗"
                    let detail = e.status == .completed ? RunDisplay.short(e.finalText, 80) : e.message ?? ""
                    let calls = e.toolCallCount ?? 0
                    lines.append(
                        "\(when)  \(mark) \(e.status.rawValue): \(e.turns) turn\(e.turns == 1 ? "" : "s"), \(calls) tool call\(calls == 1 ? "" : "s"), \(e.usage?.totalTokens ?? 0) tokens · \(detail)")
                }
            }
            if case .runFinished? = records.last?.event {} else {
                lines.append("         (no end recorded: the run is going on, or was cut short; --resume \(first.runID) goes on)")
            }
            return lines
        }
    }
}
