import ErrandCore
import ErrandTesting
import Foundation
import ResponsesAPI
import Synchronization
import Testing

/// `Runner.runBatch`: many tasks through one client, a bound on how many run at once, a rerun that skips what finished
/// and resumes what was stopped, and a cancellation that still delivers every running task's result.
@Suite(.timeLimit(.minutes(3))) struct BatchTests {
    /// Calls `sleep` once with the task as its label, then answers "done: <task>".
    static func sleepThenAnswer(ms: Int) -> @Sendable (ScriptedConversation) -> ScriptedTurn {
        { conversation in
            if conversation.toolOutputs.isEmpty {
                return .calls(.call("sleep", ["ms": .number(Double(ms)), "label": .string(conversation.task)]))
            }
            return .message("done: \(conversation.task)")
        }
    }

    func tasks(_ count: Int, agent: Agent) -> [BatchTask] {
        (1...count).map { BatchTask(id: "task-\($0)", agent: agent, input: .text("job \($0)")) }
    }

    func collect(_ results: BatchResults) async -> [BatchResult] {
        var all: [BatchResult] = []
        for await result in results { all.append(result) }
        return all
    }

    @Test func runsUpToTheBoundAtOnceAndARerunSkipsWhatFinished() async throws {
        let concurrency = Concurrency()
        // Each call waits (up to 5 s) until three are in at once: three at once is shown without depending on timing.
        let agent = Agent(model: "m", tools: try registry([Sleep(concurrency: concurrency, gather: 3)]))
        let folder = try temporaryDirectory()
        try await ScriptedResponsesServer.withServer(responder: Self.sleepThenAnswer(ms: 80)) { server in
            try await ResponsesClient.withClient(provider: server.provider, configuration: fastClientConfiguration()) { client in
                let runner = Runner(client: client)
                let first = await collect(runner.runBatch(tasks(12, agent: agent), concurrency: 3, folder: folder))
                #expect(first.count == 12)
                #expect(Set(first.map(\.id)).count == 12)
                #expect(first.allSatisfy { $0.result.status == .completed && $0.origin == .started })
                #expect(first.allSatisfy { $0.result.finalText == "done: job \($0.id.dropFirst(5))" }, "each task got its own conversation")
                #expect(concurrency.peak == 3, "at most three at once, and three did run at once")
                #expect(server.createRequests.count == 24)
                let journals = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".jsonl") }
                #expect(journals.count == 12)

                let again = await collect(runner.runBatch(tasks(12, agent: agent), concurrency: 3, folder: folder))
                #expect(again.count == 12)
                #expect(again.allSatisfy { $0.origin == .journaled && $0.result.status == .completed })
                #expect(server.createRequests.count == 24, "nothing was sent again")
            }
        }
    }

    @Test func cancellingTheReaderStopsTheRunningTasksAndStillDeliversThem() async throws {
        let concurrency = Concurrency()
        let agent = Agent(model: "m", tools: try registry([Sleep(concurrency: concurrency)]))
        let folder = try temporaryDirectory()
        try await ScriptedResponsesServer.withServer(responder: Self.sleepThenAnswer(ms: 20_000)) { server in
            try await ResponsesClient.withClient(provider: server.provider, configuration: fastClientConfiguration()) { client in
                let runner = Runner(client: client)
                let reader = Task { await collect(runner.runBatch(tasks(5, agent: agent), concurrency: 2, folder: folder)) }
                try await waitUntil("two tasks running at once", timeout: .seconds(20), pollEvery: .milliseconds(10)) { concurrency.peak >= 2 }
                try #require(concurrency.peak == 2)
                let cancelledAt = ContinuousClock.now
                reader.cancel()
                let stopped = await reader.value
                #expect(ContinuousClock.now - cancelledAt < .seconds(5), "the sleeping tools were cancelled, not waited for")
                #expect(stopped.count == 2, "the two running tasks delivered their results; the other three never started")
                #expect(stopped.allSatisfy { $0.result.status == .cancelled })
                for result in stopped {
                    let journal = try #require(result.result.journal)
                    let state = try RunState(replaying: try Journal.read(journal))
                    #expect(state.finished?.status == .cancelled, "the journal says how the run ended")
                }
            }
        }
        // The next batch goes on with the stopped tasks and starts the rest.
        try await ScriptedResponsesServer.withServer(responder: Self.sleepThenAnswer(ms: 5)) { server in
            try await ResponsesClient.withClient(provider: server.provider, configuration: fastClientConfiguration()) { client in
                let resumed = await collect(Runner(client: client).runBatch(tasks(5, agent: agent), concurrency: 2, folder: folder))
                #expect(resumed.count == 5)
                #expect(resumed.allSatisfy { $0.result.status == .completed }, "\(resumed.map { ($0.id, $0.result.status, $0.result.error ?? "") })")
                #expect(resumed.filter { $0.origin == .resumed }.count == 2)
                #expect(resumed.filter { $0.origin == .started }.count == 3)
            }
        }
    }

    @Test func aCancelledRunResumesWhereItStopped() async throws {
        let concurrency = Concurrency()
        let agent = Agent(model: "m", tools: try registry([Sleep(concurrency: concurrency)]))
        let journal = try temporaryDirectory().appendingPathComponent("run.jsonl")
        try await ScriptedResponsesServer.withServer(responder: Self.sleepThenAnswer(ms: 20_000)) { server in
            try await ResponsesClient.withClient(provider: server.provider, configuration: fastClientConfiguration()) { client in
                let runner = Runner(client: client)
                let run = Task { await runner.run(agent, input: "job", journal: journal) }
                try await waitUntil("the sleeping tool to run", pollEvery: .milliseconds(10)) { concurrency.peak >= 1 }
                run.cancel()
                #expect(await run.value.status == .cancelled)
                server.enqueue([.message("picked up again")])
                let resumed = try await runner.resume(agent, journal: journal)
                #expect(resumed.status == .completed)
                #expect(resumed.finalText == "picked up again")
                let sent = try #require(server.createRequests.last)
                #expect(sent.functionOutputs.count == 1, "the cancelled call is answered, not run again")
            }
        }
    }

    @Test func journalNamesAreSafeAndDistinct() {
        #expect(BatchManifest.journalName(forTask: "ticket-42") == "ticket-42")
        let slash = BatchManifest.journalName(forTask: "a/b")
        let under = BatchManifest.journalName(forTask: "a_b")
        #expect(slash != under)
        #expect(!slash.contains("/"))
        #expect(!BatchManifest.journalName(forTask: "../etc").hasPrefix("."))
        #expect(!BatchManifest.journalName(forTask: "").isEmpty)
        #expect(BatchManifest.journalName(forTask: String(repeating: "x", count: 500)).count <= 80)
        #expect(BatchManifest.journalName(forTask: "Task").lowercased() != BatchManifest.journalName(forTask: "task").lowercased(), "distinct on a case-insensitive disk")
    }
}
