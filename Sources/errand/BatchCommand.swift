import ArgumentParser
import ErrandCore
import ErrandMCP
import ErrandSpec
import Foundation
import Logging
import ResponsesAPI
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `errand batch`: many tasks with one spec, in one process, up to N at once.
struct Batch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run many tasks with an agent spec, several at once.",
        discussion: """
            TASKS is a JSON-lines file: one {"id": …, "task": …} a line, with optional per-task "model", "workspace" \
            (relative to the file) and "max_turns". The tasks share one connection pool, one set of MCP servers and the \
            provider's rate limits (a 429 with retry-after holds every task). Each task is journaled in the batch's \
            folder; running the same command again resumes the batch: finished tasks are reported from their journals, \
            interrupted or failed ones go on from where they stopped (no tool call runs twice), the rest start.
            Results are JSON lines, one per task as it finishes, then a summary line (on a terminal without --json: \
            readable lines); a progress line shows on stderr when it is a terminal. Exit codes: 0 every task \
            completed, 1 some did not, 2 bad usage, spec or tasks, 130 interrupted (the next run resumes).
            """
    )

    @Argument(help: "The agent spec (JSON).")
    var spec: String

    @Argument(help: "The tasks (JSON lines).")
    var tasks: String

    @Option(help: "How many tasks run at once (default: 8 for OpenAI, 4 for other providers).")
    var concurrency: Int?

    @Flag(help: "Print JSON lines even when stdout is a terminal.")
    var json = false

    @Option(help: ArgumentHelp("Write the JSON lines to this file instead of stdout (replaced on each run).", valueName: "file"))
    var output: String?

    @Option(help: ArgumentHelp("At most this many requests a minute, over the whole batch.", valueName: "n"))
    var maxRequestsPerMinute: Int?

    @Option(help: ArgumentHelp("At most this many tokens (input and output) a minute, over the whole batch.", valueName: "n"))
    var maxTokensPerMinute: Int?

    @OptionGroup var overrides: OverrideOptions

    @Option(help: ArgumentHelp(
        "A budget in USD over the whole batch: once spent, running tasks stop at their next step (budget_exceeded) and the rest do not start; running the batch again with a larger one goes on.",
        valueName: "usd"))
    var batchMaxCost: Double?

    @Option(help: "Where journals are written (default: ERRAND_JOURNAL_DIR, or .errand/runs); the batch gets a folder under batches/.")
    var journalDir: String?

    @Option(help: ArgumentHelp("The batch's own folder (journals and manifest), instead of one derived from the spec and tasks.", valueName: "dir"))
    var batchDir: String?

    @Flag(help: "Start again the tasks whose line changed since their journal was written (their old journals are kept aside).")
    var restartChanged = false

    @OptionGroup var resumeFlags: ResumeFlags

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if let concurrency, concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
        if let maxRequestsPerMinute, maxRequestsPerMinute < 1 { throw ValidationError("--max-requests-per-minute must be at least 1") }
        if let maxTokensPerMinute, maxTokensPerMinute < 1 { throw ValidationError("--max-tokens-per-minute must be at least 1") }
        if overrides.workspace != nil { throw ValidationError("--workspace is per task in a batch: give it as \"workspace\" on the task's line") }
    }

    func run() async throws {
        let logger = logging.bootstrap()
        let spec = try loadSpec(self.spec)
        let tasksURL = URL(fileURLWithPath: tasks).standardizedFileURL
        var plan: BatchPlan
        do {
            let entries = try BatchTasks.load(tasksURL).entries
            plan = try BatchPlan.prepare(
                spec: spec, specFile: URL(fileURLWithPath: self.spec), tasksFile: tasksURL, entries: entries, overrides: overrides.overrides,
                concurrency: concurrency, rateLimits: RateLimits(maxRequestsPerMinute: maxRequestsPerMinute, maxTokensPerMinute: maxTokensPerMinute),
                journals: FileRunStore.standard(folder: journalDir), folder: batchDir.map { URL(fileURLWithPath: $0) }, restartChanged: restartChanged)
        } catch {
            throw reportFailure(error)
        }
        let sink: OutputSink
        do {
            sink = try OutputSink(path: output)
        } catch {
            printError("errand: cannot write \(output ?? "stdout"): \(error.localizedDescription)")
            throw ExitCode(2)
        }
        let (options, preparedPlan) = (resumeFlags.options, plan)
        let humanReadable = !json && output == nil && isatty(STDOUT_FILENO) == 1
        let progress = BatchProgress(
            total: plan.entries.count, showing: isatty(STDERR_FILENO) == 1, sharesTerminal: output == nil && isatty(STDOUT_FILENO) == 1)
        let started = ContinuousClock.now

        let hardStop = HardStop()
        let outcome = await SignalScope.run(
            notice: "errand: interrupted; stopping the running tasks and writing their journals (Ctrl-C again to quit at once)",
            hardStop: hardStop
        ) { () async throws -> BatchSummary in
            try await spec.withMCPServers(logger: logger) { servers in
                hardStop.register { servers.kill() }
                for line in servers.skipped { printError("errand: \(line)") }
                let batch = try preparedPlan.tasks(mcp: servers)
                if let batchMaxCost, let unpriced = batch.first(where: { $0.agent.price == nil }) {
                    throw ValidationError(ModelCatalog.noPrice(for: "\(unpriced.agent.model) (task \(unpriced.id))", budget: "--batch-max-cost \(batchMaxCost)", alternative: nil))
                }
                return try await ResponsesClient.withClient(
                    provider: preparedPlan.provider, configuration: preparedPlan.clientConfiguration, logger: logger
                ) { client in
                    var runner = Runner(client: client, logger: logger)
                    if let batchMaxCost { runner.sharedBudget = SharedBudget(maxCostUSD: batchMaxCost, name: "the batch's budget") }
                    progress.start()
                    var summary = BatchSummary(total: batch.count)
                    let results = runner.runBatch(batch, concurrency: preparedPlan.concurrency, folder: preparedPlan.folder, options: options) { _, event in
                        progress.observe(event)
                    }
                    for await finished in results {
                        summary.add(finished)
                        progress.finished(finished)
                        let line = humanReadable ? RunText.batchTask(finished) : finished.jsonValue.jsonString
                        progress.writing { sink.write(line + "\n") }
                    }
                    progress.stop()
                    return summary
                }
            }
        }
        var summary: BatchSummary
        do {
            summary = try outcome.result.get()
        } catch {
            throw reportFailure(error, otherwise: outcome.exitCode ?? 1)
        }
        summary.elapsedSeconds = ((ContinuousClock.now - started).seconds * 1000).rounded() / 1000
        sink.write((humanReadable ? RunText.batchSummary(summary, folder: plan.folder) : summary.jsonValue(folder: plan.folder).jsonString) + "\n")
        do {
            try plan.record(summary, interrupted: outcome.signal != nil)
        } catch {
            printError("errand: \(error)")
        }
        if let code = outcome.exitCode {
            printError("errand: the batch was interrupted; run the same command again to resume it")
            throw ExitCode(code)
        }
        if summary.completed < summary.total { throw ExitCode(1) }
    }
}

