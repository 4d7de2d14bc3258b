import ErrandCore
import ErrandQueue
import ErrandTesting
import Foundation
import Logging
import ResponsesAPI
import Testing

/// Why the database tests cannot run here, or `nil`.
let postgresMissing = PostgresCluster.unavailableReason

/// Runs `body` with a new database on the shared throwaway cluster, its queue schema created.
func withQueueDatabase<R: Sendable>(initialize: Bool = true, _ body: @escaping @Sendable (QueueDatabase) async throws -> R) async throws -> R {
    let url = try await PostgresCluster.shared().createDatabase(prefix: "q")
    return try await QueueDatabase.with(try DatabaseURL(url), maxConnections: 12) { database in
        if initialize { try await TaskQueue.initialize(database) }
        return try await body(database)
    }
}

extension QueueFixture {
    /// The fixture's spec and tasks, as `errand submit` in its folder makes them.
    func submission(batch: String? = nil) throws -> Submission {
        try Submission.prepare(specFile: spec, tasksFile: tasks, batch: batch, currentFolder: folder, environment: Self.environment)
    }

}

/// A worker's configuration for tests: the fixture's folder as its workspace root, a short poll.
func workerConfiguration(_ fixture: QueueFixture, name: String, concurrency: Int = 4, lease: Duration = .seconds(10)) -> QueueWorker.Configuration {
    var configuration = QueueWorker.Configuration()
    configuration.name = name
    configuration.concurrency = concurrency
    configuration.lease = lease
    configuration.poll = .milliseconds(300)
    configuration.workspaceRoot = fixture.folder
    configuration.environment = QueueFixture.environment
    configuration.client = .loopbackTests()
    return configuration
}
