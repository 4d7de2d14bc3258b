import ErrandCore
import Foundation
import Logging
import PostgresNIO
import ResponsesAPI

/// One queue of tasks in the database: submitting, claiming with leases, and what an operator needs (status, tasks,
/// cancel, retry, results). Workers and the CLI both go through it.
public struct TaskQueue: Sendable {
    /// The database.
    public let database: QueueDatabase
    /// The queue's name (`default` unless named).
    public let name: String

    /// How many times a task's lease may expire before it fails instead of being taken again.
    static let maxExpirations = 5

    /// The notification channel workers listen on; its payload is the queue's name.
    static let channel = "errand_tasks"

    /// A queue in `database`.
    public init(database: QueueDatabase, name: String = "default") {
        self.database = database
        self.name = name
    }

    /// Creates or upgrades the schema; returns the version before and after.
    @discardableResult
    public static func initialize(_ database: QueueDatabase) async throws(QueueError) -> (from: Int, to: Int) {
        try await QueueSchema.migrate(database)
    }

    // MARK: Flow control

    /// Sets the queue's limits shared by all its workers: how many tasks run at once over all workers, and requests
    /// and tokens a minute over all of them. `nil` leaves a limit off.
    public func configure(maxConcurrency: Int?, requestsPerMinute: Int?, tokensPerMinute: Int?) async throws(QueueError) {
        _ = try await database.run("setting the queue's limits") { client in
            try await client.query("""
                INSERT INTO errand_queues (name, max_concurrency, requests_per_minute, tokens_per_minute)
                VALUES (\(name), \(maxConcurrency), \(requestsPerMinute), \(tokensPerMinute))
                ON CONFLICT (name) DO UPDATE SET max_concurrency = excluded.max_concurrency,
                    requests_per_minute = excluded.requests_per_minute, tokens_per_minute = excluded.tokens_per_minute
                """)
        }
    }

    // MARK: Submitting

    /// What a submit did.
    public struct SubmitReport: Sendable, Hashable {
        /// The batch.
        public var batch: String
        /// Tasks stored for the first time.
        public var added: Int
        /// Tasks already stored unchanged (left as they are).
        public var unchanged: Int
        /// Changed tasks queued again from the start (`restartChanged`).
        public var restarted: [String]
    }

    /// Stores the spec and the tasks. A task already stored unchanged is left alone (as a batch rerun skips it); a
    /// changed one is refused, naming every changed task, unless `restartChanged`: then it starts again with a run
    /// of its own, and a worker still running it loses its lease.
    public func submit(_ submission: Submission, priority: Int = 0, restartChanged: Bool = false) async throws(QueueError) -> SubmitReport {
        let queue = name
        return try await database.transaction("submitting \(submission.batch)") { connection in
            let logger = database.logger
            try await connection.query(
                "INSERT INTO errand_queues (name) VALUES (\(queue)) ON CONFLICT (name) DO NOTHING", logger: logger)
            try await connection.query("""
                INSERT INTO errand_specs (digest, name, bundle) VALUES (\(submission.specDigest), \(submission.specName), \(submission.bundle.jsonString)::json)
                ON CONFLICT (digest) DO NOTHING
                """, logger: logger)
            var stored: [String: (digest: String, queue: String)] = [:]
            let rows = try await connection.query(
                "SELECT task_id, task_digest, queue FROM errand_tasks WHERE batch = \(submission.batch) FOR UPDATE", logger: logger)
            for try await (id, digest, queue) in rows.decode((String, String, String).self) { stored[id] = (digest, queue) }
            if let other = stored.values.first(where: { $0.queue != queue }) {
                throw QueueError(.refused, "batch \(submission.batch) is in queue '\(other.queue)', not '\(queue)'; submit it there or name another batch with --batch")
            }
            let changed = submission.tasks.filter { stored[$0.id] != nil && stored[$0.id]?.digest != $0.digest }.map(\.id)
            if !changed.isEmpty, !restartChanged {
                let names = changed.prefix(10).joined(separator: ", ") + (changed.count > 10 ? " and \(changed.count - 10) more" : "")
                throw QueueError(
                    .refused,
                    "\(changed.count == 1 ? "task" : "tasks") \(names) of batch \(submission.batch) changed since \(changed.count == 1 ? "it was" : "they were") submitted (the task line or the spec); submit again with --restart-changed to run \(changed.count == 1 ? "it" : "them") from the start, or name another batch with --batch")
            }
            var added = 0
            for task in submission.tasks where stored[task.id] == nil {
                try await connection.query("""
                    INSERT INTO errand_tasks (queue, batch, task_id, run_id, spec_digest, task, task_digest, priority)
                    VALUES (\(queue), \(submission.batch), \(task.id), \(task.runID), \(submission.specDigest), \(task.line.jsonString)::json, \(task.digest), \(priority))
                    """, logger: logger)
                added += 1
            }
            for task in submission.tasks where changed.contains(task.id) {
                try await connection.query("""
                    UPDATE errand_tasks SET run_id = \(task.runID), spec_digest = \(submission.specDigest), task = \(task.line.jsonString)::json,
                        task_digest = \(task.digest), priority = \(priority), state = 'queued', epoch = epoch + 1, worker = NULL, lease_until = NULL,
                        attempts = 0, expirations = 0, cancel_requested = false, status = NULL, result = NULL, error = NULL, started_at = NULL, finished_at = NULL
                    WHERE batch = \(submission.batch) AND task_id = \(task.id)
                    """, logger: logger)
            }
            if added + changed.count > 0 { try await connection.query("SELECT pg_notify(\(Self.channel), \(queue))", logger: logger) }
            return SubmitReport(batch: submission.batch, added: added, unchanged: submission.tasks.count - added - changed.count, restarted: changed)
        }
    }