/// Where the result lines go: stdout, or a file (replaced), written line by line as tasks finish.
final class OutputSink: Sendable {
    private let handle: FileHandle

    init(path: String?) throws {
        guard let path, path != "-" else {
            handle = FileHandle.standardOutput
            return
        }
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: url.path])
        }
        handle = try FileHandle(forWritingTo: url)
    }

    func write(_ text: String) {
        handle.write(Data(text.utf8))
    }
}

/// The progress line on stderr, when it is a terminal: done / running / failed, tokens, elapsed and ETA, redrawn in
/// place a few times a second and cleared around every result line written to the same terminal.
final class BatchProgress: Sendable {
    private struct State {
        var running = 0
        var done = 0
        var failed = 0
        var ranHere = 0
        var tokens = 0
        var shown = false
        var startedAt = ContinuousClock.now
    }

    private let total: Int
    private let showing: Bool
    private let sharesTerminal: Bool
    private let state = Mutex(State())
    private let ticker = Mutex<Task<Void, Never>?>(nil)

    init(total: Int, showing: Bool, sharesTerminal: Bool) {
        self.total = total
        self.showing = showing
        self.sharesTerminal = sharesTerminal
    }

    func start() {
        guard showing else { return }
        state.withLock { $0.startedAt = .now }
        ticker.withLock { task in
            task = Task { [self] in
                while !Task.isCancelled {
                    draw()
                    try? await Task.sleep(for: .milliseconds(250))
                }
            }
        }
    }

    func stop() {
        ticker.withLock { $0?.cancel() }
        clear()
    }

    func observe(_ event: RunEvent) {
        guard showing else { return }
        switch event {
        case .runStarted: state.withLock { $0.running += 1 }
        case .turnFinished(_, _, let usage?, _): state.withLock { $0.tokens += usage.totalTokens }
        default: break
        }
    }

    func finished(_ result: BatchResult) {
        guard showing else { return }
        state.withLock { state in
            state.done += 1
            if result.origin != .journaled {
                state.running = max(0, state.running - 1)
                state.ranHere += 1
            }
            if result.result.status != .completed { state.failed += 1 }
        }
    }

    /// Runs `write` (a line to stdout) with the progress line out of its way.
    func writing(_ write: () -> Void) {
        guard showing, sharesTerminal else { return write() }
        clear()
        write()
        draw()
    }

    private func draw() {
        let line = state.withLock { state -> String in
            state.shown = true
            let elapsed = ContinuousClock.now - state.startedAt
            var parts = ["\(state.done)/\(total) done", "\(state.running) running", "\(state.failed) not completed", "\(RunText.tokens(state.tokens)) tokens", RunText.clock(elapsed)]
            if state.ranHere > 0, state.done < total {
                let each = elapsed / state.ranHere
                parts.append("ETA \(RunText.clock(each * (total - state.done)))")
            }
            return "\r" + parts.joined(separator: " · ") + "\u{1B}[K"
        }
        FileHandle.standardError.write(Data(line.utf8))
    }

    private func clear() {
        let was = state.withLock { state -> Bool in
            defer { state.shown = false }
            return state.shown
        }
        if was { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

}
