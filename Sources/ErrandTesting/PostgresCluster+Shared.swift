import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension PostgresCluster {
    /// One cluster for the whole test process, started on first use and stopped when the process exits (an `atexit`
    /// handler); every test takes a database of its own on it with ``createDatabase(prefix:)``, so tests run in
    /// parallel without seeing each other's rows. A failure to start is kept and thrown to every caller.
    ///
    /// Starting waits for processes: it runs on a thread of its own, never on the concurrency pool's few threads.
    public static func shared() async throws -> PostgresCluster {
        let task = SharedCluster.task.withLock { task in
            if let task { return task }
            let started = Task<PostgresCluster, any Error> {
                let cluster = try await onThread { try PostgresCluster.start() }
                SharedCluster.started.withLock { $0 = cluster }
                atexit { SharedCluster.stopAtExit() }
                return cluster
            }
            task = started
            return started
        }
        return try await task.value
    }

    /// Creates a new, empty database with a unique name; returns its URL.
    public func createDatabase(prefix: String = "t") async throws -> String {
        let name = "\(prefix)_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        try await Self.onThread { try self.psql("CREATE DATABASE \(name)") }
        return url(user: "errand", password: nil, database: name)
    }

    /// Runs blocking work (processes waited for) on a thread of its own.
    public static func onThread<R: Sendable>(_ work: @escaping @Sendable () throws -> R) async throws -> R {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
        }
    }
}

/// The process's shared cluster.
private enum SharedCluster {
    static let task = Mutex<Task<PostgresCluster, any Error>?>(nil)
    static let started = Mutex<PostgresCluster?>(nil)

    static func stopAtExit() {
        // The task's value cannot be awaited here; the cluster was kept when it started.
        started.withLock { $0 }?.stop()
    }
}
