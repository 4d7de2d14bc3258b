import ErrandCore
import ErrandQueue
import ErrandTesting
import Foundation
import PostgresNIO
import ResponsesAPI
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Three `errand worker` processes on one queue, and the faults a fleet meets: a worker killed mid-run, one paused past
/// its lease and then continued, a connection cut by the server. Every task must end completed, every side effect
/// happen once, no two workers append to one run under one epoch, and every journal replay to its result.
@Suite(.enabled(if: PostgresCluster.unavailableReason == nil, "needs PostgreSQL's initdb (apt-get install postgresql): \(PostgresCluster.unavailableReason ?? "")"))
struct QueueFaultTests {
    static let tasks = 200
    static let steps = 3

    @Test(.timeLimit(.minutes(5)))
    func threeWorkersThroughAKillAPauseAndACutConnectionLoseNothing() async throws {
        let url = try await PostgresCluster.shared().createDatabase(prefix: "fleet")
        try await ScriptedResponsesServer.withServer(responder: markingResponder(steps: Self.steps, pace: .milliseconds(20))) { server in
            let fixture = try QueueFixture(baseURL: server.provider.baseURL, tasks: Self.tasks)
            defer { fixture.remove() }
            let environment = QueueFixture.environment.merging(["ERRAND_DATABASE_URL": url]) { $1 }
            let initialized = try await runErrand(["queue", "init"], environment: environment)
            #expect(initialized.status == 0, "\(initialized.stderr)")
            let submitted = try await runErrand(["submit", fixture.spec.path, fixture.tasks.path], environment: environment, currentDirectory: fixture.folder)
            #expect(submitted.status == 0 && submitted.stdout == "marker-tasks\n", "\(submitted.stderr)")

            func worker(_ name: String) throws -> (Launched, URL) {
                let log = fixture.folder.appendingPathComponent("\(name).log")
                FileManager.default.createFile(atPath: log.path, contents: nil)
                let handle = try FileHandle(forWritingTo: log)
                let launched = try Launched(
                    ["worker", "--name", name, "--concurrency", "8", "--lease-seconds", "6"], environment: environment, currentDirectory: fixture.folder,
                    standardOutput: handle, standardError: handle)
                return (launched, log)
            }
            let (one, _) = try worker("w1")
            let (two, twoLog) = try worker("w2")
            let (three, threeLog) = try worker("w3")

            try await QueueDatabase.with(try DatabaseURL(url)) { database in
                let queue = TaskQueue(database: database)
                func completed() async throws -> Int { try await queue.status().counts["completed"] ?? 0 }
                func cutOneConnection() async throws -> Int {
                    try await database.run("test") { client in
                        var cut = 0
                        for try await _ in try await client.query("""
                            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                            WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend' LIMIT 1
                            """).decode(Bool.self) { cut += 1 }
                        return cut
                    }
                }

                try await waitUntil("a first tenth of the tasks", timeout: .seconds(120)) { try await completed() >= Self.tasks / 10 }
                // A worker dies mid-run: its leases expire and the others resume its runs.
                kill(one.process.processIdentifier, SIGKILL)
                #expect(try await cutOneConnection() == 1)
                try await waitUntil("a third of the tasks", timeout: .seconds(120)) { try await completed() >= Self.tasks / 3 }
                // A worker is paused past its lease, then goes on: what it held was taken over; it must not write.
                kill(two.process.processIdentifier, SIGSTOP)
                try await Task.sleep(for: .seconds(9))
                kill(two.process.processIdentifier, SIGCONT)
                #expect(try await cutOneConnection() == 1)
                try await waitUntil("every task", timeout: .seconds(180)) { try await completed() == Self.tasks }

                // A graceful stop: SIGTERM, exit 143.
                kill(two.process.processIdentifier, SIGTERM)
                kill(three.process.processIdentifier, SIGTERM)
                let (twoEnd, threeEnd) = (await two.wait(), await three.wait())
                #expect(twoEnd.status == 143 && threeEnd.status == 143, "\((try? String(contentsOf: threeLog, encoding: .utf8)) ?? "")")
                _ = await one.wait()

                let tasks = try await queue.tasks()
                let paused = (try? String(contentsOf: twoLog, encoding: .utf8)) ?? ""
                let abandoned = paused.components(separatedBy: "abandon").count - 1
                print(
                    "FLEET | \(Self.tasks) tasks, 3 workers | w1 SIGKILL, w2 SIGSTOP 9 s past a 6 s lease, 2 connections cut | "
                        + "\(tasks.filter { $0.attempts > 1 }.count) tasks taken over, w2 abandoned \(abandoned) runs it no longer held")
                #expect(tasks.count == Self.tasks && tasks.allSatisfy { $0.state == "completed" })
                #expect(tasks.contains { $0.attempts > 1 }, "some tasks were taken over")
                // Every side effect once: each call's key in the ledger once, and all of them.
                let ledger = fixture.lines(fixture.ledger)
                #expect(ledger.count == Self.tasks * Self.steps)
                #expect(Set(ledger).count == ledger.count)
                for task in tasks {
                    #expect(ledger.filter { $0.hasPrefix(task.runID + "/") }.count == Self.steps, "task \(task.taskID)")
                }
                // No two workers appended to one run under one epoch; steps are numbered without a gap.
                let shared: Int = try await database.run("test") { client in
                    var count = 0
                    for try await n in try await client.query("""
                        SELECT count(*)::int FROM (SELECT run_id, epoch FROM errand_journal GROUP BY run_id, epoch HAVING count(DISTINCT worker) > 1) s
                        """).decode(Int.self) { count = n }
                    return count
                }
                #expect(shared == 0)
                // Every journal replays to the result recorded for its task.
                let store = PostgresRunStore(database: database)
                let (lines, unfinished) = try await queue.results(batch: "marker-tasks")
                #expect(unfinished == 0 && lines.count == Self.tasks)
                let byRun = Dictionary(uniqueKeysWithValues: lines.compactMap { line in line["run_id"]?.stringValue.map { ($0, line) } })
                for task in tasks {
                    let records = try #require(try await store.records(runID: task.runID))
                    let replayed = try RunState(replaying: records).result(journal: nil)
                    #expect(records.map(\.event.type).filter { $0 == "run_started" }.count == 1)
                    #expect(replayed.status == .completed && replayed.finalText == "done: task number \(task.taskID.dropFirst())")
                    #expect(byRun[task.runID]?["output_text"]?.stringValue == replayed.finalText)
                    #expect(replayed.toolCalls.count == Self.steps)
                }
            }
        }
    }
}
