import ArgumentParser
import ErrandCore
import ErrandQueue
import Foundation
import Logging
import ResponsesAPI
import Synchronization
import UnixSignals

/// `--database URL` (or `ERRAND_DATABASE_URL`): the PostgreSQL database of the queue and its journals.
struct DatabaseOption: ParsableArguments {
    @Option(help: ArgumentHelp("The PostgreSQL database, postgresql://USER:PASSWORD@HOST:PORT/DATABASE (default: ERRAND_DATABASE_URL).", valueName: "url"))
    var database: String?

    /// The URL given, by flag or environment.
    var text: String? { database ?? ProcessInfo.processInfo.environment["ERRAND_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 } }

    /// Whether a database was named by the flag (the environment alone does not make `run` journal there).
    var given: Bool { database != nil }

    /// Connects (checking the schema unless `checkSchema` is false), runs `body`, and disconnects; a database that
    /// cannot be used is said in one line and exits 1 (2 for a URL that cannot be read).
    func with<R: Sendable>(
        required: Bool = true, checkSchema: Bool = true, maxConnections: Int = 4, _ body: @escaping @Sendable (QueueDatabase) async throws -> R
    ) async throws -> R {
        guard let text else {
            throw ValidationError("name the database with --database postgresql://USER:PASSWORD@HOST:PORT/DATABASE or ERRAND_DATABASE_URL")
        }
        do {
            let url = try DatabaseURL(text)
            return try await QueueDatabase.with(url, maxConnections: maxConnections, logger: Logger(label: "errand.queue")) { database in
                if checkSchema { try await QueueSchema.check(database) }
                return try await body(database)
            }
        } catch let error as QueueError {
            printError("errand: \(error)")
            throw ExitCode(error.kind == .invalidURL ? 2 : 1)
        }
    }

    /// `body` with the run store: the database's when `--database` is given, else the journal folder.
    func withStore<R: Sendable>(journalDir: String?, _ body: @escaping @Sendable (any RunStore) async throws -> R) async throws -> R {
        guard given else { return try await body(FileRunStore.standard(folder: journalDir)) }
        return try await with { database in try await body(PostgresRunStore(database: database)) }
    }
}

/// `--queue NAME`.
struct QueueOption: ParsableArguments {
    @Option(help: "The queue (default: default).")
    var queue: String = "default"
}

/// Says a queue error in one line and exits 1 (2 for a refused request's bad input).
func failQueue(_ error: any Error) -> ExitCode {
    printError("errand: \(error)")
    if let error = error as? QueueError { return ExitCode(error.kind == .refused || error.kind == .notFound || error.kind == .invalidURL ? 2 : 1) }
    return ExitCode(1)
}

/// `errand queue`: the queue's schema and the operator's views.
struct Queue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the queue's database schema, and see and steer its tasks.",
        discussion: "Tasks go in with `errand submit`; `errand worker` processes on any number of machines run them.",
        subcommands: [Init.self, Status.self, Tasks.self, Cancel.self, Retry.self]
    )

    /// `errand queue init`.
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or upgrade the queue's schema (versioned migrations), and set a queue's shared limits.")

        @OptionGroup var database: DatabaseOption
        @OptionGroup var queue: QueueOption

        @Option(help: "The most tasks of the queue running at once, over all workers.")
        var maxConcurrency: Int?
        @Option(help: "The most model requests a minute, over all workers.")
        var requestsPerMinute: Int?
        @Option(help: "The most tokens a minute, over all workers.")
        var tokensPerMinute: Int?

        func validate() throws {
            for (name, value) in [("--max-concurrency", maxConcurrency), ("--requests-per-minute", requestsPerMinute), ("--tokens-per-minute", tokensPerMinute)] {
                if let value, value < 1 { throw ValidationError("\(name) must be at least 1") }
            }
        }

