import ErrandTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The throwaway PostgreSQL server's own contract: it starts, answers SQL, and leaves nothing behind.
@Suite(
    .enabled(
        if: PostgresCluster.unavailableReason == nil,
        Comment(rawValue: PostgresCluster.unavailableReason ?? "PostgreSQL is installed")
    ),
    .timeLimit(.minutes(3))
)
struct PostgresClusterTests {
    /// Whether something accepts TCP connections on 127.0.0.1 at `port`.
    private func accepts(port: Int) -> Bool {
        let socket = FaultyListener.tcpSocket()
        defer { close(socket) }
        var address = FaultyListener.loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return connected == 0
    }

    @Test func startsAnswersAndLeavesNothingBehind() async throws {
        let cluster = try PostgresCluster.start()
        defer { cluster.stop() }
        #expect(try cluster.psql("select 1+1") == "2")
        #expect(try cluster.psql("select current_user, current_database()") == "errand|errand")
        #expect(cluster.url == "postgresql://errand@127.0.0.1:\(cluster.port)/errand")
        #expect(cluster.url.contains(":\(cluster.port)/"))
        #expect(cluster.url(user: "nobody", password: "p@ss:word", database: "missing") == "postgresql://nobody:p%40ss%3Aword@127.0.0.1:\(cluster.port)/missing")
        #expect(accepts(port: cluster.port))
        #expect(throws: PostgresCluster.Failure.self) { try cluster.psql("select * from no_such_table") }

        cluster.stop()
        #expect(!FileManager.default.fileExists(atPath: cluster.folder.path))
        #expect(!accepts(port: cluster.port))
        cluster.stop()
        // pg_ctl returns once the postmaster has removed its pid file, a moment before it ends.
        try await waitUntil("the server's processes to end", timeout: .seconds(10)) {
            ProcessList.processes(withCommandLineContaining: cluster.folder.path).isEmpty
        }
    }

    @Test func twoClustersAtOnceHaveTwoPorts() throws {
        let first = try PostgresCluster.start()
        defer { first.stop() }
        let second = try PostgresCluster.start()
        defer { second.stop() }
        #expect(first.port != second.port)
        #expect(first.folder != second.folder)
        try first.psql("create table marks (name text); insert into marks values ('first')")
        #expect(try first.psql("select name from marks") == "first")
        #expect(throws: PostgresCluster.Failure.self) { try second.psql("select name from marks") }
    }
}
