import Foundation
import ResponsesAPI
import Synchronization

/// One task of a batch: an id (unique in the batch, and the name of its journal), the agent to run and its input.
public struct BatchTask: Sendable {
    /// The task's id, as the tasks file names it.
    public var id: String
    /// The agent that runs it.
    public var agent: Agent
    /// The input.
    public var input: ResponseInput

    /// Creates a task.
    public init(id: String, agent: Agent, input: ResponseInput) {
        self.id = id
        self.agent = agent
        self.input = input
    }
}

/// How one task of a batch ended.
public struct BatchResult: Sendable {
    /// How a task came to its result.
    public enum Origin: String, Sendable, Hashable {
        /// It ran from the start.
        case started
        /// Its journal was cut (a kill, a Ctrl-C): it went on from there.
        case resumed
        /// Its journal records its end from an earlier run of the batch: it was not run again.
        case journaled
    }

    /// The task's id.
    public var id: String
    /// How the run ended.
    public var result: RunResult
    /// How it came to it.
    public var origin: Origin
}

extension Runner {
    /// The journal file of a task in a batch's folder: its id, with characters unsafe in a file name replaced, and a
    /// digest of the id added when anything was replaced or the id has capitals (so that two ids never share a file,
    /// on a case-insensitive disk too).
    public static func journalName(forTask id: String) -> String {
        var safe = String(String.UnicodeScalarView(id.unicodeScalars.map { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || scalar == "-" || scalar == "_" || scalar == ".") ? scalar : "_"
        }))
        if safe == id, !safe.isEmpty, !safe.hasPrefix("."), safe.count <= 80, !safe.contains(where: \.isUppercase) { return safe }
        while safe.hasPrefix(".") { safe.removeFirst() }
        return "\(safe.isEmpty ? "task" : String(safe.prefix(64)))-\(StableDigest.hex(id.utf8).prefix(8))"
    }

    /// Runs many tasks, up to `concurrency` at once, all through this runner's client (one connection pool, one rate
    /// gate), each journaled in `folder` as `<id>.jsonl` (see ``journalName(forTask:)``). A task whose journal records
    /// its end is not run again (its recorded result comes back, `journaled`); one whose journal was cut, or that was
    /// stopped early (cancelled, out of time, failed), is resumed with the journal's rules (no tool runs twice); the
    /// others start. Results arrive as tasks finish, in the order they finish.
    ///
    /// Cancelling the task that iterates cancels every running task; the iteration then goes on until each of them
    /// has written its journal and delivered its (cancelled) result, and ends without starting the rest. Dropping the
    /// iterator early cancels the tasks too, without waiting for them.
    ///
    /// ```swift
    /// for await finished in runner.runBatch(tasks, concurrency: 8, folder: batchFolder) {
    ///     print(finished.id, finished.result.status)
    /// }
    /// ```
    public func runBatch(
        _ tasks: [BatchTask], concurrency: Int, folder: URL, options: ResumeOptions = ResumeOptions(),
        onEvent: @escaping @Sendable (String, RunEvent) -> Void = { _, _ in }
    ) -> BatchResults {
        let channel = BatchResults.Channel()
        let runner = self
        let work = Task {
            await withTaskGroup(of: BatchResult.self) { group in
                var next = 0
                func start() {
                    let task = tasks[next]
                    next += 1
                    group.addTask { await runner.runTask(task, folder: folder, options: options, onEvent: onEvent) }
                }
                while next < min(max(1, concurrency), tasks.count) { start() }
                while let finished = await group.next() {
                    channel.yield(finished)
                    if next < tasks.count, !Task.isCancelled { start() }
                }
            }
            channel.finish()
        }
        return BatchResults(channel: channel, handle: BatchResults.Handle(work: work))
    }

    /// Runs, resumes or reports one task of a batch.
    private func runTask(
        _ task: BatchTask, folder: URL, options: ResumeOptions, onEvent: @escaping @Sendable (String, RunEvent) -> Void
    ) async -> BatchResult {
        let name = Self.journalName(forTask: task.id)
        let journal = folder.appendingPathComponent("\(name).jsonl")
        let events: @Sendable (RunEvent) -> Void = { onEvent(task.id, $0) }
        if FileManager.default.fileExists(atPath: journal.path) {
            do {
                let state = try RunState(replaying: try Journal.read(journal))
                let done = state.finished.map { !$0.status.canResume } ?? false
                let result = try await resume(task.agent, journal: journal, options: options, onEvent: events)
                return BatchResult(id: task.id, result: result, origin: done ? .journaled : .resumed)
            } catch {
                // A journal that cannot be taken up (another agent, an unreadable file) is this task's failure, said.
                var result = RunState(runID: name).result(journal: journal)
                result.error = "\(error)"
                return BatchResult(id: task.id, result: result, origin: .resumed)
            }
        }
        let result = await run(task.agent, input: task.input, journal: journal, runID: name, onEvent: events)
        return BatchResult(id: task.id, result: result, origin: .started)
    }
}

/// The results of ``Runner/runBatch(_:concurrency:folder:options:onEvent:)``, as tasks finish. Iterate it once.
public struct BatchResults: AsyncSequence, Sendable {
    public typealias Element = BatchResult
    public typealias Failure = Never

    let channel: Channel
    let handle: Handle

    public func makeAsyncIterator() -> Iterator { Iterator(channel: channel, handle: handle) }

    /// Delivers results as tasks finish.
    public struct Iterator: AsyncIteratorProtocol {
        let channel: Channel
        let handle: Handle

        /// The next result; `nil` when every task started has finished. Cancelling the calling task stops the batch
        /// (see ``Runner/runBatch(_:concurrency:folder:options:onEvent:)``) but not this iteration.
        public mutating func next() async -> BatchResult? {
            let handle = self.handle
            let channel = self.channel
            return await withTaskCancellationHandler {
                await channel.next()
            } onCancel: {
                handle.work.cancel()
            }
        }
    }

    /// Cancels the batch when the last iterator (or the unused sequence) goes away.
    final class Handle: Sendable {
        let work: Task<Void, Never>
        init(work: Task<Void, Never>) { self.work = work }
        deinit { work.cancel() }
    }

    /// A buffer between the batch's task group and its reader, unlike `AsyncStream` not ended by the reader's
    /// cancellation: the cancelled tasks' results still come through.
    final class Channel: Sendable {
        private struct State {
            var buffer: [BatchResult] = []
            var head = 0
            var finished = false
            var waiter: CheckedContinuation<BatchResult?, Never>?
        }
        private let state = Mutex(State())

        func yield(_ result: BatchResult) {
            let waiter = state.withLock { state -> CheckedContinuation<BatchResult?, Never>? in
                guard let waiter = state.waiter else {
                    state.buffer.append(result)
                    return nil
                }
                state.waiter = nil
                return waiter
            }
            waiter?.resume(returning: result)
        }

        func finish() {
            let waiter = state.withLock { state -> CheckedContinuation<BatchResult?, Never>? in
                state.finished = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }

        func next() async -> BatchResult? {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> BatchResult?? in
                    if state.head < state.buffer.count {
                        defer {
                            state.head += 1
                            if state.head == state.buffer.count {
                                state.buffer.removeAll(keepingCapacity: true)
                                state.head = 0
                            }
                        }
                        return .some(state.buffer[state.head])
                    }
                    if state.finished { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }
}