        func run() async throws {
            let (name, limits) = (queue.queue, (maxConcurrency, requestsPerMinute, tokensPerMinute))
            let url = database.text ?? ""
            let versions = try await database.with(checkSchema: false) { database in
                let versions = try await TaskQueue.initialize(database)
                try await TaskQueue(database: database, name: name).configure(
                    maxConcurrency: limits.0, requestsPerMinute: limits.1, tokensPerMinute: limits.2)
                return versions
            }
            let where_ = (try? DatabaseURL(url)).map { "\($0)" } ?? "the database"
            if versions.from == versions.to {
                printError("errand: \(where_) already has the queue's schema (version \(versions.to)); queue '\(name)' is ready")
            } else {
                printError("errand: \(where_): schema version \(versions.from) → \(versions.to); queue '\(name)' is ready")
            }
        }
    }

    /// `errand queue status`.
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Counts by state, live workers and their leases, throughput, the oldest waiting task.")

        @OptionGroup var database: DatabaseOption
        @OptionGroup var queue: QueueOption
        @Flag(help: "Print one JSON object.")
        var json = false

        func run() async throws {
            let name = queue.queue
            let status = try await database.with { database in try await TaskQueue(database: database, name: name).status() }
            let now = Date()
            if json {
                let workers: [JSONValue] = status.workers.map { worker in
                    [
                        "name": .string(worker.name), "host": worker.host.map(JSONValue.string) ?? .null, "concurrency": .number(Double(worker.concurrency)),
                        "running": .number(Double(worker.running)), "heartbeat_age_seconds": .number((now.timeIntervalSince(worker.heartbeat) * 10).rounded() / 10),
                        "next_lease_expiry_seconds": worker.nextLeaseExpiry.map { .number(($0.timeIntervalSince(now) * 10).rounded() / 10) } ?? .null,
                    ]
                }
                var counts: [String: JSONValue] = [:]
                for state in ["queued", "running", "completed", "failed", "cancelled"] { counts[state] = .number(Double(status.counts[state] ?? 0)) }
                let value: JSONValue = [
                    "queue": .string(name), "tasks": .object(counts), "workers": .array(workers),
                    "finished_last_minute": .number(Double(status.finishedLastMinute)),
                    "finished_last_10_minutes": .number(Double(status.finishedLastTenMinutes)),
                    "oldest_waiting_seconds": status.oldestWaiting.map { .number(now.timeIntervalSince($0).rounded()) } ?? .null,
                    "max_concurrency": status.maxConcurrency.map { .number(Double($0)) } ?? .null,
                ]
                writeOut(value.jsonString + "\n")
                return
            }
            let states = ["queued", "running", "completed", "failed", "cancelled"].map { "\(status.counts[$0] ?? 0) \($0)" }.joined(separator: " · ")
            writeOut("queue \(name): \(states)\(status.maxConcurrency.map { " · at most \($0) at once" } ?? "")\n")
            writeOut("throughput: \(status.finishedLastMinute) finished in the last minute, \(status.finishedLastTenMinutes) in the last 10\n")
            if let oldest = status.oldestWaiting { writeOut("oldest waiting task: submitted \(Int(now.timeIntervalSince(oldest)))s ago\n") }
            if status.workers.isEmpty {
                writeOut("no live workers (start one with: errand worker --database URL)\n")
            }
            for worker in status.workers {
                let lease = worker.nextLeaseExpiry.map { " · next lease ends in \(String(format: "%.0f", $0.timeIntervalSince(now)))s" } ?? ""
                writeOut("worker \(worker.name): \(worker.running)/\(worker.concurrency) running · heartbeat \(String(format: "%.1f", now.timeIntervalSince(worker.heartbeat)))s ago\(lease)\n")
            }
        }
    }

    /// `errand queue tasks`.
    struct Tasks: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the queue's tasks, oldest first.")

        @OptionGroup var database: DatabaseOption
        @OptionGroup var queue: QueueOption
        @Option(help: "Only tasks in this state: queued, running, completed, failed or cancelled.")
        var state: String?
        @Option(help: "Only the tasks of this batch.")
        var batch: String?
        @Option(help: "At most this many.")
        var limit: Int = 1000
        @Flag(help: "Print one JSON object per task, one a line.")
        var json = false

        func run() async throws {
            let (name, state, batch, limit) = (queue.queue, state, batch, limit)
            let rows: [TaskQueue.TaskRow]
            do {
                rows = try await database.with { database in try await TaskQueue(database: database, name: name).tasks(state: state, batch: batch, limit: limit) }
            } catch let error as QueueError {
                throw failQueue(error)
            }
            if json {
                for row in rows {
                    let value: JSONValue = [
                        "id": .number(Double(row.id)), "batch": .string(row.batch), "task_id": .string(row.taskID), "state": .string(row.state),
                        "status": row.status.map(JSONValue.string) ?? .null, "attempts": .number(Double(row.attempts)),
                        "worker": row.worker.map(JSONValue.string) ?? .null, "run_id": .string(row.runID), "error": row.error.map(JSONValue.string) ?? .null,
                        "submitted": .number(row.submitted.timeIntervalSince1970.rounded()),
                    ]
                    writeOut(value.jsonString + "\n")
                }
                return
            }
            guard !rows.isEmpty else {
                printError("errand: no tasks\(state.map { " \($0)" } ?? "") in queue \(name)")
                return
            }
            let table = [["ID", "BATCH", "TASK", "STATE", "STATUS", "TRIES", "WORKER", "ERROR"]] + rows.map { row in
                ["\(row.id)", row.batch, row.taskID, row.state, row.status ?? "", "\(row.attempts)", row.worker ?? "", RunText.short(row.error ?? "", 60)]
            }
            let widths = table[0].indices.map { column in table.map { $0[column].count }.max() ?? 0 }
            for row in table {
                writeOut(row.enumerated().map { index, cell in index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0) }
                    .joined(separator: "  ") + "\n")
            }
        }
    }

    /// `errand queue cancel`.
    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a task (a running one at its next step, its background response cancelled on the server), or a batch's unfinished tasks.")

        @Argument(help: "The task's id (from errand queue tasks).")
        var id: Int64?
        @Option(help: "Cancel every unfinished task of this batch.")
        var batch: String?
        @OptionGroup var database: DatabaseOption
        @OptionGroup var queue: QueueOption

        func validate() throws {
            if (id == nil) == (batch == nil) { throw ValidationError("name a task id or --batch NAME") }
        }

        func run() async throws {
            let (name, id, batch) = (queue.queue, id, batch)
            do {
                let said = try await database.with { database -> String in
                    let queue = TaskQueue(database: database, name: name)
                    if let id {
                        switch try await queue.cancel(task: id) {
                        case .cancelled: return "task \(id) cancelled"
                        case .requested: return "task \(id) is running; its worker cancels it at its next step"
                        }
                    }
                    let (cancelled, requested) = try await queue.cancel(batch: batch ?? "")
                    return "batch \(batch ?? ""): \(cancelled) waiting tasks cancelled, \(requested) running tasks asked to stop"
                }
                printError("errand: \(said)")
            } catch let error as QueueError {
                throw failQueue(error)
            }
        }
    }

    /// `errand queue retry`.
    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue a failed or cancelled task again (it resumes from its journal), or every failed task.")

        @Argument(help: "The task's id (from errand queue tasks).")
        var id: Int64?
        @Flag(help: "Retry every failed task of the queue (of --batch only, when given).")
        var failed = false
        @Option(help: "With --failed: only this batch's.")
        var batch: String?
        @OptionGroup var database: DatabaseOption
        @OptionGroup var queue: QueueOption

        func validate() throws {
            if (id == nil) == !failed { throw ValidationError("name a task id or --failed") }
            if batch != nil, !failed { throw ValidationError("--batch goes with --failed") }
        }

        func run() async throws {
            let (name, id, batch) = (queue.queue, id, batch)
            do {
                let said = try await database.with { database -> String in
                    let queue = TaskQueue(database: database, name: name)
                    if let id {
                        try await queue.retry(task: id)
                        return "task \(id) queued again"
                    }
                    return "\(try await queue.retryFailed(batch: batch)) failed tasks queued again"
                }
                printError("errand: \(said)")
            } catch let error as QueueError {
                throw failQueue(error)
            }
        }
    }
}

