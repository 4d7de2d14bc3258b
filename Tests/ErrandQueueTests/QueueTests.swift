import ErrandCore
@testable import ErrandQueue
import ErrandSpec
import ErrandTesting
import Foundation
import PostgresNIO
import ResponsesAPI
import Testing

@Suite(.enabled(if: postgresMissing == nil, "needs PostgreSQL's initdb (apt-get install postgresql): \(postgresMissing ?? "")"))
struct QueueTests {
    // MARK: Schema

    @Test func theSchemaIsVersionedAndANewerOneIsRefused() async throws {
        try await withQueueDatabase(initialize: false) { database in
            await #expect(throws: QueueError.self) { try await QueueSchema.check(database) }
            let error = await #expect(throws: QueueError.self) { try await QueueSchema.check(database) }
            #expect(error?.kind == .schema)
            #expect(error?.message.contains("errand queue init") == true)
            let first = try await TaskQueue.initialize(database)
            #expect(first.from == 0 && first.to == QueueSchema.latest)
            let again = try await TaskQueue.initialize(database)
            #expect(again.from == QueueSchema.latest && again.to == QueueSchema.latest)
            try await QueueSchema.check(database)
            _ = try await database.run("test") { client in
                try await client.query("INSERT INTO errand_schema (version, name) VALUES (\(QueueSchema.latest + 1), 'from the future')")
            }
            let newer = await #expect(throws: QueueError.self) { try await QueueSchema.check(database) }
            #expect(newer?.message.contains("newer than this errand knows") == true)
            await #expect(throws: QueueError.self) { try await TaskQueue.initialize(database) }
        }
    }

    @Test func twoInitsAtOnceBothSucceed() async throws {
        let url = try await PostgresCluster.shared().createDatabase(prefix: "init")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    try await QueueDatabase.with(try DatabaseURL(url)) { database in _ = try await TaskQueue.initialize(database) }
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func theURLIsReadAsLibpqReadsItAndItsPasswordIsNeverShown() throws {
        let url = try DatabaseURL("postgresql://ann:s%40cret-pass@db.internal:6543/jobs?sslmode=require")
        #expect(url.user == "ann" && url.password == "s@cret-pass" && url.host == "db.internal" && url.port == 6543 && url.database == "jobs")
        #expect(url.tls == .require)
        #expect(!url.description.contains("cret"))
        #expect(try DatabaseURL("postgres://ann@localhost/jobs").tls == .disable)
        #expect(try DatabaseURL("postgres://ann@db.example/jobs").tls == .prefer)
        #expect(throws: QueueError.self) { try DatabaseURL("mysql://ann@db/jobs") }
        #expect(throws: QueueError.self) { try DatabaseURL("postgresql:///jobs") }
        #expect(throws: QueueError.self) { try DatabaseURL("postgresql://ann@db/jobs?sslmode=sometimes") }
    }

    @Test func aServerThatIsNotThereFailsWithTheRefusalNotAWait() async throws {
        let port = try FaultyListener.reserveRefusingPort()
        defer { close(port.descriptor) }
        // The refusal itself is reported (not the pool's wait running out, which says "within").
        let error = await #expect(throws: QueueError.self) {
            try await QueueDatabase.with(try DatabaseURL("postgresql://errand:pw-123456@127.0.0.1:\(port.port)/errand"), connectTimeout: .seconds(60)) { _ in }
        }
        #expect(error?.kind == .connection)
        #expect(error?.message.contains("connection refused") == true)
        #expect(error?.message.contains("within") == false)
        #expect(error?.message.contains("pw-123456") == false)
    }

