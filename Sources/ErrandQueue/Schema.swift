import Foundation
import PostgresNIO

/// The queue's tables, as numbered migrations. `errand queue init` applies the ones a database lacks, in one
/// transaction under an advisory lock (two inits at once do not race); every other command checks the version first
/// and refuses a database that has none, an older one, or one newer than this binary knows.
public enum QueueSchema {
    /// One migration: its version and its statements.
    struct Migration: Sendable {
        let version: Int
        let name: String
        let statements: [String]
    }

    /// The version this binary writes and reads.
    public static var latest: Int { migrations.last?.version ?? 0 }

    static let migrations: [Migration] = [
        Migration(version: 1, name: "queue, tasks, journal, workers, rates", statements: [
            """
            CREATE TABLE errand_queues (
                name text PRIMARY KEY,
                max_concurrency integer CHECK (max_concurrency IS NULL OR max_concurrency > 0),
                requests_per_minute integer CHECK (requests_per_minute IS NULL OR requests_per_minute > 0),
                tokens_per_minute integer CHECK (tokens_per_minute IS NULL OR tokens_per_minute > 0),
                hold_until timestamptz,
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE errand_specs (
                digest text PRIMARY KEY,
                name text NOT NULL,
                bundle json NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE errand_tasks (
                id bigserial PRIMARY KEY,
                queue text NOT NULL,
                batch text NOT NULL,
                task_id text NOT NULL,
                run_id text NOT NULL UNIQUE,
                spec_digest text NOT NULL REFERENCES errand_specs (digest),
                task json NOT NULL,
                task_digest text NOT NULL,
                priority integer NOT NULL DEFAULT 0,
                state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
                epoch bigint NOT NULL DEFAULT 0,
                worker text,
                lease_until timestamptz,
                attempts integer NOT NULL DEFAULT 0,
                expirations integer NOT NULL DEFAULT 0,
                cancel_requested boolean NOT NULL DEFAULT false,
                status text,
                result json,
                error text,
                submitted_at timestamptz NOT NULL DEFAULT now(),
                started_at timestamptz,
                finished_at timestamptz,
                UNIQUE (batch, task_id)
            )
            """,
            "CREATE INDEX errand_tasks_waiting ON errand_tasks (queue, priority DESC, id) WHERE state = 'queued'",
            "CREATE INDEX errand_tasks_leases ON errand_tasks (queue, lease_until) WHERE state = 'running'",
            "CREATE INDEX errand_tasks_batch ON errand_tasks (batch, state)",
            """
            CREATE TABLE errand_journal (
                run_id text NOT NULL,
                seq integer NOT NULL,
                epoch bigint NOT NULL,
                worker text,
                time double precision NOT NULL,
                record json NOT NULL,
                PRIMARY KEY (run_id, seq)
            )
            """,
            """
            CREATE TABLE errand_workers (
                name text PRIMARY KEY,
                queue text NOT NULL,
                concurrency integer NOT NULL,
                host text,
                pid integer,
                started_at timestamptz NOT NULL DEFAULT now(),
                heartbeat_at timestamptz NOT NULL DEFAULT now(),
                stopped_at timestamptz
            )
            """,
            """
            CREATE TABLE errand_rate_log (
                queue text NOT NULL,
                at timestamptz NOT NULL DEFAULT now(),
                requests integer NOT NULL DEFAULT 0,
                tokens integer NOT NULL DEFAULT 0
            )
            """,
            "CREATE INDEX errand_rate_log_recent ON errand_rate_log (queue, at)",
        ]),
    ]

    /// Applies the migrations the database lacks; returns the version before and after.
    static func migrate(_ database: QueueDatabase) async throws(QueueError) -> (from: Int, to: Int) {
        try await database.transaction("creating the queue's schema") { connection in
            // One init at a time: a second waits here, then finds the work done.
            try await connection.query("SELECT pg_advisory_xact_lock(4242010)", logger: database.logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS errand_schema (version integer NOT NULL, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                logger: database.logger)
            var current = 0
            for try await version in try await connection.query("SELECT coalesce(max(version), 0) FROM errand_schema", logger: database.logger).decode(Int.self) {
                current = version
            }
            if current > latest {
                throw QueueError(.schema, newerMessage(current, database.url))
            }
            for migration in migrations where migration.version > current {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: database.logger)
                }
                try await connection.query(
                    "INSERT INTO errand_schema (version, name) VALUES (\(migration.version), \(migration.name))", logger: database.logger)
            }
            return (current, max(current, latest))
        }
    }

    /// The database's schema version: 0 when it has none.
    static func version(_ database: QueueDatabase) async throws(QueueError) -> Int {
        try await database.run("reading the schema's version") { client in
            var exists = false
            for try await found in try await client.query("SELECT to_regclass('errand_schema') IS NOT NULL").decode(Bool.self) { exists = found }
            guard exists else { return 0 }
            var version = 0
            for try await found in try await client.query("SELECT coalesce(max(version), 0) FROM errand_schema").decode(Int.self) { version = found }
            return version
        }
    }

    /// Refuses a database whose schema is not this binary's.
    public static func check(_ database: QueueDatabase) async throws(QueueError) {
        let version = try await version(database)
        if version == latest { return }
        if version == 0 {
            throw QueueError(.schema, "\(database.url) has no errand queue yet; create it with: errand queue init --database URL")
        }
        if version > latest { throw QueueError(.schema, newerMessage(version, database.url)) }
        throw QueueError(.schema, "\(database.url) has the queue's schema version \(version), older than this errand's \(latest); upgrade it with: errand queue init --database URL")
    }

    private static func newerMessage(_ version: Int, _ url: DatabaseURL) -> String {
        "\(url) has the queue's schema version \(version), newer than this errand knows (\(latest)); use a newer errand, or a database of its own"
    }
}
