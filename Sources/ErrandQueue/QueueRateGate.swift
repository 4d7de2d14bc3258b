import Foundation
import Logging
import PostgresNIO
import ResponsesAPI
import Synchronization

/// A queue's flow control, shared by all its workers through the database: the queue's requests and tokens a minute
/// (`errand queue init --requests-per-minute/--tokens-per-minute`), counted over a sliding window in
/// `errand_rate_log`, and a provider's `retry-after` (a 429 or 503), written to the queue's `hold_until` so that every
/// worker's next request waits for it, not only the refused one.
///
/// With no per-minute limit, a request costs no statement while no hold is known: the hold is read at most
/// four times a second and written when a server asks for it. With a limit, each request is admitted in one short transaction
/// under the queue row's lock, so the limit holds over any number of workers.
final class QueueRateGate: SharedRequestGate {
    private let database: QueueDatabase
    private let queue: String
    private let window: Duration
    private struct State {
        var limits: (requests: Int?, tokens: Int?) = (nil, nil)
        var limitsRead: ContinuousClock.Instant?
        var holdUntil: Date?
        var holdRead: ContinuousClock.Instant?
        var admitted = 0
    }
    private let state = Mutex(State())

    init(database: QueueDatabase, queue: String, window: Duration = .seconds(60)) {
        self.database = database
        self.queue = queue
        self.window = window
    }

    private var windowSeconds: Double { Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18 }

    func admit() async throws {
        while true {
            try Task.checkCancellation()
            let wait = try await nextWait()
            guard let wait, wait > .zero else { return }
            try await Task.sleep(for: min(wait, .seconds(5)))
        }
    }

    /// How long to wait before asking again, or `nil` when the request was admitted (and counted).
    private func nextWait() async throws(QueueError) -> Duration? {
        let now = ContinuousClock.now
        let (limits, holdUntil, stale) = state.withLock { state -> ((Int?, Int?), Date?, (limits: Bool, hold: Bool)) in
            (state.limits, state.holdUntil,
             (state.limitsRead.map { now - $0 > .seconds(10) } ?? true, state.holdRead.map { now - $0 > .milliseconds(250) } ?? true))
        }
        var current = (limits: limits, hold: holdUntil)
        if stale.limits || (stale.hold && limits.0 == nil && limits.1 == nil) {
            current = try await readQueue()
        }
        if let hold = current.hold, hold > Date() { return .milliseconds(Int64(hold.timeIntervalSinceNow * 1000) + 1) }
        guard current.limits.0 != nil || current.limits.1 != nil else { return nil }
        return try await admitUnderLimits()
    }

    /// The queue's limits and hold, read and kept.
    private func readQueue() async throws(QueueError) -> (limits: (Int?, Int?), hold: Date?) {
        let queue = self.queue
        let row = try await database.run("reading the queue's limits") { client -> (Int?, Int?, Date?) in
            var row: (Int?, Int?, Date?) = (nil, nil, nil)
            for try await found in try await client.query(
                "SELECT requests_per_minute, tokens_per_minute, hold_until FROM errand_queues WHERE name = \(queue)"
            ).decode((Int?, Int?, Date?).self) { row = found }
            return row
        }
        let now = ContinuousClock.now
        state.withLock { state in
            state.limits = (row.0, row.1)
            state.holdUntil = row.2
            state.limitsRead = now
            state.holdRead = now
        }
        return ((row.0, row.1), row.2)
    }

    /// Admits one request under the queue's per-minute limits, or says how long to wait.
    private func admitUnderLimits() async throws(QueueError) -> Duration? {
        let (queue, seconds) = (self.queue, windowSeconds)
        let clean = state.withLock { state -> Bool in
            state.admitted += 1
            return state.admitted % 200 == 0
        }
        let logger = database.logger
        return try await database.transaction("admitting a request") { connection -> Duration? in
            var limits: (Int?, Int?, Date?) = (nil, nil, nil)
            for try await row in try await connection.query(
                "SELECT requests_per_minute, tokens_per_minute, hold_until FROM errand_queues WHERE name = \(queue) FOR UPDATE", logger: logger
            ).decode((Int?, Int?, Date?).self) { limits = row }
            if let hold = limits.2, hold > Date() { return .milliseconds(Int64(hold.timeIntervalSinceNow * 1000) + 1) }
            var used: (requests: Int, tokens: Int, oldestRequest: Date?, oldestToken: Date?) = (0, 0, nil, nil)
            for try await row in try await connection.query("""
                SELECT coalesce(sum(requests), 0)::int, coalesce(sum(tokens), 0)::int,
                    min(at) FILTER (WHERE requests > 0), min(at) FILTER (WHERE tokens > 0)
                FROM errand_rate_log WHERE queue = \(queue) AND at > clock_timestamp() - make_interval(secs => \(seconds))
                """, logger: logger).decode((Int, Int, Date?, Date?).self) { used = row }
            var wait: Double = 0
            if let cap = limits.0, used.requests >= cap, let oldest = used.oldestRequest {
                wait = max(wait, oldest.timeIntervalSinceNow + seconds)
            }
            if let cap = limits.1, used.tokens >= cap, let oldest = used.oldestToken {
                wait = max(wait, oldest.timeIntervalSinceNow + seconds)
            }
            if wait > 0 { return .milliseconds(Int64(wait * 1000) + 1) }
            // clock_timestamp(), not now(): now() is when the transaction began, before it waited for the queue's lock.
            try await connection.query("INSERT INTO errand_rate_log (queue, at, requests) VALUES (\(queue), clock_timestamp(), 1)", logger: logger)
            if clean {
                try await connection.query(
                    "DELETE FROM errand_rate_log WHERE queue = \(queue) AND at < now() - make_interval(secs => \(seconds * 2))", logger: logger)
            }
            return nil
        }
    }

    func hold(for wait: Duration) {
        let until = Date().addingTimeInterval(Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18)
        state.withLock { state in
            if state.holdUntil.map({ $0 < until }) ?? true { state.holdUntil = until }
        }
        let (database, queue) = (self.database, self.queue)
        Task {
            try? await database.run("holding the queue") { client in
                try await client.query("""
                    UPDATE errand_queues SET hold_until = greatest(coalesce(hold_until, now()), \(until)) WHERE name = \(queue)
                    """)
            }
        }
    }

    func record(tokens: Int) {
        guard tokens > 0, state.withLock({ $0.limits.1 }) != nil else { return }
        let (database, queue) = (self.database, self.queue)
        Task {
            try? await database.run("counting tokens") { client in
                try await client.query("INSERT INTO errand_rate_log (queue, at, tokens) VALUES (\(queue), clock_timestamp(), \(tokens))")
            }
        }
    }
}