    @Test func aMissingDatabaseIsNamed() async throws {
        let cluster = try await PostgresCluster.shared()
        let error = await #expect(throws: QueueError.self) {
            try await QueueDatabase.with(try DatabaseURL(cluster.url(user: "errand", password: nil, database: "no_such_db"))) { _ in }
        }
        #expect(error?.message.contains("no_such_db") == true)
    }

    // MARK: Submitting

    @Test func aSubmitAddsOnlyNewTasksAndRefusesChangedOnesUnlessRestarted() async throws {
        let fixture = try QueueFixture(baseURL: "http://127.0.0.1:9/v1", tasks: 5)
        defer { fixture.remove() }
        try await withQueueDatabase { database in
            let queue = TaskQueue(database: database)
            let first = try await queue.submit(try fixture.submission())
            #expect(first.batch == "marker-tasks" && first.added == 5 && first.unchanged == 0)
            let again = try await queue.submit(try fixture.submission())
            #expect(again.added == 0 && again.unchanged == 5)
            // One more task, and task 2 changed.
            var lines = fixture.lines(fixture.tasks)
            lines[1] = #"{"id": "t2", "task": "something else"}"#
            lines.append(#"{"id": "t6", "task": "new"}"#)
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: fixture.tasks)
            let refused = await #expect(throws: QueueError.self) { try await queue.submit(try fixture.submission()) }
            #expect(refused?.kind == .refused)
            #expect(refused?.message.contains("t2") == true && refused?.message.contains("--restart-changed") == true)
            #expect(try await queue.tasks().count == 5, "a refused submit adds nothing")
            let before = try await queue.tasks().first { $0.taskID == "t2" }
            let restarted = try await queue.submit(try fixture.submission(), restartChanged: true)
            #expect(restarted.added == 1 && restarted.restarted == ["t2"] && restarted.unchanged == 4)
            let after = try await queue.tasks().first { $0.taskID == "t2" }
            #expect(before?.runID != after?.runID, "a restarted task gets a journal of its own")
        }
    }

    @Test func theStoredSpecIsSelfContainedAndItsWorkspaceRelative() throws {
        let fixture = try QueueFixture(baseURL: "http://127.0.0.1:9/v1", tasks: 1)
        defer { fixture.remove() }
        let submission = try fixture.submission()
        #expect(submission.bundle["workspace"] == "ws")
        let manifests = submission.bundle["manifests"]?.objectValue ?? [:]
        #expect(manifests.count == 1)
        #expect(manifests.values.first?["name"] == "mark")
        #expect(submission.bundle["spec"]?["workspace"]?["root"] == nil)
        // Loaded on a "worker" from the bundle alone, in a folder that has none of the submitter's files.
        let elsewhere = FileManager.default.temporaryDirectory.appendingPathComponent("errand-bundle-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: elsewhere) }
        let bundle = try SpecBundle.materialize(submission.bundle, into: elsewhere, environment: QueueFixture.environment)
        #expect(bundle.spec.toolNames == ["mark"])
        #expect(bundle.workspace == "ws")
        // A workspace outside the submit's folder cannot be named to a worker.
        let error = #expect(throws: QueueError.self) {
            try Submission.prepare(
                specFile: fixture.spec, tasksFile: fixture.tasks, currentFolder: fixture.folder.appendingPathComponent("agents"),
                environment: QueueFixture.environment)
        }
        #expect(error?.message.contains("outside the folder") == true)
    }

    @Test func budgetsGivenAtSubmitTravelInTheStoredSpec() throws {
        let fixture = try QueueFixture(baseURL: "http://127.0.0.1:9/v1", tasks: 1)
        defer { fixture.remove() }
        let submission = try Submission.prepare(
            specFile: fixture.spec, tasksFile: fixture.tasks, currentFolder: fixture.folder, environment: QueueFixture.environment,
            maxTotalTokens: 5000)
        #expect(submission.bundle["spec"]?["limits"]?["max_total_tokens"] == 5000)
        // A worker reads them as any spec's limits.
        let elsewhere = FileManager.default.temporaryDirectory.appendingPathComponent("errand-bundle-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: elsewhere) }
        let bundle = try SpecBundle.materialize(submission.bundle, into: elsewhere, environment: QueueFixture.environment)
        #expect(bundle.spec.limits.maxTotalTokens == 5000)
        // A cost budget for a model with no price is refused at submit, saying how to give one.
        let error = #expect(throws: QueueError.self) {
            try Submission.prepare(
                specFile: fixture.spec, tasksFile: fixture.tasks, currentFolder: fixture.folder, environment: QueueFixture.environment, maxCostUSD: 1)
        }
        #expect(error?.message.contains("needs the price of scripted") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("--pricing FILE") == true)
    }

    // MARK: Claims and leases

    @Test func claimsSkipEachOthersRowsFollowPriorityAndKeepToTheQueuesConcurrency() async throws {
        let fixture = try QueueFixture(baseURL: "http://127.0.0.1:9/v1", tasks: 12)
        defer { fixture.remove() }
        try await withQueueDatabase { database in
            let queue = TaskQueue(database: database)
            _ = try await queue.submit(try fixture.submission(batch: "low"))
            _ = try await queue.submit(try fixture.submission(batch: "high"), priority: 5)
            // Two workers claiming at once never get the same task.
            async let a = queue.claim(worker: "a", limit: 6, lease: .seconds(30))
            async let b = queue.claim(worker: "b", limit: 6, lease: .seconds(30))
            let (first, second) = try await (a, b)
            let ids = (first + second).map(\.lease.taskID)
            #expect(ids.count == 12 && Set(ids).count == 12)
            #expect((first + second).allSatisfy { $0.batch == "high" }, "priority first")
            // The queue's shared limit holds over all workers.
            try await queue.configure(maxConcurrency: 14, requestsPerMinute: nil, tokensPerMinute: nil)
            let third = try await queue.claim(worker: "c", limit: 10, lease: .seconds(30))
            #expect(third.count == 2)
            #expect(try await queue.claim(worker: "d", limit: 10, lease: .seconds(30)).isEmpty)
            #expect(third.allSatisfy { $0.batch == "low" })
        }
    }

    @Test func aWorkerThatLostItsLeaseCannotAppendAndTheTakerGoesOn() async throws {
        let fixture = try QueueFixture(baseURL: "http://127.0.0.1:9/v1", tasks: 1)
        defer { fixture.remove() }
        try await withQueueDatabase { database in
            let queue = TaskQueue(database: database)
            _ = try await queue.submit(try fixture.submission())
            let held = try #require(try await queue.claim(worker: "slow", limit: 1, lease: .seconds(1)).first)
            let slow = PostgresRunStore(database: database, lease: held.lease)
            let journal = try await slow.openJournal(runID: held.runID, policy: JournalPolicy())
            try await journal.append(.runResumed(.init(turn: 0)), runID: held.runID)
            // Its lease runs out (a pause, a partition) and another worker takes the task.
            try await Task.sleep(for: .milliseconds(1300))
            let taken = try #require(try await queue.claim(worker: "fast", limit: 1, lease: .seconds(30)).first)
            #expect(taken.lease.epoch == held.lease.epoch + 1)
            let error = await #expect(throws: CoreError.self) { try await journal.append(.runResumed(.init(turn: 1)), runID: held.runID) }
            #expect(error?.description.contains("lease") == true)
            let fast = PostgresRunStore(database: database, lease: taken.lease)
            let next = try await fast.openJournal(runID: taken.runID, policy: JournalPolicy())
            try await next.append(.runResumed(.init(turn: 1)), runID: taken.runID)
            // Its heartbeat finds the lease gone too, and its end is not recorded.
            let (lost, _) = try await queue.heartbeat(worker: "slow", leases: [held.lease], lease: .seconds(30))
            #expect(lost == [held.lease.taskID])
            #expect(try await queue.finish(held, state: "completed", result: RunResult(runID: held.runID, status: .completed), line: [:]) == false)
            let rows = try await database.run("test") { client in
                var rows: [(Int, Int64, String?)] = []
                for try await row in try await client.query("SELECT seq, epoch, worker FROM errand_journal WHERE run_id = \(held.runID) ORDER BY seq")
                    .decode((Int, Int64, String?).self) { rows.append(row) }
                return rows
            }
            #expect(rows.map(\.0) == [0, 1])
            #expect(rows.map(\.1) == [held.lease.epoch, taken.lease.epoch])
            #expect(rows.map(\.2) == ["slow", "fast"])
        }
    }

    @Test func aTaskWhoseLeaseKeepsExpiringFailsInsteadOfTakingTheFleetDown() async throws {
        let fixture = try QueueFixture(baseURL: "http://127.0.0.1:9/v1", tasks: 1)
        defer { fixture.remove() }
        try await withQueueDatabase { database in
            let queue = TaskQueue(database: database)
            _ = try await queue.submit(try fixture.submission())
            // Every worker that takes it dies (its lease runs out): taken five times, then failed, naming why.
            for attempt in 1...TaskQueue.maxExpirations {
                #expect(try await queue.claim(worker: "doomed-\(attempt)", limit: 1, lease: .milliseconds(300)).count == 1, "claim \(attempt)")
                try await Task.sleep(for: .milliseconds(400))
            }
            #expect(try await queue.claim(worker: "next", limit: 1, lease: .seconds(30)).isEmpty)
            let task = try #require(try await queue.tasks().first)
            #expect(task.state == "failed" && task.attempts == TaskQueue.maxExpirations)
            #expect(task.error?.contains("lease expired 5 times") == true)
            // A retry gives it a fresh count.
            try await queue.retry(task: task.id)
            #expect(try await queue.claim(worker: "fixed", limit: 1, lease: .seconds(30)).count == 1)
        }
    }

    @Test func cancelAndRetrySayWhatTheyDidAndRefuseWhatTheyCannot() async throws {
        let fixture = try QueueFixture(baseURL: "http://127.0.0.1:9/v1", tasks: 3)
        defer { fixture.remove() }
        try await withQueueDatabase { database in
            let queue = TaskQueue(database: database)
            _ = try await queue.submit(try fixture.submission())
            let tasks = try await queue.tasks()
            #expect(try await queue.cancel(task: tasks[0].id) == .cancelled)
            let again = await #expect(throws: QueueError.self) { try await queue.cancel(task: tasks[0].id) }
            #expect(again?.message.contains("already cancelled") == true)
            let missing = await #expect(throws: QueueError.self) { try await queue.cancel(task: 999_999) }
            #expect(missing?.kind == .notFound)
            let running = try #require(try await queue.claim(worker: "w", limit: 1, lease: .seconds(30)).first)
            #expect(try await queue.cancel(task: running.lease.taskID) == .requested)
            let (_, cancel) = try await queue.heartbeat(worker: "w", leases: [running.lease], lease: .seconds(30))
            #expect(cancel == [running.lease.taskID])
            try await queue.retry(task: tasks[0].id)
            #expect(try await queue.tasks(state: "queued").map(\.id).contains(tasks[0].id))
            let notFailed = await #expect(throws: QueueError.self) { try await queue.retry(task: tasks[0].id) }
            #expect(notFailed?.message.contains("queued") == true)
            await #expect(throws: QueueError.self) { try await queue.tasks(state: "sleeping") }
            let (cancelled, requested) = try await queue.cancel(batch: "marker-tasks")
            #expect(cancelled == 2 && requested == 1)
        }
    }

    // MARK: Journals

    @Test func aRunJournaledInTheDatabaseReadsAndResumesAsFromAFile() async throws {
        try await withQueueDatabase { database in
            try await ScriptedResponsesServer.withServer(responder: markingResponder(steps: 2)) { server in
                let store = PostgresRunStore(database: database)
                var tools = ToolRegistry()
                try tools.register(name: "mark", description: "Marks.", parameters: ["type": "object", "properties": ["n": ["type": "integer"]]]) { _, _ in "ok" }
                let agent = Agent(model: "scripted", tools: tools)
                let files = FileManager.default.temporaryDirectory.appendingPathComponent("errand-pg-vs-file-\(UUID().uuidString.prefix(8))")
                defer { try? FileManager.default.removeItem(at: files) }
                let fileStore = FileRunStore(folder: files)
                try await ResponsesClient.withClient(provider: server.provider, configuration: .loopbackTests()) { client in
                    let runner = Runner(client: client)
                    let inDatabase = await runner.run(agent, input: "task one", store: store, runID: "db-run")
                    let inFile = await runner.run(agent, input: "task one", store: fileStore, runID: "file-run")
                    #expect(inDatabase.status == .completed && inDatabase.toolCalls.count == 2)
                    let rows = try #require(try await store.records(runID: "db-run"))
                    let lines = try #require(try await fileStore.records(runID: "file-run"))
                    #expect(rows.map(\.event.type) == lines.map(\.event.type), "the same steps, in the same encoding")
                    let replayed = try RunState(replaying: rows).result(journal: nil)
                    #expect(replayed.finalText == inDatabase.finalText && replayed.toolCalls.count == 2)
                    #expect(inDatabase.journal == nil && inFile.journal != nil)
                    // Resuming a settled run gives its result without a request.
                    let before = server.requests.count
                    let resumed = try await runner.resume(agent, runID: "last", store: store)
                    #expect(resumed.status == .completed && server.requests.count == before)
                    let listed = try await store.list()
                    #expect(listed.map(\.runID) == ["db-run"] && listed.first?.status == .completed)
                    // A second writer of the same run is refused, not interleaved.
                    let one = try await store.openJournal(runID: "db-run", policy: JournalPolicy())
                    let two = try await store.openJournal(runID: "db-run", policy: JournalPolicy())
                    try await one.append(.inputAdded(.init(input: [.user("more")])), runID: "db-run")
                    await #expect(throws: CoreError.self) { try await two.append(.inputAdded(.init(input: [.user("other")])), runID: "db-run") }
                }
            }
        }
    }

    @Test func theAPIKeyNeverReachesTheJournalRows() async throws {
        try await withQueueDatabase { database in
            try await ScriptedResponsesServer.withServer(responder: { conversation in
                conversation.toolOutputs.isEmpty ? .calls(.call("echo", ["text": "key is sk-secret-0123456789abcdef"])) : .message("ok")
            }) { server in
                var provider = server.provider
                provider.apiKey = APIKey("sk-secret-0123456789abcdef")
                var tools = ToolRegistry()
                try tools.register(name: "echo", description: "Echoes.", parameters: ["type": "object", "properties": ["text": ["type": "string"]]]) { arguments, _ in
                    .text(arguments["text"]?.stringValue ?? "")
                }
                try await ResponsesClient.withClient(provider: provider, configuration: .loopbackTests()) { client in
                    let result = await Runner(client: client).run(Agent(model: "m", tools: tools), input: "go", store: PostgresRunStore(database: database), runID: "secret-run")
                    #expect(result.status == .completed)
                }
                let text = try await database.run("test") { client in
                    var all = ""
                    for try await line in try await client.query("SELECT record::text FROM errand_journal").decode(String.self) { all += line }
                    return all
                }
                #expect(!text.isEmpty && !text.contains("sk-secret-0123456789abcdef"))
                #expect(text.contains("[redacted]"))
            }
        }
    }
}
