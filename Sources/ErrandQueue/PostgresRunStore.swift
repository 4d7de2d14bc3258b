import ErrandCore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Journals as rows: one ``JournalRecord`` a row of `errand_journal`, in the same JSON as a journal file's line
/// (tool output kept as the policy says, secrets redacted), numbered from 0 within each run. `errand run --database`
/// journals here; a worker's runs do too, through a ``Lease`` that fences every append.
public struct PostgresRunStore: RunStore {
    /// The database.
    public let database: QueueDatabase
    /// The lease every append is checked against, for a worker's runs; `nil` for a run of its own (`errand run`).
    public let lease: Lease?
    /// What the appends learn about the lease: a cancellation asked for, the lease lost.
    let watch: LeaseWatch?

    /// A worker's hold on a task: every append checks, in its own statement and under a share lock on the task's row,
    /// that the task is still running under this epoch. A worker that lost the task (its lease expired and another
    /// took it; a restart-changed submit) cannot write another step.
    public struct Lease: Sendable, Hashable {
        /// The task's row id.
        public var taskID: Int64
        /// The claim's epoch.
        public var epoch: Int64
        /// The worker's name.
        public var worker: String
    }

    /// A store for runs of their own.
    public init(database: QueueDatabase) {
        self.init(database: database, lease: nil)
    }

    init(database: QueueDatabase, lease: Lease?, watch: LeaseWatch? = nil) {
        self.database = database
        self.lease = lease
        self.watch = watch
    }

    public var location: String { "\(database.url)" }

    public func openJournal(runID: String, policy: JournalPolicy) async throws(CoreError) -> any RunJournal {
        let next: Int
        do throws(QueueError) {
            next = try await database.run("opening the journal of \(runID)") { client in
                var next = 0
                for try await value in try await client.query("SELECT coalesce(max(seq) + 1, 0) FROM errand_journal WHERE run_id = \(runID)").decode(Int.self) {
                    next = value
                }
                return next
            }
        } catch {
            throw CoreError(.journal, error.message)
        }
        return PostgresJournal(store: self, runID: runID, next: next, encoder: JournalLineEncoder(policy: policy))
    }

    public func records(runID: String) async throws(CoreError) -> [JournalRecord]? {
        let lines: [String]
        do throws(QueueError) {
            lines = try await database.run("reading the journal of \(runID)") { client in
                var lines: [String] = []
                for try await line in try await client.query("SELECT record::text FROM errand_journal WHERE run_id = \(runID) ORDER BY seq").decode(String.self) {
                    lines.append(line)
                }
                return lines
            }
        } catch {
            throw CoreError(.runStore, error.message)
        }
        guard !lines.isEmpty else { return nil }
        let decoder = JSONDecoder()
        var records: [JournalRecord] = []
        for (index, line) in lines.enumerated() {
            do {
                records.append(try decoder.decode(JournalRecord.self, from: Data(line.utf8)))
            } catch {
                throw CoreError(.journal, "the journal of \(runID) in \(location) has an unreadable step \(index): \(error)")
            }
        }
        return records
    }

    /// The runs, oldest first: the most recent `limit` that started.
    public func list() async throws(CoreError) -> [RunSummary] {
        try await list(limit: 500)
    }

    /// The `limit` runs that started last, oldest first.
    public func list(limit: Int) async throws(CoreError) -> [RunSummary] {
        let ids: [String]
        do throws(QueueError) {
            ids = try await database.run("listing the runs") { client in
                var ids: [String] = []
                let query: PostgresQuery = "SELECT run_id FROM errand_journal WHERE seq = 0 ORDER BY time DESC, run_id DESC LIMIT \(limit)"
                for try await id in try await client.query(query).decode(String.self) { ids.append(id) }
                return ids
            }
        } catch {
            throw CoreError(.runStore, error.message)
        }
        var summaries: [RunSummary] = []
        for id in ids.reversed() {
            guard let records = try await records(runID: id), let summary = RunSummary(records: records, journal: location(of: id)) else { continue }
            summaries.append(summary)
        }
        return summaries
    }
}

/// One run's journal in the database. Appends are numbered; with a lease each is fenced (see ``PostgresRunStore/Lease``).
/// A connection lost mid-append is retried with backoff for up to a minute; an append whose commit was lost with its
/// connection is recognised when retried (the same step is already there) rather than written twice.
final class PostgresJournal: RunJournal {
    let store: PostgresRunStore
    let runID: String
    private let next: Mutex<Int>
    private let encoder: JournalLineEncoder
    /// How long a lost connection is retried before the append fails.
    static let retryWindow: Duration = .seconds(60)

    init(store: PostgresRunStore, runID: String, next: Int, encoder: JournalLineEncoder) {
        self.store = store
        self.runID = runID
        self.next = Mutex(next)
        self.encoder = encoder
    }

    var location: String { "\(store.location) run \(runID)" }
    var fileURL: URL? { nil }

    /// Appends one step. The write is not cut by the run's cancellation (a file's write is not either): a cancelled
    /// run still journals how it ended.
    func append(_ event: JournalEvent, runID: String) async throws(CoreError) {
        let result = await Task { () async -> Result<Void, CoreError> in
            do throws(CoreError) {
                try await self.write(event, runID: runID)
                return .success(())
            } catch {
                return .failure(error)
            }
        }.value
        try result.get()
    }

