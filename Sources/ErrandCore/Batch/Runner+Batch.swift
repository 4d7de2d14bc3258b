import Foundation
import ResponsesAPI

extension Runner {
    /// Runs many tasks, up to `concurrency` at once, all through this runner's client (one connection pool, one rate
    /// gate), each journaled in `folder` as `<id>.jsonl` (see ``BatchManifest/journalName(forTask:)``). A task whose journal records
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
        let name = BatchManifest.journalName(forTask: task.id)
        let journal = BatchManifest.journal(forTask: task.id, in: folder)
        let events: @Sendable (RunEvent) -> Void = { onEvent(task.id, $0) }
        if FileManager.default.fileExists(atPath: journal.path) {
            do {
                let state = try RunState(replaying: try Journal.read(journal))
                if !state.isSettled, let spent = sharedBudget?.exhausted { return notStarted(task, spent: spent, journal: journal, runID: state.runID) }
                let result = try await resume(task.agent, state: state, journal: journal, options: options, onEvent: events)
                return BatchResult(id: task.id, result: result, origin: state.isSettled ? .journaled : .resumed)
            } catch {
                // A journal that cannot be taken up (another agent, an unreadable file) is this task's failure, said.
                var result = RunState(runID: name).result(journal: journal)
                result.error = "\(error)"
                return BatchResult(id: task.id, result: result, origin: .resumed)
            }
        }
        if let spent = sharedBudget?.exhausted { return notStarted(task, spent: spent, journal: nil, runID: name) }
        let result = await run(task.agent, input: task.input, journal: journal, runID: name, onEvent: events)
        return BatchResult(id: task.id, result: result, origin: .started)
    }

    /// A task the batch's budget left unstarted (or not resumed): running the batch again with a larger budget runs it.
    private func notStarted(_ task: BatchTask, spent: String, journal: URL?, runID: String) -> BatchResult {
        var result = RunResult(runID: runID, status: .budgetExceeded, journal: journal)
        result.error = "not \(journal == nil ? "started" : "resumed"): \(spent); run the batch again with a larger --batch-max-cost to go on"
        result.incompleteReason = "shared_budget"
        return BatchResult(id: task.id, result: result, origin: .notStarted)
    }
}