/// `errand submit SPEC TASKS.jsonl`.
struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put a batch of tasks on the queue for workers to run.",
        discussion: """
            The spec is stored self-contained (instructions and command manifests inlined); its workspace and each task's \
            are named relative to the current folder, and each worker finds them under its --workspace-root. Submitting \
            the same file again adds only new tasks; a changed task is refused unless --restart-changed.
            """
    )

    @Argument(help: "The agent spec (JSON).")
    var spec: String
    @Argument(help: "The tasks, one JSON object a line: {\"id\": …, \"task\": …} (as errand batch reads them).")
    var tasks: String
    @OptionGroup var database: DatabaseOption
    @OptionGroup var queue: QueueOption
    @Option(help: "Higher runs first (default 0).")
    var priority: Int = 0
    @Option(help: "The batch's name (default: the spec's name and the tasks file's).")
    var batch: String?
    @Flag(help: "Run changed tasks again from the start instead of refusing them.")
    var restartChanged = false
    @OptionGroup var budget: BudgetOptions

    func run() async throws {
        let submission: Submission
        do {
            submission = try Submission.prepare(
                specFile: URL(fileURLWithPath: spec), tasksFile: URL(fileURLWithPath: tasks), batch: batch, maxTotalTokens: budget.maxTokens,
                maxCostUSD: budget.maxCost)
        } catch {
            throw failQueue(error)
        }
        let (name, priority, restart) = (queue.queue, priority, restartChanged)
        do {
            let report = try await database.with { database in
                try await TaskQueue(database: database, name: name).submit(submission, priority: priority, restartChanged: restart)
            }
            var parts = ["\(report.added) added"]
            if report.unchanged > 0 { parts.append("\(report.unchanged) already queued unchanged") }
            if !report.restarted.isEmpty { parts.append("\(report.restarted.count) changed, restarted: \(report.restarted.joined(separator: ", "))") }
            printError("errand: batch \(report.batch) in queue \(name): \(parts.joined(separator: ", "))")
            writeOut(report.batch + "\n")
        } catch let error as QueueError {
            throw failQueue(error)
        }
    }
}