    // MARK: Claims and leases

    /// A task a worker holds.
    struct Claim: Sendable {
        var lease: PostgresRunStore.Lease
        var runID: String
        var batch: String
        var taskID: String
        var task: JSONValue
        var specDigest: String
        var attempts: Int
    }

    /// Claims up to `limit` waiting tasks (priority, then age; a running task whose lease expired counts as waiting),
    /// each with a lease of `lease` and its epoch raised, within the queue's shared concurrency. Rows another worker
    /// is claiming are skipped, not waited for.
    func claim(worker: String, limit: Int, lease: Duration) async throws(QueueError) -> [Claim] {
        guard limit > 0 else { return [] }
        let queue = name
        let seconds = Double(lease.components.seconds) + Double(lease.components.attoseconds) / 1e18
        return try await database.transaction("claiming tasks") { connection in
            let logger = database.logger
            var slots = limit
            var cap: Int?? = .none
            for try await maximum in try await connection.query(
                "SELECT max_concurrency FROM errand_queues WHERE name = \(queue) FOR UPDATE", logger: logger
            ).decode(Int?.self) { cap = .some(maximum) }
            if case .some(.some(let maximum)) = cap {
                var running = 0
                for try await count in try await connection.query(
                    "SELECT count(*)::int FROM errand_tasks WHERE queue = \(queue) AND state = 'running' AND lease_until > now()", logger: logger
                ).decode(Int.self) { running = count }
                slots = min(slots, maximum - running)
            }
            guard slots > 0 else { return [] }
            // A task whose lease expired that many times (every worker that took it died or hung) is not taken again:
            // it fails, saying so, instead of taking the fleet down one worker at a time.
            try await connection.query("""
                UPDATE errand_tasks SET state = 'failed', status = 'failed', worker = NULL, lease_until = NULL, finished_at = now(),
                    error = 'its lease expired ' || expirations + 1 || ' times: each worker that took it died or stopped answering; '
                        || 'see the workers'' logs, then: errand queue retry ' || id
                WHERE queue = \(queue) AND state = 'running' AND lease_until < now() AND expirations + 1 >= \(Self.maxExpirations)
                """, logger: logger)
            let rows = try await connection.query("""
                UPDATE errand_tasks SET epoch = epoch + 1, worker = \(worker),
                    expirations = expirations + CASE WHEN state = 'running' THEN 1 ELSE 0 END, state = 'running',
                    lease_until = now() + make_interval(secs => \(seconds)), attempts = attempts + 1, started_at = coalesce(started_at, now())
                WHERE id IN (
                    SELECT id FROM errand_tasks
                    WHERE queue = \(queue) AND (state = 'queued' OR (state = 'running' AND lease_until < now()))
                    ORDER BY priority DESC, id LIMIT \(slots) FOR UPDATE SKIP LOCKED)
                RETURNING id, epoch, run_id, batch, task_id, task::text, spec_digest, attempts
                """, logger: logger)
            var claims: [Claim] = []
            for try await (id, epoch, runID, batch, taskID, task, spec, attempts) in rows.decode((Int64, Int64, String, String, String, String, String, Int).self) {
                claims.append(Claim(
                    lease: .init(taskID: id, epoch: epoch, worker: worker), runID: runID, batch: batch, taskID: taskID,
                    task: (try? JSONValue(parsing: task)) ?? .null, specDigest: spec, attempts: attempts))
            }
            return claims.sorted { $0.lease.taskID < $1.lease.taskID }
        }
    }

