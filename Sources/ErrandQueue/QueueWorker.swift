import ErrandCore
import ErrandMCP
import ErrandSpec
import Foundation
import Logging
import PostgresNIO
import ResponsesAPI
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a worker stops: gracefully (stop claiming, let each run reach a step boundary, give its tasks back so other
/// workers resume them at once), or at once (cancel the runs; their leases simply expire).
public final class WorkerStop: Sendable {
    private let state = Mutex<(graceful: Bool, immediate: Bool)>((false, false))
    private let wake: @Sendable () -> Void

    init(wake: @escaping @Sendable () -> Void = {}) { self.wake = wake }

    /// A stop signal for a worker.
    public convenience init() { self.init(wake: {}) }

    /// Asks for a graceful stop.
    public func graceful() { state.withLock { $0.graceful = true } }
    /// Asks for an immediate stop.
    public func immediate() { state.withLock { $0 = (true, true) } }

    /// Whether any stop was asked for.
    public var isStopping: Bool { state.withLock { $0.graceful } }
    /// Whether the immediate stop was asked for.
    public var isImmediate: Bool { state.withLock { $0.immediate } }
}

/// A worker of a queue: claims tasks (`FOR UPDATE SKIP LOCKED`, priority then age), woken by `LISTEN/NOTIFY` and a
/// slow poll, runs each with the runner, journaling into the database under its lease, and records each result.
/// A heartbeat extends the leases; a task whose lease is gone is abandoned at once, and one whose cancellation was
/// asked for is cancelled. A run that finds its journal already begun is resumed (no tool runs twice, and
/// `ERRAND_CALL_ID` is the same, since the run's id is).
public final class QueueWorker: Sendable {
    /// What a worker is.
    public struct Configuration: Sendable {
        /// The queue it serves.
        public var queue: String = "default"
        /// Its name (unique among workers): by default the host and the process id.
        public var name: String = "\(QueueWorker.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
        /// How many tasks it runs at once.
        public var concurrency: Int = 4
        /// How long a claim holds without a heartbeat (renewed every third of it).
        public var lease: Duration = .seconds(30)
        /// The folder under which the submitted workspaces are found.
        public var workspaceRoot: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        /// Where `${VAR}`s and API keys are read from.
        public var environment: [String: String] = ProcessInfo.processInfo.environment
        /// How long a graceful stop waits for runs to reach a step boundary before it cancels them (they are given back
        /// either way).
        public var grace: Duration = .seconds(30)
        /// How often it looks for work when no notification comes (expired leases make no notification).
        public var poll: Duration = .seconds(2)
        /// The client's configuration (its rate limits, timeouts); the pool is sized to the concurrency.
        public var client = ResponsesClientConfiguration()
        /// The folder the stored specs are written to (a new temporary one when `nil`).
        public var specFolder: URL?
        /// The window the queue's per-minute limits are counted over (a minute; shorter in tests).
        package var rateWindow: Duration = .seconds(60)

        /// The defaults.
        public init() {}
    }

    let queue: TaskQueue
    let configuration: Configuration
    let logger: Logger
    private let running = Mutex<[Int64: Running]>([:])
    private let prepared = Mutex<[String: Task<Prepared, any Error>]>([:])
    private let clients = Mutex<[String: ResponsesClient]>([:])
    private let finishedCount = Mutex(0)
    private let gate: QueueRateGate

    private struct Running: Sendable {
        var claim: TaskQueue.Claim
        var watch: LeaseWatch
    }

    /// A stored spec, made runnable here.
    private struct Prepared: Sendable {
        var bundle: SpecBundle
        var mcp: MCPServers
    }

    /// A worker of `queue`.
    public init(queue: TaskQueue, configuration: Configuration, logger: Logger = Logger(label: "errand.worker")) {
        self.queue = queue
        var configuration = configuration
        configuration.concurrency = max(1, configuration.concurrency)
        self.configuration = configuration
        self.logger = logger
        self.gate = QueueRateGate(database: queue.database, queue: queue.name, window: configuration.rateWindow)
    }

    /// The machine's name, from gethostname(2): `ProcessInfo.hostName` can wait seconds on a DNS lookup on macOS.
    static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "host" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Tasks this worker has finished (any status).
    public var finished: Int { finishedCount.withLock { $0 } }

    /// Serves the queue until `stop` asks; returns once every run has stopped and its task was recorded or given back.
    public func run(until stop: WorkerStop) async throws(QueueError) {
        try await QueueSchema.check(queue.database)
        try await register()
        let specFolder = configuration.specFolder ?? FileManager.default.temporaryDirectory.appendingPathComponent("errand-worker-\(UUID().uuidString.prefix(8))")
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let background = [
            Task { await self.listen(wake: wake) },
            Task { await self.tick(wake: wake) },
            Task { await self.heartbeats(stop: stop) },
            Task {
                // A stop asked for from outside wakes the loop.
                while !stop.isStopping, !Task.isCancelled { try? await Task.sleep(for: .milliseconds(50)) }
                wake.yield()
            },
        ]
        let runner = makeStopCheck(stop)
        await withTaskGroup(of: Void.self) { group in
            var backoff = Duration.milliseconds(200)
            var iterator = wakes.makeAsyncIterator()
            while !stop.isStopping {
                let free = configuration.concurrency - running.withLock { $0.count }
                if free > 0 {
                    do throws(QueueError) {
                        let claims = try await queue.claim(worker: configuration.name, limit: free, lease: configuration.lease)
                        backoff = .milliseconds(200)
                        for claim in claims {
                            let watch = LeaseWatch()
                            running.withLock { $0[claim.lease.taskID] = Running(claim: claim, watch: watch) }
                            group.addTask {
                                await self.execute(claim, watch: watch, stop: stop, stopCheck: runner, specFolder: specFolder)
                                self.running.withLock { _ = $0.removeValue(forKey: claim.lease.taskID) }
                                wake.yield()
                            }
                        }
                        if claims.count == free, free > 0 { continue }  // there may be more
                    } catch {
                        logger.warning("cannot claim tasks; retrying", metadata: ["error": "\(error.message)", "in": "\(backoff)"])
                        try? await Task.sleep(for: backoff)
                        backoff = min(backoff * 2, .seconds(10))
                        continue
                    }
                }
                _ = await iterator.next()
            }
            if stop.isImmediate {
                group.cancelAll()
            } else {
                let pending = running.withLock { $0 }
                if !pending.isEmpty {
                    logger.notice("stopping: waiting for runs to reach a step boundary", metadata: ["runs": "\(pending.count)", "grace": "\(configuration.grace)"])
                }
            }
            let grace = Task {
                try? await Task.sleep(for: configuration.grace)
                guard !Task.isCancelled else { return }
                let left = running.withLock { $0 }
                if !left.isEmpty { logger.warning("the grace period is over; cancelling the runs still going", metadata: ["runs": "\(left.count)"]) }
                for run in left.values { run.watch.interrupt() }
            }
            await group.waitForAll()
            grace.cancel()
        }
        for task in background { task.cancel() }
        // Tidying up is bounded: a worker that is stopping must stop, whatever the database or a server does.
        let (_, late) = await withTimeLimit(.seconds(15)) {
            _ = try? await self.queue.database.run("unregistering the worker") { client in
                try await client.query("UPDATE errand_workers SET stopped_at = now() WHERE name = \(self.configuration.name)")
            }
            for (_, preparing) in self.prepared.withLock({ $0 }) { await (try? preparing.value)?.mcp.stop() }
            for (_, client) in self.clients.withLock({ $0 }) { try? await client.shutdown() }
        }
        if late { logger.warning("the worker's shutdown did not finish within 15 s; stopping anyway") }
        try? FileManager.default.removeItem(at: specFolder)
    }

    private func makeStopCheck(_ stop: WorkerStop) -> @Sendable () -> Bool { { stop.isStopping } }

    private func register() async throws(QueueError) {
        let (name, queueName, concurrency) = (configuration.name, queue.name, configuration.concurrency)
        let host = Self.hostName
        let pid = Int(ProcessInfo.processInfo.processIdentifier)
        try await queue.database.run("registering the worker") { client in
            try await client.query("INSERT INTO errand_queues (name) VALUES (\(queueName)) ON CONFLICT (name) DO NOTHING")
            try await client.query("""
                INSERT INTO errand_workers (name, queue, concurrency, host, pid) VALUES (\(name), \(queueName), \(concurrency), \(host), \(pid))
                ON CONFLICT (name) DO UPDATE SET queue = excluded.queue, concurrency = excluded.concurrency, host = excluded.host, pid = excluded.pid,
                    started_at = now(), heartbeat_at = now(), stopped_at = NULL
                """)
        }
    }

    // MARK: Waking

    /// LISTENs on the queue's channel on a connection of its own, reconnecting after a loss.
    private func listen(wake: AsyncStream<Void>.Continuation) async {
        let name = queue.name
        while !Task.isCancelled {
            do {
                try await queue.database.client.withConnection { connection in
                    try await connection.listen(on: TaskQueue.channel) { notifications in
                        for try await notification in notifications where notification.payload == name { wake.yield() }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.debug("listening for tasks failed; listening again", metadata: ["error": "\(queue.database.describe(error, doing: "listening").message)"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Wakes the loop every `poll`: expired leases make no notification.
    private func tick(wake: AsyncStream<Void>.Continuation) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.poll)
            wake.yield()
        }
    }

    /// Renews the leases every third of their length; a lease found gone abandons its run, a cancellation asked for cancels it.
    private func heartbeats(stop: WorkerStop) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.lease / 3)
            let held = running.withLock { $0 }
            do throws(QueueError) {
                let (lost, cancel) = try await queue.heartbeat(worker: configuration.name, leases: held.values.map(\.claim.lease), lease: configuration.lease)
                for id in lost {
                    logger.warning("lease lost; abandoning the run", metadata: ["task": "\(id)", "run_id": "\(held[id]?.claim.runID ?? "")"])
                    held[id]?.watch.leaseLost()
                }
                for id in cancel { held[id]?.watch.cancelRequested() }
            } catch {
                if Task.isCancelled { return }
                logger.warning("cannot renew leases", metadata: ["error": "\(error.message)"])
            }
        }
    }

    // MARK: Running a task

    private func execute(_ claim: TaskQueue.Claim, watch: LeaseWatch, stop: WorkerStop, stopCheck: @escaping @Sendable () -> Bool, specFolder: URL) async {
        let id = claim.lease.taskID
        var log = logger
        log[metadataKey: "task"] = "\(id)"
        log[metadataKey: "run_id"] = "\(claim.runID)"
        let store = PostgresRunStore(database: queue.database, lease: claim.lease, watch: watch)
        let outcome = Mutex<(result: RunResult, origin: BatchResult.Origin)?>(nil)
        let work = Task {
            let (result, origin) = await self.runTask(claim, store: store, stopCheck: stopCheck, specFolder: specFolder, logger: log)
            outcome.withLock { $0 = (result, origin) }
        }
        watch.attach(work)
        await withTaskCancellationHandler {
            await work.value
        } onCancel: {
            work.cancel()
        }
        guard let (result, origin) = outcome.withLock({ $0 }) else { return }
        // What the run did is recorded even when this task was cancelled (an immediate stop returns before this).
        await Task { await self.record(claim, result: result, origin: origin, watch: watch, stop: stop, logger: log) }.value
    }

    /// Records how a run ended: gives the task back (a graceful stop), or records its result; nothing when the lease is gone.
    private func record(
        _ claim: TaskQueue.Claim, result: RunResult, origin: BatchResult.Origin, watch: LeaseWatch, stop: WorkerStop, logger log: Logger
    ) async {
        if watch.isLost {
            log.notice("the run was abandoned: another worker holds it now")
            return
        }
        if stop.isImmediate { return }  // the lease expires and another worker resumes it
        // Stopped between steps for a shutdown, or ended by a journal that could not be written: the journal says where
        // the run is, and another attempt resumes it from there.
        if (result.status == .cancelled && !watch.isCancelRequested && stop.isStopping) || watch.isJournalFailed {
            do throws(QueueError) {
                try await queue.release(claim)
                log.info("given back at a step boundary")
            } catch {
                log.warning("cannot give the task back; its lease will expire", metadata: ["error": "\(error.message)"])
            }
            return
        }
        let state = result.status == .completed ? "completed" : (result.status == .cancelled && watch.isCancelRequested ? "cancelled" : "failed")
        let line = BatchResult(id: claim.taskID, result: result, origin: origin).jsonValue
        var delay = Duration.milliseconds(200)
        for attempt in 1...8 {
            do throws(QueueError) {
                if try await queue.finish(claim, state: state, result: result, line: line) {
                    finishedCount.withLock { $0 += 1 }
                } else {
                    log.notice("the task's lease was gone when its end was recorded; the worker that holds it records it")
                }
                return
            } catch {
                log.warning("cannot record the task's end; retrying", metadata: ["error": "\(error.message)", "attempt": "\(attempt)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    /// Runs or resumes the task's run; a task that cannot be made runnable here fails with the reason.
    private func runTask(
        _ claim: TaskQueue.Claim, store: PostgresRunStore, stopCheck: @escaping @Sendable () -> Bool, specFolder: URL, logger log: Logger
    ) async -> (RunResult, BatchResult.Origin) {
        let agent: Agent
        let client: ResponsesClient
        do {
            (agent, client) = try await makeAgent(for: claim, specFolder: specFolder)
        } catch {
            let message = "the task cannot run on worker \(configuration.name): \(error)"
            log.error("\(message)")
            return (RunResult(runID: claim.runID, status: .failed, error: message), .started)
        }
        var runner = Runner(client: client, logger: log)
        runner.stopRequested = stopCheck
        do {
            if try await store.records(runID: claim.runID) != nil {
                let result = try await runner.resume(agent, runID: claim.runID, store: store)
                return (result, .resumed)
            }
        } catch {
            return (RunResult(runID: claim.runID, status: .failed, error: "\(error)"), .resumed)
        }
        let input = claim.task["task"]?.stringValue ?? ""
        return (await runner.run(agent, input: .text(input), store: store, runID: claim.runID), .started)
    }

    /// The task's agent and a client for its provider: the stored spec (written and loaded once per worker, its MCP
    /// servers started once), with the task's model, turn limit and workspace.
    private func makeAgent(for claim: TaskQueue.Claim, specFolder: URL) async throws -> (Agent, ResponsesClient) {
        let prepared = try await prepare(claim.specDigest, specFolder: specFolder)
        let spec = prepared.bundle.spec
        var overrides = SpecOverrides()
        let root = configuration.workspaceRoot.standardizedFileURL
        overrides.workspace = root.appendingPathComponent(claim.task["workspace"]?.stringValue ?? prepared.bundle.workspace).standardizedFileURL
        overrides.model = claim.task["model"]?.stringValue
        overrides.maxTurns = claim.task["max_turns"]?.intValue
        let agent = try spec.agent(overrides: overrides, environment: configuration.environment, mcp: prepared.mcp)
        let provider = try spec.provider(overrides: overrides, environment: configuration.environment)
        return (agent, client(for: provider, transport: spec.transport ?? configuration.client.transport))
    }

    /// The stored spec `digest`, made runnable once: the tasks that need it at once wait for the same preparation
    /// (written into one folder, its MCP servers started once). A preparation that failed is tried again next time.
    private func prepare(_ digest: String, specFolder: URL) async throws -> Prepared {
        let preparing = prepared.withLock { prepared in
            if let task = prepared[digest] { return task }
            let task = Task { try await self.makePrepared(digest, specFolder: specFolder) }
            prepared[digest] = task
            return task
        }
        do {
            return try await preparing.value
        } catch {
            prepared.withLock { prepared in _ = prepared.removeValue(forKey: digest) }
            throw error
        }
    }

    private func makePrepared(_ digest: String, specFolder: URL) async throws -> Prepared {
        let text: String? = try await queue.database.run("reading a stored spec") { client in
            var text: String?
            for try await found in try await client.query("SELECT bundle::text FROM errand_specs WHERE digest = \(digest)").decode(String.self) { text = found }
            return text
        }
        guard let text, let bundle = try? JSONValue(parsing: text) else { throw QueueError(.notFound, "the stored spec \(digest.prefix(12)) is missing") }
        let folder = specFolder.appendingPathComponent("\(digest.prefix(16))-\(UUID().uuidString.prefix(6))")
        let made = try SpecBundle.materialize(bundle, into: folder, environment: configuration.environment)
        let mcp = try await MCPServers.start(made.spec.mcpServers, logger: logger)
        return Prepared(bundle: made, mcp: mcp)
    }

    /// One client a provider (by its base URL, key and transport: the spec's `provider.transport`), its pool (of HTTP
    /// connections, or of WebSocket connections the next task reuses) sized to the worker's concurrency.
    private func client(for provider: Provider, transport: ResponsesTransportKind) -> ResponsesClient {
        let key = "\(provider.baseURL)|\(provider.responsesWebSocketURL)|\(provider.apiKey?.value.hashValue ?? 0)|\(transport.rawValue)"
        return clients.withLock { clients in
            if let client = clients[key] { return client }
            var configuration = self.configuration.client
            configuration.transport = transport
            configuration.maxConnectionsPerHost = max(configuration.maxConnectionsPerHost, self.configuration.concurrency)
            let client = ResponsesClient(provider: provider, configuration: configuration, logger: logger, sharedGate: gate)
            clients[key] = client
            return client
        }
    }
}