/// `errand results BATCH`.
struct Results: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A batch's results from the queue: the JSON lines errand batch prints, one a finished task.")

    @Argument(help: "The batch's name (errand submit prints it).")
    var batch: String
    @OptionGroup var database: DatabaseOption
    @Flag(help: "Print the JSON lines (the default prints a table).")
    var json = false

    func run() async throws {
        let batch = batch
        let (lines, unfinished): ([JSONValue], Int)
        do {
            (lines, unfinished) = try await database.with { database in try await TaskQueue(database: database).results(batch: batch) }
        } catch let error as QueueError {
            throw failQueue(error)
        }
        if json {
            for line in lines { writeOut(line.jsonString + "\n") }
        } else {
            for line in lines {
                let text = RunText.short(line["output_text"]?.stringValue ?? line["error"]?.stringValue ?? "", 80)
                writeOut("\(line["id"]?.stringValue ?? "?")  \(line["status"]?.stringValue ?? "?")  \(text)\n")
            }
        }
        if unfinished > 0 { printError("errand: \(unfinished) tasks of \(batch) have not finished yet") }
    }
}

/// `errand worker`.
struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the queue's tasks: claim them with leases, journal every step in the database, resume what others left.",
        discussion: """
            SIGTERM or Ctrl-C stops claiming, lets each run reach a step boundary, gives its tasks back for other workers \
            to resume at once, and exits 143 (130); a second signal exits at once and the leases simply expire.
            """
    )

    @OptionGroup var database: DatabaseOption
    @OptionGroup var queue: QueueOption
    @Option(help: "How many tasks this worker runs at once.")
    var concurrency: Int = 4
    @Option(help: "How long a claim holds without a heartbeat, in seconds (renewed every third of it).")
    var leaseSeconds: Int = 30
    @Option(help: "On SIGTERM, how long runs may take to reach a step boundary before they are cancelled, in seconds.")
    var graceSeconds: Int = 30
    @Option(help: "This worker's name (default: host-pid).")
    var name: String?
    @Option(help: "The folder under which submitted workspaces are found (default: the current folder).")
    var workspaceRoot: String?
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if concurrency < 1 || concurrency > 1000 { throw ValidationError("--concurrency must be between 1 and 1000") }
        if leaseSeconds < 3 || leaseSeconds > 86400 { throw ValidationError("--lease-seconds must be between 3 and 86400") }
        if graceSeconds < 0 || graceSeconds > 86400 { throw ValidationError("--grace-seconds must be between 0 and 86400") }
    }

    func run() async throws {
        let logger = logging.bootstrap(quietLevel: .notice)
        var configuration = QueueWorker.Configuration()
        configuration.queue = queue.queue
        configuration.concurrency = concurrency
        configuration.lease = .seconds(leaseSeconds)
        configuration.grace = .seconds(graceSeconds)
        if let name { configuration.name = name }
        if let workspaceRoot { configuration.workspaceRoot = URL(fileURLWithPath: workspaceRoot).standardizedFileURL }
        let stop = WorkerStop()
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let received = SignalBox()
        let listener = Task {
            for await signal in signals {
                if let first = received.first(signal) {
                    printError("errand: stopping at once; the leases of unfinished tasks will expire")
                    Foundation.exit(SignalScope.exitCode(first))
                }
                printError("errand: \(signal == .sigterm ? "SIGTERM" : "interrupted"): no more claims; runs stop at their next step and go back to the queue (again to stop at once)")
                stop.graceful()
            }
        }
        let settings = configuration
        let name = configuration.name
        do {
            try await database.with(maxConnections: min(concurrency, 16) + 3) { database in
                let worker = QueueWorker(queue: TaskQueue(database: database, name: settings.queue), configuration: settings, logger: logger)
                printError("errand: worker \(name) serving queue \(settings.queue) at \(database.url), \(settings.concurrency) at once")
                try await worker.run(until: stop)
                printError("errand: worker \(name) stopped after finishing \(worker.finished) tasks")
            }
        } catch let error as QueueError {
            listener.cancel()
            throw failQueue(error)
        }
        listener.cancel()
        if let signal = received.signal { throw ExitCode(SignalScope.exitCode(signal)) }
    }
}

/// The first signal a command received.
final class SignalBox: Sendable {
    private let state = Synchronization.Mutex<UnixSignal?>(nil)

    /// Records `signal`; returns the earlier one when this is the second.
    func first(_ signal: UnixSignal) -> UnixSignal? {
        state.withLock { seen in
            defer { seen = seen ?? signal }
            return seen
        }
    }

    var signal: UnixSignal? { state.withLock { $0 } }
}