    /// Extends the leases still held; returns the tasks whose lease is gone and those whose cancellation was asked for.
    func heartbeat(worker: String, leases: [PostgresRunStore.Lease], lease: Duration) async throws(QueueError) -> (lost: Set<Int64>, cancel: Set<Int64>) {
        let seconds = Double(lease.components.seconds) + Double(lease.components.attoseconds) / 1e18
        let queue = name
        return try await database.run("renewing leases") { client in
            try await client.query("UPDATE errand_workers SET heartbeat_at = now(), queue = \(queue) WHERE name = \(worker)")
            guard !leases.isEmpty else { return ([], []) }
            let ids = leases.map(\.taskID)
            let epochs = leases.map(\.epoch)
            var held: Set<Int64> = []
            var cancel: Set<Int64> = []
            let rows = try await client.query("""
                UPDATE errand_tasks t SET lease_until = now() + make_interval(secs => \(seconds))
                FROM unnest(\(ids)::bigint[], \(epochs)::bigint[]) AS h(id, epoch)
                WHERE t.id = h.id AND t.epoch = h.epoch AND t.state = 'running'
                RETURNING t.id, t.cancel_requested
                """)
            for try await (id, cancelled) in rows.decode((Int64, Bool).self) {
                held.insert(id)
                if cancelled { cancel.insert(id) }
            }
            return (Set(ids).subtracting(held), cancel)
        }
    }

    /// Records how a held task ended; `false` when the lease was gone (another worker has it now).
    func finish(_ claim: Claim, state: String, result: RunResult, line: JSONValue) async throws(QueueError) -> Bool {
        let (id, epoch) = (claim.lease.taskID, claim.lease.epoch)
        return try await database.run("recording the end of task \(id)") { client in
            var done = false
            for try await _ in try await client.query("""
                UPDATE errand_tasks SET state = \(state), status = \(result.status.rawValue), result = \(line.jsonString)::json, error = \(result.error),
                    finished_at = now(), worker = NULL, lease_until = NULL
                WHERE id = \(id) AND epoch = \(epoch) AND state = 'running' RETURNING id
                """).decode(Int64.self) { done = true }
            return done
        }
    }

    /// Gives a held task back: it waits again and another worker resumes it from its journal at once.
    func release(_ claim: Claim) async throws(QueueError) {
        let (id, epoch, queue) = (claim.lease.taskID, claim.lease.epoch, name)
        try await database.run("releasing task \(id)") { client in
            try await client.query("""
                UPDATE errand_tasks SET state = 'queued', worker = NULL, lease_until = NULL
                WHERE id = \(id) AND epoch = \(epoch) AND state = 'running'
                """)
            try await client.query("SELECT pg_notify(\(Self.channel), \(queue))")
        }
    }

    // MARK: Operating

    /// What a cancel did.
    public enum CancelOutcome: Sendable, Hashable {
        /// A waiting task, cancelled.
        case cancelled
        /// A running task: its worker cancels it at its next step.
        case requested
    }

    /// Cancels one task: a waiting one at once, a running one at its next step (its background response is
    /// cancelled on the server). A finished task is refused with its state.
    public func cancel(task id: Int64) async throws(QueueError) -> CancelOutcome {
        try await database.transaction("cancelling task \(id)") { connection in
            let logger = database.logger
            switch try await Self.lockedState(of: id, connection, logger: logger) {
            case "queued":
                try await connection.query("UPDATE errand_tasks SET state = 'cancelled', finished_at = now() WHERE id = \(id)", logger: logger)
                return .cancelled
            case "running":
                try await connection.query("UPDATE errand_tasks SET cancel_requested = true WHERE id = \(id)", logger: logger)
                return .requested
            case let state:
                throw QueueError(.refused, "task \(id) is already \(state); there is nothing to cancel")
            }
        }
    }

