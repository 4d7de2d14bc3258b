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
        let environment = ProcessInfo.processInfo.environment
        let tasksURL = URL(fileURLWithPath: tasks).standardizedFileURL
        let entries: [BatchTasks.Entry]
        do {
            entries = try BatchTasks.load(tasksURL).entries
        } catch {
            printError(error.description)
            throw ExitCode(2)
        }
        let provider: Provider
        do {
            provider = try spec.provider(overrides: overrides.overrides, environment: environment)
        } catch {
            printError("errand: \(error.message)")
            throw ExitCode(2)
        }
        let folder = batchDir.map { URL(fileURLWithPath: $0).standardizedFileURL }
            ?? BatchManifest.folder(
                journals: RunStore.standard(folder: journalDir, environment: environment).folder, spec: URL(fileURLWithPath: self.spec), tasks: tasksURL)
        var manifest: BatchManifest
        do {
            manifest = try BatchManifest.prepare(
                folder: folder, spec: URL(fileURLWithPath: self.spec).standardizedFileURL, tasks: tasksURL, entries: entries,
                restartChanged: restartChanged)
        } catch {
            printError("errand: \(error.message)")
            throw ExitCode(2)
        }
        let sink: OutputSink
        do {
            sink = try OutputSink(path: output)
        } catch {
            printError("errand: cannot write \(output ?? "stdout"): \(error.localizedDescription)")
            throw ExitCode(2)
        }
        let concurrency = self.concurrency ?? provider.suggestedConcurrency
        var configuration = ResponsesClientConfiguration()
        configuration.maxConnectionsPerHost = concurrency
        configuration.rateLimits = RateLimits(maxRequestsPerMinute: maxRequestsPerMinute, maxTokensPerMinute: maxTokensPerMinute)
        let clientConfiguration = configuration
        let options = resumeFlags.options
        let overrides = self.overrides.overrides
        let humanReadable = !json && output == nil && isatty(STDOUT_FILENO) == 1
        let progress = BatchProgress(
            total: entries.count, showing: isatty(STDERR_FILENO) == 1, sharesTerminal: output == nil && isatty(STDOUT_FILENO) == 1)
        let started = ContinuousClock.now

        let hardStop = HardStop()
        let outcome = await SignalScope.run(
            notice: "errand: interrupted; stopping the running tasks and writing their journals (Ctrl-C again to quit at once)",
            hardStop: hardStop
        ) { () async throws -> BatchTally in
            try await spec.withMCPServers(logger: logger) { servers in
                hardStop.register { servers.kill() }
                for line in servers.skipped { printError("errand: \(line)") }
                var batch: [BatchTask] = []
                for entry in entries {
                    var taskOverrides = overrides
                    if let model = entry.model { taskOverrides.model = model }
                    if let maxTurns = entry.maxTurns { taskOverrides.maxTurns = maxTurns }
                    if let workspace = entry.workspace { taskOverrides.workspace = workspace }
                    do {
                        let agent = try spec.agent(overrides: taskOverrides, environment: environment, mcp: servers)
                        batch.append(BatchTask(id: entry.id, agent: agent, input: .text(entry.task)))
                    } catch {
                        throw SetupError(message: "task '\(entry.id)': \(error)")
                    }
                }
                return try await ResponsesClient.withClient(provider: provider, configuration: clientConfiguration, logger: logger) { client in
                    let runner = Runner(client: client, logger: logger)
                    progress.start()
                    var tally = BatchTally()
                    let results = runner.runBatch(batch, concurrency: concurrency, folder: folder, options: options) { _, event in
                        progress.observe(event)
                    }
                    for await finished in results {
                        tally.add(finished)
                        progress.finished(finished)
                        let line = humanReadable ? BatchLines.readable(finished) : BatchLines.json(finished).jsonString
                        progress.writing { sink.write(line + "\n") }
                    }
                    progress.stop()
                    return tally
                }
            }
        }
        let tally: BatchTally
        do {
            tally = try outcome.result.get()
        } catch let error as SetupError {
            printError("errand: \(error.message)")
            throw ExitCode(2)
        } catch {
            printError("errand: \(error)")
            throw ExitCode(outcome.exitCode ?? 1)
        }
        let elapsed = ContinuousClock.now - started
        let summary = tally.summary(total: entries.count, elapsed: elapsed, folder: folder)
        sink.write((humanReadable ? BatchLines.readable(summary: tally, total: entries.count, elapsed: elapsed, folder: folder) : summary.jsonString) + "\n")
        manifest.record(tally: tally, total: entries.count, elapsed: elapsed, interrupted: outcome.signal != nil)
        try? manifest.write()
        if let code = outcome.exitCode {
            printError("errand: the batch was interrupted; run the same command again to resume it")
            throw ExitCode(code)
        }
        if tally.completed < entries.count { throw ExitCode(1) }
    }

    /// A spec or task that cannot become an agent: exit 2.
    private struct SetupError: Error {
        var message: String
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

/// What a batch has done so far.
struct BatchTally: Sendable {
    var byStatus: [RunResult.Status: Int] = [:]
    var byOrigin: [BatchResult.Origin: Int] = [:]
    var usage = Usage()
    var toolCalls = 0
    var finished = 0

    var completed: Int { byStatus[.completed] ?? 0 }

    mutating func add(_ result: BatchResult) {
        finished += 1
        byStatus[result.result.status, default: 0] += 1
        byOrigin[result.origin, default: 0] += 1
        usage = usage + result.result.usage
        toolCalls += result.result.toolCalls.count
    }

    /// The summary line.
    func summary(total: Int, elapsed: Duration, folder: URL) -> JSONValue {
        var statuses: [String: JSONValue] = [:]
        for status in [RunResult.Status.completed, .failed, .maxTurns, .maxToolCalls, .timedOut, .cancelled] {
            statuses[status.rawValue] = .number(Double(byStatus[status] ?? 0))
        }
        return [
            "type": "summary", "tasks": .number(Double(total)), "finished": .number(Double(finished)),
            "not_run": .number(Double(total - finished)), "statuses": .object(statuses),
            "started": .number(Double(byOrigin[.started] ?? 0)), "resumed": .number(Double(byOrigin[.resumed] ?? 0)),
            "journaled": .number(Double(byOrigin[.journaled] ?? 0)), "tool_calls": .number(Double(toolCalls)),
            "usage": usage.jsonValue, "elapsed_seconds": .number(elapsed.seconds.rounded(toPlaces: 3)), "batch": .string(folder.path),
        ]
    }
}

/// The lines a batch prints per task.
enum BatchLines {
    /// One task's JSON line: id, status, output_text, turns, tool_calls (a count, and tool_errors), usage, run_id,
    /// error, incomplete_reason, journal and origin (started, resumed or journaled).
    static func json(_ finished: BatchResult) -> JSONValue {
        let result = finished.result
        return [
            "type": "task", "id": .string(finished.id), "status": .string(result.status.rawValue), "output_text": .string(result.finalText),
            "turns": .number(Double(result.turns)), "tool_calls": .number(Double(result.toolCalls.count)),
            "tool_errors": .number(Double(result.toolCalls.filter(\.isError).count)), "usage": result.usage.jsonValue,
            "run_id": .string(result.runID), "error": result.error.map(JSONValue.string) ?? .null,
            "incomplete_reason": result.incompleteReason.map(JSONValue.string) ?? .null,
            "journal": result.journal.map { .string($0.path) } ?? .null, "origin": .string(finished.origin.rawValue),
        ]
    }

    /// One task as a readable line.
    static func readable(_ finished: BatchResult) -> String {
        let result = finished.result
        let mark = result.status == .completed ? "✓" : "✗"
        let facts = "\(result.turns) turn\(result.turns == 1 ? "" : "s"), \(result.toolCalls.count) tool call\(result.toolCalls.count == 1 ? "" : "s"), \(result.usage.totalTokens) tokens"
        let origin = finished.origin == .started ? "" : " (\(finished.origin.rawValue))"
        let text = result.status == .completed ? RunDisplay.short(result.finalText, 100) : (result.error ?? "")
        return "\(mark) \(finished.id) \(result.status.rawValue)\(origin): \(facts) · \(text)"
    }

    /// The summary as a readable line.
    static func readable(summary tally: BatchTally, total: Int, elapsed: Duration, folder: URL) -> String {
        let others = tally.byStatus.filter { $0.key != .completed && $0.value > 0 }.sorted { $0.key.rawValue < $1.key.rawValue }
            .map { "\($0.value) \($0.key.rawValue)" }
        let notRun = total - tally.finished > 0 ? ["\(total - tally.finished) not run"] : []
        let parts = (["\(tally.completed) completed"] + others + notRun).joined(separator: ", ")
        return "\(total) tasks: \(parts) · \(tally.usage.totalTokens) tokens · \(BatchProgress.clock(elapsed)) · journals in \(RunDisplay.relative(folder.path))"
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
        case .turnFinished(_, _, let usage?): state.withLock { $0.tokens += usage.totalTokens }
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
            var parts = ["\(state.done)/\(total) done", "\(state.running) running", "\(state.failed) not completed", "\(Self.tokens(state.tokens)) tokens", Self.clock(elapsed)]
            if state.ranHere > 0, state.done < total {
                let each = elapsed / state.ranHere
                parts.append("ETA \(Self.clock(each * (total - state.done)))")
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

    static func tokens(_ count: Int) -> String {
        count < 10_000 ? "\(count)" : count < 1_000_000 ? String(format: "%.1fk", Double(count) / 1000) : String(format: "%.2fM", Double(count) / 1_000_000)
    }

    static func clock(_ duration: Duration) -> String {
        let seconds = Int(duration.seconds.rounded())
        return seconds < 3600 ? String(format: "%d:%02d", seconds / 60, seconds % 60) : String(format: "%d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60)
    }
}

/// The batch's manifest, `batch.json` in its folder: which spec and tasks file it is for, each task's line digest (to
/// notice a task that changed since its journal was written), and how each run of the batch ended.
struct BatchManifest {
    struct Problem: Error {
        var message: String
    }

    var url: URL
    var object: [String: JSONValue]

    /// The folder of the batch that runs `tasks` with `spec`: `<journals>/batches/<tasks name>-<digest of both paths>`.
    static func folder(journals: URL, spec: URL, tasks: URL) -> URL {
        let key = spec.standardizedFileURL.path + "\n" + tasks.path
        let digest = StableDigest.hex(key.utf8).prefix(8)
        let name = tasks.deletingPathExtension().lastPathComponent
        return journals.appendingPathComponent("batches").appendingPathComponent("\(Runner.journalName(forTask: name))-\(digest)")
    }

    static func digest(_ entry: BatchTasks.Entry) -> String {
        let fields: [JSONValue] = [
            .string(entry.task), entry.model.map(JSONValue.string) ?? .null, entry.workspace.map { .string($0.path) } ?? .null,
            entry.maxTurns.map { .number(Double($0)) } ?? .null,
        ]
        return StableDigest.hex(JSONValue.array(fields).jsonString.utf8)
    }

    /// Makes the folder, reads the manifest of an earlier run if there is one, checks that no task with a journal
    /// changed (or sets its journal aside, with `restartChanged`), and writes the manifest for this run.
    static func prepare(folder: URL, spec: URL, tasks: URL, entries: [BatchTasks.Entry], restartChanged: Bool) throws(Problem) -> BatchManifest {
        let url = folder.appendingPathComponent("batch.json")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw Problem(message: "cannot make the batch folder \(folder.path): \(error.localizedDescription)")
        }
        var object: [String: JSONValue] = [:]
        if FileManager.default.fileExists(atPath: url.path) {
            guard let data = try? Data(contentsOf: url), let value = try? JSONValue(parsing: data), let existing = value.objectValue else {
                throw Problem(message: "\(url.path) is not a batch manifest; remove it or choose another --batch-dir")
            }
            object = existing
        }
        let known = object["tasks"]?.objectValue ?? [:]
        var changed: [String] = []
        var digests: [String: JSONValue] = [:]
        for entry in entries {
            let digest = digest(entry)
            digests[entry.id] = .string(digest)
            let journal = folder.appendingPathComponent("\(Runner.journalName(forTask: entry.id)).jsonl")
            if let before = known[entry.id]?.stringValue, before != digest, FileManager.default.fileExists(atPath: journal.path) {
                changed.append(entry.id)
                if restartChanged {
                    let aside = folder.appendingPathComponent("\(Runner.journalName(forTask: entry.id)).replaced-\(Int(Date().timeIntervalSince1970)).jsonl.old")
                    do {
                        try FileManager.default.moveItem(at: journal, to: aside)
                    } catch {
                        throw Problem(message: "cannot set aside the journal of task '\(entry.id)': \(error.localizedDescription)")
                    }
                }
            }
        }
        if !changed.isEmpty, !restartChanged {
            let list = changed.prefix(5).map { "'\($0)'" }.joined(separator: ", ") + (changed.count > 5 ? " and \(changed.count - 5) more" : "")
            throw Problem(message: "\(changed.count) task\(changed.count == 1 ? "" : "s") changed since \(changed.count == 1 ? "its journal was" : "their journals were") written (\(list)); rerun with --restart-changed to start \(changed.count == 1 ? "it" : "them") again, or restore the tasks file")
        }
        object["version"] = 1
        object["spec"] = .string(spec.path)
        object["tasks_file"] = .string(tasks.path)
        object["tasks"] = .object(known.merging(digests) { _, new in new })
        var manifest = BatchManifest(url: url, object: object)
        do {
            try manifest.write()
        } catch {
            throw Problem(message: "cannot write \(url.path): \(error.localizedDescription)")
        }
        manifest.object["runs"] = manifest.object["runs"] ?? []
        return manifest
    }

    /// Adds this run's outcome to the manifest's `runs`.
    mutating func record(tally: BatchTally, total: Int, elapsed: Duration, interrupted: Bool) {
        var runs = object["runs"]?.arrayValue ?? []
        runs.append([
            "finished_at": .string(ISO8601DateFormatter().string(from: Date())), "tasks": .number(Double(total)),
            "completed": .number(Double(tally.completed)), "finished": .number(Double(tally.finished)), "interrupted": .bool(interrupted),
            "elapsed_seconds": .number(elapsed.seconds.rounded(toPlaces: 3)),
        ])
        object["runs"] = .array(runs)
    }

    /// Writes the manifest (atomically), readable by its owner only, as the journals beside it are.
    func write() throws {
        try Data((JSONValue.object(object).jsonString + "\n").utf8).write(to: url, options: .atomic)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: url.path)
    }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        let scale = pow(10, Double(places))
        return (self * scale).rounded() / scale
    }
}