    private func write(_ event: JournalEvent, runID: String) async throws(CoreError) {
        let record = JournalRecord(runID: runID, event: event)
        let line = String(decoding: try encoder.line(event, runID: runID, for: location), as: UTF8.self)
        let seq = next.withLock { $0 }
        let clock = ContinuousClock()
        let start = clock.now
        var delay = Duration.milliseconds(100)
        while true {
            do throws(QueueError) {
                try await write(line, seq: seq, time: record.time)
                next.withLock { $0 = seq + 1 }
                return
            } catch {
                guard error.kind == .connection, clock.now - start < Self.retryWindow, !Task.isCancelled else {
                    if error.kind != .leaseLost { store.watch?.journalFailed() }
                    throw CoreError(.journal, "cannot journal step \(seq) of \(runID): \(error.message)")
                }
                store.database.logger.warning("journal append failed; retrying", metadata: ["run_id": "\(runID)", "error": "\(error.message)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(3))
                if try await alreadyWritten(line, seq: seq) {
                    next.withLock { $0 = seq + 1 }
                    return
                }
            }
        }
    }

    /// Whether step `seq` is already this line (its commit went through before the connection was lost).
    private func alreadyWritten(_ line: String, seq: Int) async throws(CoreError) -> Bool {
        let existing: String?
        let runID = self.runID
        do throws(QueueError) {
            existing = try await store.database.run("checking the journal of \(runID)") { client in
                var existing: String?
                for try await text in try await client.query("SELECT record::text FROM errand_journal WHERE run_id = \(runID) AND seq = \(seq)").decode(String.self) {
                    existing = text
                }
                return existing
            }
        } catch {
            return false  // still unreachable: the loop decides whether to go on
        }
        guard let existing else { return false }
        if existing == line { return true }
        throw CoreError(.journal, "step \(seq) of \(runID) was written by someone else; this worker no longer holds the run")
    }

    private func write(_ line: String, seq: Int, time: Double) async throws(QueueError) {
        let (runID, store) = (self.runID, self.store)
        guard let lease = store.lease else {
            try await store.database.run("journaling step \(seq) of \(runID)") { client in
                do {
                    try await client.query(
                        "INSERT INTO errand_journal (run_id, seq, epoch, worker, time, record) VALUES (\(runID), \(seq), 0, NULL, \(time), \(line)::json)")
                } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                    throw QueueError(.refused, "step \(seq) of \(runID) is already journaled: another process is writing this run")
                }
            }
            return
        }
        let (written, cancel) = try await store.database.run("journaling step \(seq) of \(runID)") { client -> (Int, Bool) in
            let query: PostgresQuery = """
                WITH held AS (
                    SELECT cancel_requested FROM errand_tasks
                    WHERE id = \(lease.taskID) AND epoch = \(lease.epoch) AND state = 'running' FOR SHARE
                ), written AS (
                    INSERT INTO errand_journal (run_id, seq, epoch, worker, time, record)
                    SELECT \(runID), \(seq), \(lease.epoch), \(lease.worker), \(time), \(line)::json FROM held
                    RETURNING seq
                )
                SELECT (SELECT count(*) FROM written)::int, coalesce((SELECT cancel_requested FROM held), false)
                """
            var outcome = (0, false)
            do {
                for try await row in try await client.query(query).decode((Int, Bool).self) { outcome = row }
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                store.watch?.leaseLost()
                throw QueueError(.leaseLost, "step \(seq) of \(runID) was written by another worker")
            }
            return outcome
        }
        guard written == 1 else {
            store.watch?.leaseLost()
            throw QueueError(
                .leaseLost, "the lease on task \(lease.taskID) (epoch \(lease.epoch)) is gone: another worker took the run over, or it was restarted")
        }
        if cancel { store.watch?.cancelRequested() }
    }

    func close() async {}
}

/// What a worker's run learns about its task while it runs, from its appends and the heartbeat: that a person asked
/// for it to be cancelled (the run is cancelled at once), or that the lease is gone (the run is abandoned).
final class LeaseWatch: Sendable {
    private struct State {
        var cancelRequested = false
        var lost = false
        var journalFailed = false
        var task: Task<Void, Never>?
    }
    private let state = Mutex(State())

    /// The run's task, cancelled when the lease is lost or a cancellation is asked for.
    func attach(_ task: Task<Void, Never>) {
        let cancel = state.withLock { state -> Bool in
            state.task = task
            return state.cancelRequested || state.lost
        }
        if cancel { task.cancel() }
    }

    func cancelRequested() {
        let task = state.withLock { state -> Task<Void, Never>? in
            defer { state.cancelRequested = true }
            return state.cancelRequested ? nil : state.task
        }
        task?.cancel()
    }

    func leaseLost() {
        let task = state.withLock { state -> Task<Void, Never>? in
            defer { state.lost = true }
            return state.lost ? nil : state.task
        }
        task?.cancel()
    }

    /// Cancels the run without a cancellation asked for: a worker's grace period on shutdown is over.
    func interrupt() {
        state.withLock { $0.task }?.cancel()
    }

    /// A step could not be journaled (the database was away too long): the run ended, but not in its journal.
    func journalFailed() { state.withLock { $0.journalFailed = true } }

    var isCancelRequested: Bool { state.withLock { $0.cancelRequested } }
    var isJournalFailed: Bool { state.withLock { $0.journalFailed } }
    var isLost: Bool { state.withLock { $0.lost } }
}