    /// Cancels every unfinished task of a batch; returns how many were cancelled at once and how many asked to stop.
    public func cancel(batch: String) async throws(QueueError) -> (cancelled: Int, requested: Int) {
        try await database.transaction("cancelling batch \(batch)") { connection in
            let logger = database.logger
            var counts = (0, 0)
            for try await count in try await connection.query(
                "WITH c AS (UPDATE errand_tasks SET state = 'cancelled', finished_at = now() WHERE batch = \(batch) AND state = 'queued' RETURNING 1) SELECT count(*)::int FROM c",
                logger: logger
            ).decode(Int.self) { counts.0 = count }
            for try await count in try await connection.query(
                "WITH c AS (UPDATE errand_tasks SET cancel_requested = true WHERE batch = \(batch) AND state = 'running' RETURNING 1) SELECT count(*)::int FROM c",
                logger: logger
            ).decode(Int.self) { counts.1 = count }
            if counts == (0, 0) {
                var exists = false
                for try await _ in try await connection.query("SELECT 1 FROM errand_tasks WHERE batch = \(batch) LIMIT 1", logger: logger).decode(Int.self) {
                    exists = true
                }
                if !exists { throw QueueError(.notFound, "there is no batch '\(batch)'") }
            }
            return counts
        }
    }

    /// The task's state, its row locked until the transaction ends; a task that is not there is an error that says
    /// where to look.
    private static func lockedState(of id: Int64, _ connection: PostgresConnection, logger: Logger) async throws -> String {
        for try await state in try await connection.query("SELECT state FROM errand_tasks WHERE id = \(id) FOR UPDATE", logger: logger).decode(String.self) {
            return state
        }
        throw QueueError(.notFound, "there is no task \(id); list them with: errand queue tasks")
    }

    /// Queues a failed or cancelled task again; it resumes from its journal (a run that failed is taken up where it stopped).
    public func retry(task id: Int64) async throws(QueueError) {
        let queue = name
        try await database.transaction("retrying task \(id)") { connection in
            let logger = database.logger
            switch try await Self.lockedState(of: id, connection, logger: logger) {
            case "failed", "cancelled":
                try await connection.query("""
                    UPDATE errand_tasks SET state = 'queued', cancel_requested = false, status = NULL, result = NULL, error = NULL, finished_at = NULL,
                        expirations = 0
                    WHERE id = \(id)
                    """, logger: logger)
                try await connection.query("SELECT pg_notify(\(Self.channel), \(queue))", logger: logger)
            case let state:
                throw QueueError(.refused, "task \(id) is \(state); only a failed or cancelled task is retried")
            }
        }
    }

    /// Queues every failed task of the queue (of `batch` only, when given) again; returns how many.
    public func retryFailed(batch: String? = nil) async throws(QueueError) -> Int {
        let queue = name
        return try await database.run("retrying failed tasks") { client in
            var count = 0
            for try await n in try await client.query("""
                WITH r AS (
                    UPDATE errand_tasks SET state = 'queued', cancel_requested = false, status = NULL, result = NULL, error = NULL, finished_at = NULL,
                        expirations = 0
                    WHERE queue = \(queue) AND state = 'failed' AND (\(batch)::text IS NULL OR batch = \(batch)) RETURNING 1)
                SELECT count(*)::int FROM r
                """).decode(Int.self) { count = n }
            if count > 0 { try await client.query("SELECT pg_notify(\(Self.channel), \(queue))") }
            return count
        }
    }

    /// The queue at a glance.
    public struct Status: Sendable {
        /// Tasks by state.
        public var counts: [String: Int]
        /// Live workers (a heartbeat within the last two minutes).
        public var workers: [Worker]
        /// Tasks finished in the last minute and the last ten.
        public var finishedLastMinute: Int
        public var finishedLastTenMinutes: Int
        /// When the oldest waiting task was submitted.
        public var oldestWaiting: Date?
        /// The queue's shared limits.
        public var maxConcurrency: Int?

        /// One worker.
        public struct Worker: Sendable {
            public var name: String
            public var host: String?
            public var concurrency: Int
            public var running: Int
            public var heartbeat: Date
            /// The soonest lease of its tasks to expire.
            public var nextLeaseExpiry: Date?
        }
    }

