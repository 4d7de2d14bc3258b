import ErrandCore
@testable import ErrandQueue
import ErrandTesting
import Foundation
import ResponsesAPI
import Synchronization
import Testing

@Suite(.enabled(if: postgresMissing == nil, "needs PostgreSQL's initdb (apt-get install postgresql): \(postgresMissing ?? "")"))
struct FlowControlTests {
    /// Runs two workers on the fixture's tasks until all complete.
    func runTwoWorkers(_ queue: TaskQueue, _ fixture: QueueFixture, window: Duration) async throws {
        var workers: [(WorkerStop, Task<Void, any Error>)] = []
        for name in ["a", "b"] {
            var configuration = workerConfiguration(fixture, name: name)
            configuration.rateWindow = window
            let worker = QueueWorker(queue: queue, configuration: configuration)
            let stop = WorkerStop()
            workers.append((stop, Task { try await worker.run(until: stop) }))
        }
        let total = try await queue.tasks().count
        try await waitUntil("every task to complete", timeout: .seconds(60)) { try await queue.status().counts["completed"] == total }
        for (stop, task) in workers {
            stop.graceful()
            try await task.value
        }
    }

    @Test func theQueuesRequestLimitHoldsOverAllWorkers() async throws {
        try await ScriptedResponsesServer.withServer(responder: markingResponder(steps: 1)) { server in
            let fixture = try QueueFixture(baseURL: server.provider.baseURL, tasks: 6)
            defer { fixture.remove() }
            try await withQueueDatabase { database in
                let queue = TaskQueue(database: database)
                try await queue.configure(maxConcurrency: nil, requestsPerMinute: 4, tokensPerMinute: nil)
                _ = try await queue.submit(try fixture.submission())
                // A "minute" of 3 s: at most 4 requests in any 3 s, over both workers. Arrivals are checked over 2 s,
                // leaving a second for a request admitted at once to arrive late on a loaded machine.
                try await runTwoWorkers(queue, fixture, window: .seconds(3))
                let times = server.requests.filter(\.isCreate).map(\.receivedAt).sorted()
                #expect(times.count == 12)
                for (index, start) in times.enumerated() {
                    let inWindow = times[index...].prefix { $0 - start < .seconds(2) }.count
                    #expect(inWindow <= 4, "\(inWindow) requests within 2 s of request \(index)")
                }
                #expect(times.last! - times.first! >= .milliseconds(5500), "12 requests at 4 per 3 s take two full windows at least")
            }
        }
    }

    @Test func aRetryAfterHoldsEveryWorkersNextRequest() async throws {
        let refused = Mutex(false)
        let responder = markingResponder(steps: 8, pace: .milliseconds(120))
        try await ScriptedResponsesServer.withServer(responder: { conversation in
            if conversation.toolOutputs.count == 1, refused.withLock({ done in defer { done = true }; return !done }) {
                return .error(status: 429, message: "slow down", type: "rate_limit_error", headers: ["retry-after": "3"])
            }
            return responder(conversation)
        }) { server in
            let fixture = try QueueFixture(baseURL: server.provider.baseURL, tasks: 8)
            defer { fixture.remove() }
            let completed = try await withQueueDatabase { database in
                let queue = TaskQueue(database: database)
                _ = try await queue.submit(try fixture.submission())
                try await runTwoWorkers(queue, fixture, window: .seconds(60))
                return try await queue.status().counts["completed"] ?? 0
            }
            #expect(completed == 8)
            let creates = server.requests.filter(\.isCreate)
            // The refused request is the first to carry a tool output; find when it came.
            let withOutputs = creates.filter { request in
                (request.body?["input"]?.arrayValue ?? []).contains { $0["type"] == "function_call_output" }
            }
            let refusedAt = try #require(withOutputs.first).receivedAt
            let during = creates.filter { $0.receivedAt - refusedAt > .milliseconds(1000) && $0.receivedAt - refusedAt < .milliseconds(2800) }
            #expect(during.count == 0, "\(during.count) requests went out while the provider asked every worker to wait")
        }
    }
}
