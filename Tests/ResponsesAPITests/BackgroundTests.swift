import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

/// Background mode and answers that are not done yet, over loopback: polling, stream resumption decided from what the
/// server said, and cancelling on the server when the caller gives up.
@Suite(.timeLimit(.minutes(3))) struct BackgroundTests {
    static let poem = "The moon rose slow over quiet water, and every ripple kept a little of its light."

    @Test func aBackgroundCreateIsPolledFromQueuedThroughInProgressToCompleted() async throws {
        try await withScripted([ScriptedTurn(output: [.message("done in the background")], backgroundPolls: 3)]) { client, server in
            let queued = try await client.create(CreateResponseRequest(model: "m", input: "x", background: true), waitUntilDone: false)
            #expect(queued.status == .queued)
            #expect(queued.background == true)
            let response = try await client.waitUntilDone(queued.id)
            #expect(response.status == .completed)
            #expect(response.outputText == "done in the background")
            let polls = server.requests.filter { $0.method == "GET" }
            #expect(polls.count == 4, "three polls answer in_progress, the fourth the final response")
            #expect(polls.allSatisfy { $0.endpoint == "/responses/\(queued.id)" && $0.query.isEmpty })
        }
    }

    @Test func createWaitsForABackgroundResponseByDefault() async throws {
        try await withScripted([ScriptedTurn(output: [.message("waited for")], backgroundPolls: 2)]) { client, server in
            let response = try await client.create(CreateResponseRequest(model: "m", input: "x", background: true))
            #expect(response.status == .completed)
            #expect(response.outputText == "waited for")
            #expect(server.createRequests.first?.body?["background"] == true)
            #expect(server.createRequests.first?.body?["stream"] == nil)
        }
    }

    @Test func aPlainCreateAnsweredQueuedIsPolledToItsEnd() async throws {
        // Some providers answer before they are done, without background having been asked for.
        try await withScripted([ScriptedTurn(output: [.message("eventually")], backgroundPolls: 2, answersQueued: true)]) { client, server in
            let response = try await client.create(CreateResponseRequest(model: "m", input: "x"))
            #expect(response.status == .completed)
            #expect(response.outputText == "eventually")
            #expect(server.createRequests.first?.body?["background"] == nil)
            #expect(server.requests.filter { $0.method == "GET" }.count == 3)
        }
    }

    @Test func aDroppedBackgroundStreamIsResumedEvenThoughTheResponseSaysStoreFalse() async throws {
        // As OpenAI does: a background response says "store": false and is still served for resumption.
        try await withScripted([ScriptedTurn.message(Self.poem).droppingStream(afterEvents: 9)]) { client, server in
            var numbers: [Int] = []
            var text = ""
            var sawQueued = false
            let request = CreateResponseRequest(model: "m", input: "x", store: false, background: true)
            let response = try await client.stream(request).finalResponse { event in
                if let number = event.sequenceNumber { numbers.append(number) }
                if case .queued = event { sawQueued = true }
                if case .outputTextDelta(let delta) = event { text += delta.delta }
            }
            #expect(sawQueued)
            #expect(response.store == false)
            #expect(response.background == true)
            #expect(text == Self.poem)
            #expect(response.outputText == Self.poem)
            #expect(numbers == Array(0..<numbers.count), "every event exactly once, in order")
            let resume = try #require(server.requests.first { $0.method == "GET" })
            #expect(resume.endpoint == "/responses/\(response.id)")
            #expect(resume.query == ["stream": "true", "starting_after": "8"])
        }
    }

    @Test func theServersWordDecidesWhetherAStreamIsResumable() async throws {
        // The request asked for background mode, but the server answered a plain, unstored response: not resumable.
        let events: [JSONValue] = [
            ["type": "response.created", "sequence_number": 0, "response": ["id": "resp_x", "status": "in_progress", "store": false, "background": false, "output": []]],
            ["type": "response.output_text.delta", "sequence_number": 1, "item_id": "m", "output_index": 0, "content_index": 0, "delta": "Hel"],
            ["type": "response.output_text.delta", "sequence_number": 2, "item_id": "m", "output_index": 0, "content_index": 0, "delta": "lo"],
        ]
        try await withScripted([ScriptedTurn.events(events)]) { client, server in
            let error = await #expect(throws: ResponsesError.self) {
                _ = try await client.stream(CreateResponseRequest(model: "m", input: "x", background: true)).finalResponse()
            }
            #expect(error?.kind == .streamInterrupted)
            #expect(error?.message.contains("neither stores the response nor runs it in background mode") == true)
            #expect(error?.partialResponse?.outputText == "Hello")
            #expect(!server.requests.contains { $0.method == "GET" })
        }
    }

    @Test func cancellingABackgroundStreamCancelsItOnTheServer() async throws {
        let turn = ScriptedTurn(output: [.message(Self.poem)], backgroundPolls: 1000).pacing(.milliseconds(100))
        try await withScripted([turn]) { client, server in
            let started = AsyncStream.makeStream(of: String.self)
            let task = Task {
                try await client.stream(CreateResponseRequest(model: "m", input: "x", background: true)).finalResponse { event in
                    if case .queued(let e) = event { started.continuation.yield(e.response.id) }
                }
            }
            var ids = started.stream.makeAsyncIterator()
            let id = try #require(await ids.next())
            task.cancel()
            await #expect(throws: CancellationError.self) { _ = try await task.value }
            let cancel = try #require(server.requests.first { $0.method == "POST" && $0.endpoint == "/responses/\(id)/cancel" })
            #expect(cancel.body == nil)
            #expect(server.storedStatus(id) == "cancelled")
        }
    }

    @Test func cancellingAWaitDoesNotCancelWhenTheCallerLeavesItRunning() async throws {
        var configuration = fastConfiguration()
        configuration.cancelBackgroundOnCancellation = false
        try await withScripted([ScriptedTurn(output: [.message("later")], backgroundPolls: 10_000)], configuration: configuration) { client, server in
            let queued = try await client.create(CreateResponseRequest(model: "m", input: "x", background: true), waitUntilDone: false)
            let task = Task { try await client.waitUntilDone(queued.id) }
            try await waitUntil("the first poll", pollEvery: .milliseconds(5)) { server.requests.contains { $0.method == "GET" } }
            task.cancel()
            await #expect(throws: CancellationError.self) { _ = try await task.value }
            #expect(!server.requests.contains { $0.endpoint.hasSuffix("/cancel") })
            #expect(server.storedStatus(queued.id) == "in_progress")
        }
    }

    @Test func aStreamAnsweredWithAResponseThatIsNotDoneIsPolled() async throws {
        // A server that ignores stream: true and answers a background request with the queued response as JSON.
        let turn = ScriptedTurn(output: [.message("polled instead")], backgroundPolls: 2, answersQueued: true)
        try await withScripted([turn]) { client, server in
            // The scripted server streams whenever asked, so ask without `stream` through a custom body: use `extra`.
            var request = CreateResponseRequest(model: "m", input: "x")
            request.extra["stream"] = false
            let response = try await client.stream(request).finalResponse()
            #expect(response.status == .completed)
            #expect(response.outputText == "polled instead")
            #expect(server.requests.filter { $0.method == "GET" }.count == 3)
        }
    }

    @Test func pollingBacksOffAndIsCapped() {
        let policy = PollPolicy(initialInterval: .milliseconds(250), multiplier: 2, maxInterval: .seconds(4))
        let waits = (0..<8).map { policy.interval(beforePoll: $0) }
        #expect(waits == [.milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(4), .seconds(4), .seconds(4)])
        #expect(PollPolicy.every(.milliseconds(30)).interval(beforePoll: 50) == .milliseconds(30))
        // Nonsense never makes a wait negative, infinite or shorter than the first.
        let odd = PollPolicy(initialInterval: .milliseconds(100), multiplier: .nan, maxInterval: .milliseconds(10))
        #expect(odd.interval(beforePoll: 3) == .milliseconds(100))
    }
}