    /// Counts by state, live workers with their leases and heartbeats, throughput, and the oldest waiting task.
    public func status() async throws(QueueError) -> Status {
        let queue = name
        return try await database.run("reading the queue's status") { client in
            var status = Status(counts: [:], workers: [], finishedLastMinute: 0, finishedLastTenMinutes: 0, oldestWaiting: nil, maxConcurrency: nil)
            for try await (state, count) in try await client.query(
                "SELECT state, count(*)::int FROM errand_tasks WHERE queue = \(queue) GROUP BY state"
            ).decode((String, Int).self) { status.counts[state] = count }
            for try await (name, host, concurrency, heartbeat, running, expiry) in try await client.query("""
                SELECT w.name, w.host, w.concurrency, w.heartbeat_at,
                    (SELECT count(*)::int FROM errand_tasks t WHERE t.worker = w.name AND t.state = 'running'),
                    (SELECT min(lease_until) FROM errand_tasks t WHERE t.worker = w.name AND t.state = 'running')
                FROM errand_workers w WHERE w.queue = \(queue) AND w.stopped_at IS NULL AND w.heartbeat_at > now() - interval '2 minutes'
                ORDER BY w.name
                """).decode((String, String?, Int, Date, Int, Date?).self) {
                status.workers.append(.init(name: name, host: host, concurrency: concurrency, running: running, heartbeat: heartbeat, nextLeaseExpiry: expiry))
            }
            for try await (minute, ten, oldest) in try await client.query("""
                SELECT count(*) FILTER (WHERE finished_at > now() - interval '1 minute')::int,
                    count(*) FILTER (WHERE finished_at > now() - interval '10 minutes')::int,
                    (SELECT min(submitted_at) FROM errand_tasks WHERE queue = \(queue) AND state = 'queued')
                FROM errand_tasks WHERE queue = \(queue) AND finished_at IS NOT NULL
                """).decode((Int, Int, Date?).self) {
                status.finishedLastMinute = minute
                status.finishedLastTenMinutes = ten
                status.oldestWaiting = oldest
            }
            for try await cap in try await client.query("SELECT max_concurrency FROM errand_queues WHERE name = \(queue)").decode(Int?.self) {
                status.maxConcurrency = cap
            }
            return status
        }
    }

    /// One task, as `errand queue tasks` lists it.
    public struct TaskRow: Sendable, Hashable {
        public var id: Int64
        public var batch: String
        public var taskID: String
        public var state: String
        public var status: String?
        public var attempts: Int
        public var worker: String?
        public var runID: String
        public var error: String?
        public var submitted: Date
    }

    /// The queue's tasks, oldest first, in `state` only when given; at most `limit`.
    public func tasks(state: String? = nil, batch: String? = nil, limit: Int = 1000) async throws(QueueError) -> [TaskRow] {
        let queue = name
        if let state, !["queued", "running", "completed", "failed", "cancelled"].contains(state) {
            throw QueueError(.refused, "'\(state)' is not a task state; use queued, running, completed, failed or cancelled")
        }
        return try await database.run("listing tasks") { client in
            var rows: [TaskRow] = []
            for try await (id, batch, taskID, state, status, attempts, worker, runID, error, submitted) in try await client.query("""
                SELECT id, batch, task_id, state, status, attempts, worker, run_id, error, submitted_at FROM errand_tasks
                WHERE queue = \(queue) AND (\(state)::text IS NULL OR state = \(state)) AND (\(batch)::text IS NULL OR batch = \(batch))
                ORDER BY id LIMIT \(limit)
                """).decode((Int64, String, String, String, String?, Int, String?, String, String?, Date).self) {
                rows.append(TaskRow(
                    id: id, batch: batch, taskID: taskID, state: state, status: status, attempts: attempts, worker: worker, runID: runID, error: error,
                    submitted: submitted))
            }
            return rows
        }
    }

    /// The batch's result lines (as `errand batch` prints them), of the tasks that finished, in submit order; and how many have not.
    public func results(batch: String) async throws(QueueError) -> (lines: [JSONValue], unfinished: Int) {
        try await database.run("reading the results of \(batch)") { client in
            var lines: [JSONValue] = []
            var unfinished = 0
            var any = false
            for try await (result, state) in try await client.query(
                "SELECT result::text, state FROM errand_tasks WHERE batch = \(batch) ORDER BY id"
            ).decode((String?, String).self) {
                any = true
                if let result, let line = try? JSONValue(parsing: result) { lines.append(line) } else if state != "cancelled" { unfinished += 1 }
            }
            if !any { throw QueueError(.notFound, "there is no batch '\(batch)'") }
            return (lines, unfinished)
        }
    }
}
