import ErrandTesting
import Foundation
import Logging
import Testing

@testable import ResponsesAPI

/// The client over real loopback HTTP against the scripted server.
@Suite(.timeLimit(.minutes(5))) struct ClientHTTPTests {
    static let poem = "The moon rose slow over quiet water, and every ripple kept a little of its light."

    // MARK: JSON and streams

    @Test func createReturnsTheWholeResponse() async throws {
        try await withScripted([.message(Self.poem)]) { client, server in
            let response = try await client.create(CreateResponseRequest(model: "gpt-4.1-mini", input: "Write a poem.", instructions: "Be brief."))
            #expect(response.outputText == Self.poem)
            #expect(response.status == .completed)
            #expect(response.id.hasPrefix("resp_"))
            #expect((response.usage?.totalTokens ?? 0) > 0)
            let request = try #require(server.createRequests.first)
            #expect(request.path == "/v1/responses")
            #expect(request.headers["authorization"] == "Bearer sk-scripted-test-key")
            #expect(request.headers["content-type"] == "application/json")
            #expect(request.body == ["model": "gpt-4.1-mini", "input": "Write a poem.", "instructions": "Be brief."])
        }
    }

    @Test func streamDeliversTypedEventsAndTheFinalResponse() async throws {
        try await withScripted([.message(Self.poem)]) { client, server in
            var events: [ResponseStreamEvent] = []
            for try await event in client.stream(CreateResponseRequest(model: "m", input: "Write a poem.")) { events.append(event) }
            guard case .created = events.first, case .completed(let done) = events.last else {
                Issue.record("expected created … completed, got \(events.first.map(String.init(describing:)) ?? "nothing")")
                return
            }
            let text = events.compactMap { if case .outputTextDelta(let d) = $0 { d.delta } else { nil } }.joined()
            #expect(text == Self.poem)
            #expect(done.response.outputText == Self.poem)
            let numbers = events.compactMap(\.sequenceNumber)
            #expect(numbers == Array(0..<events.count))
            let request = try #require(server.createRequests.first)
            #expect(request.body?["stream"] == true)
            #expect(request.headers["accept"] == "text/event-stream")
        }
    }

    @Test(arguments: [true, false])
    func withoutEchoesTheResponseKeepsItsOwnFieldsOnly(streamed: Bool) async throws {
        let tool = ResponseTool.function(FunctionTool(name: "lookup", parameters: ["type": "object", "properties": [:]]))
        let request = CreateResponseRequest(model: "m", input: "Hi", instructions: "Be brief.", tools: [tool], temperature: 0.5)
        try await withScripted([.message(Self.poem), .message(Self.poem)]) { client, _ in
            func fetch(echoes: Bool) async throws -> (Response, [ResponseStreamEvent]) {
                guard streamed else { return (try await client.create(request, echoes: echoes), []) }
                var events: [ResponseStreamEvent] = []
                let response = try await client.stream(request, echoes: echoes).finalResponse { events.append($0) }
                return (response, events)
            }
            let (full, events) = try await fetch(echoes: true)
            #expect(full.extra["tools"] != nil, "the echoed tools are kept by default")
            #expect(full.instructions == "Be brief.")
            let (lean, leanEvents) = try await fetch(echoes: false)
            #expect(lean.extra.isEmpty && lean.instructions == nil, "\(lean.extra.keys)")
            #expect(lean.outputText == full.outputText)
            #expect(lean.usage == full.usage)
            #expect(lean.status == .completed && !lean.id.isEmpty && lean.model == "m")
            for event in events + leanEvents {
                if case .created(let e) = event { #expect(e.response.extra.isEmpty && !e.response.id.isEmpty, "progress events carry no echoes") }
            }
        }
    }

    @Test func streamedFunctionCallsAreAssembled() async throws {
        let turn = ScriptedTurn.calls(.call("get_weather", ["city": "Paris"]), .call("get_time", ["zone": "Europe/Paris"]))
        try await withScripted([turn]) { client, _ in
            let response = try await client.stream(CreateResponseRequest(model: "m", input: "Weather and time?")).finalResponse()
            #expect(response.functionCalls.map(\.name) == ["get_weather", "get_time"])
            #expect(try response.functionCalls.map { try JSONValue(parsing: $0.arguments) } == [["city": "Paris"], ["zone": "Europe/Paris"]])
            #expect(Set(response.functionCalls.map(\.callID)).count == 2)
        }
    }

    // MARK: Tolerance

    @Test func umodelverseShapesReadAsTheSpec() async throws {
        try await withScripted([.message("Hi!"), .message("Hi again!")], dialect: .umodelverse) { client, server in
            let json = try await client.create(CreateResponseRequest(model: "gpt-4o", input: "Hello"))
            #expect(json.outputText == "Hi!")
            #expect(json.createdAt != nil)
            #expect(server.requests.last.flatMap { $0.body } != nil)
            var sawDone = false
            let streamed = try await client.stream(CreateResponseRequest(model: "gpt-4o", input: "Hello")).finalResponse { event in
                if case .completed = event { sawDone = true }
            }
            #expect(sawDone, "response.done is read as the terminal completed event")
            #expect(streamed.outputText == "Hi again!")
        }
    }

    @Test func missingSequenceNumbersAreTolerated() async throws {
        var dialect = ScriptedDialect()
        dialect.sequenceNumbers = false
        try await withScripted([.message(Self.poem)], dialect: dialect) { client, _ in
            var numbered = 0
            let response = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse { event in
                if event.sequenceNumber != nil { numbered += 1 }
            }
            #expect(numbered == 0)
            #expect(response.outputText == Self.poem)
        }
    }

    @Test func argumentsDoneWithoutNameTakesTheNameFromTheAddedItem() async throws {
        try await withScripted([.calls(.call("get_weather", ["city": "Oslo"]))], dialect: .openAIWire) { client, _ in
            var doneNames: [String?] = []
            let response = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse { event in
                if case .functionCallArgumentsDone(let done) = event { doneNames.append(done.name) }
            }
            #expect(doneNames == [nil])
            #expect(response.functionCalls.first?.name == "get_weather")
            #expect(response.functionCalls.first?.arguments == #"{"city":"Oslo"}"#)
        }
    }

    @Test func aCallNamedOnlyWhenAddedKeepsItsName() async throws {
        // LM Studio style: no argument deltas, `.done` without `name`, no `output_item.done`, and an empty terminal output.
        let events: [JSONValue] = [
            ["type": "response.created", "response": ["id": "r3", "status": "in_progress", "output": []]],
            ["type": "response.output_item.added", "output_index": 0, "item": ["type": "function_call", "id": "fc_9", "call_id": "call_9", "name": "read_file", "arguments": ""]],
            ["type": "response.function_call_arguments.done", "item_id": "fc_9", "output_index": 0, "arguments": #"{"path":"a.txt"}"#],
            ["type": "response.completed", "response": ["id": "r3", "status": "completed", "output": []]],
        ]
        try await withScripted([.events(events)]) { client, _ in
            let response = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse()
            #expect(response.functionCalls == [FunctionCall(id: "fc_9", callID: "call_9", name: "read_file", arguments: #"{"path":"a.txt"}"#, status: nil)])
        }
    }

    @Test func doneWithoutPrecedingDeltas() async throws {
        var dialect = ScriptedDialect()
        dialect.argumentDeltas = false
        try await withScripted([.calls(.call("f", ["a": 1]))], dialect: dialect) { client, _ in
            var deltas = 0
            let response = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse { event in
                if case .functionCallArgumentsDelta = event { deltas += 1 }
            }
            #expect(deltas == 0)
            #expect(response.functionCalls.first?.arguments == #"{"a":1}"#)
        }
    }

    @Test(arguments: [false, true])
    func errorEventFlatOrNestedIsRead(nested: Bool) async throws {
        var dialect = ScriptedDialect()
        dialect.nestedErrorEvents = nested
        let turn = ScriptedTurn(streamError: ("insufficient_quota", "You exceeded your current quota."))
        try await withScripted([turn], dialect: dialect) { client, _ in
            var errors: [ErrorEvent] = []
            let response = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse { event in
                if case .error(let error) = event { errors.append(error) }
            }
            #expect(errors.map(\.code) == ["insufficient_quota"])
            #expect(errors.first?.message == "You exceeded your current quota.")
            #expect(response.status == .failed)
            #expect(response.error?.code == "insufficient_quota")
        }
    }

    @Test func errorEventWithoutTerminalEventThrows() async throws {
        let turn = ScriptedTurn(streamError: ("server_error", "The model crashed."), failAfterStreamError: false)
        try await withScripted([turn], dialect: .openAIWire) { client, _ in
            let error = await #expect(throws: ResponsesError.self) {
                _ = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse()
            }
            #expect(error?.kind == .streamError)
            #expect(error?.providerError?.code == "server_error")
            #expect(error?.description.contains("The model crashed.") == true)
        }
    }

    @Test func idsWithoutPrefixAndExtraFields() async throws {
        var dialect = ScriptedDialect()
        dialect.prefixedIDs = false
        dialect.extraResponseFields = ["billing": ["payer": "developer"], "timings": ["predicted_ms": 3]]
        try await withScripted([.message("ok")], dialect: dialect) { client, _ in
            let response = try await client.create(CreateResponseRequest(model: "m", input: "x"))
            #expect(UUID(uuidString: response.id) != nil)
            #expect(response.extra["billing"]?["payer"] == "developer")
            let again = try await client.retrieve(response.id)
            #expect(again.outputText == "ok")
        }
    }

    @Test func terminalEventWithoutOutputIsFilledFromTheStream() async throws {
        let events: [JSONValue] = [
            ["type": "response.created", "response": ["id": "r1", "status": "in_progress", "output": []]],
            ["type": "response.output_text.delta", "item_id": "m1", "output_index": 0, "content_index": 0, "delta": "Hel"],
            ["type": "response.output_text.delta", "item_id": "m1", "output_index": 0, "content_index": 0, "delta": "lo"],
            ["type": "response.done", "response": ["id": "r1", "status": "completed", "output": []]],
        ]
        try await withScripted([.events(events)]) { client, _ in
            let response = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse()
            #expect(response.outputText == "Hello")
            #expect(response.id == "r1")
        }
    }

    @Test func doneSentinelWithoutTerminalEventEndsTheStream() async throws {
        let events: [JSONValue] = [
            ["type": "response.created", "response": ["id": "r2", "status": "in_progress", "output": []]],
            ["type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "Fine."],
        ]
        // A bare `data: [DONE]` line is how Chat-style servers end a stream.
        let done = ScriptedTurn.events(events + ["[DONE]"])
        try await withScripted([done]) { client, _ in
            let response = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse()
            #expect(response.outputText == "Fine.")
            #expect(response.status == .completed)
        }
    }

    @Test func malformedEventIsSkipped() async throws {
        let logs = CapturingLogHandler()
        let turn = ScriptedTurn(output: [.message(Self.poem)], malformedEventAt: 5)
        try await withScripted([turn], logger: Logger(label: "t", factory: { _ in logs })) { client, _ in
            let response = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse()
            #expect(response.outputText == Self.poem)
        }
        #expect(logs.lines.contains { $0.contains("skipping a stream event that cannot be read") && $0.contains("message 6 (event 'response.output_text.delta')") })
    }

    // MARK: Retries

    @Test(arguments: [408, 409, 429, 500, 502, 503, 504])
    func retryableStatusesAreRetried(status: Int) async throws {
        try await withScripted([.error(status: status, message: "try later", type: "server_error"), .message("ok")]) { client, server in
            let response = try await client.create(CreateResponseRequest(model: "m", input: "x"))
            #expect(response.outputText == "ok")
            #expect(server.createRequests.count == 2)
        }
    }

    @Test(arguments: [400, 401, 403, 404, 422])
    func otherStatusesAreNotRetried(status: Int) async throws {
        try await withScripted([.error(status: status, message: "no"), .message("never sent")]) { client, server in
            let error = await #expect(throws: ResponsesError.self) { _ = try await client.create(CreateResponseRequest(model: "m", input: "x")) }
            #expect(error?.status == status)
            #expect(server.createRequests.count == 1)
        }
    }

    @Test func xShouldRetryOverridesTheStatusRule() async throws {
        let noRetry = ScriptedTurn.error(status: 500, message: "no", type: "server_error", headers: ["x-should-retry": "false"])
        try await withScripted([noRetry, .message("never")]) { client, server in
            await #expect(throws: ResponsesError.self) { _ = try await client.create(CreateResponseRequest(model: "m", input: "x")) }
            #expect(server.createRequests.count == 1)
        }
        let retry = ScriptedTurn.error(status: 400, message: "flaky", headers: ["x-should-retry": "true"])
        try await withScripted([retry, .message("ok")]) { client, server in
            let response = try await client.create(CreateResponseRequest(model: "m", input: "x"))
            #expect(response.outputText == "ok")
            #expect(server.createRequests.count == 2)
        }
    }

    @Test func retryAfterMsAndRetryAfterAreHonoured() async throws {
        let clock = ContinuousClock()
        let ms = ScriptedTurn.error(status: 429, message: "slow down", type: "rate_limit_error", headers: ["retry-after-ms": "300"])
        try await withScripted([ms, .message("ok")]) { client, _ in
            let start = clock.now
            _ = try await client.create(CreateResponseRequest(model: "m", input: "x"))
            #expect(clock.now - start >= .milliseconds(300))
        }
        let seconds = ScriptedTurn.error(status: 503, message: "busy", type: "server_error", headers: ["retry-after": "1"])
        try await withScripted([seconds, .message("ok")]) { client, _ in
            let start = clock.now
            _ = try await client.create(CreateResponseRequest(model: "m", input: "x"))
            #expect(clock.now - start >= .seconds(1))
        }
    }

    @Test func retriesStopAtTheConfiguredCount() async throws {
        let failing = ScriptedTurn.error(status: 500, message: "down", type: "server_error")
        try await withScripted([failing, failing, failing, failing], configuration: fastConfiguration(maxRetries: 2)) { client, server in
            let error = await #expect(throws: ResponsesError.self) { _ = try await client.create(CreateResponseRequest(model: "m", input: "x")) }
            #expect(error?.status == 500)
            #expect(server.createRequests.count == 3)
        }
    }

    @Test func streamRequestsAreRetriedBeforeTheFirstByte() async throws {
        try await withScripted([.error(status: 503, message: "busy", type: "server_error"), .message("streamed")]) { client, server in
            let response = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse()
            #expect(response.outputText == "streamed")
            #expect(server.createRequests.count == 2)
        }
    }

    @Test func aRefusedConnectionFailsAtOnceAndSaysNothingIsListening() async throws {
        let (port, descriptor) = try reserveRefusingPort()
        defer { close(descriptor) }
        let provider = Provider.custom(baseURL: "http://127.0.0.1:\(port)/v1", apiKey: "k")
        let logs = CapturingLogHandler()
        var configuration = fastConfiguration(maxRetries: 3)
        configuration.connectTimeout = .seconds(20)
        try await ResponsesClient.withClient(provider: provider, configuration: configuration, logger: Logger(label: "t", factory: { _ in logs })) { client in
            let clock = ContinuousClock()
            let start = clock.now
            let error = await #expect(throws: ResponsesError.self) { _ = try await client.create(CreateResponseRequest(model: "m", input: "x")) }
            // Far below the 20 s connect timeout it would otherwise be retried until (the bound is loose: CI is busy).
            #expect(clock.now - start < .seconds(5), "a refused connection is not retried until the connect timeout")
            #expect(error?.kind == .connection)
            #expect(error?.message.contains("nothing is listening at 127.0.0.1:\(port) (connection refused)") == true, "\(String(describing: error))")
            #expect(error?.description.contains("Check the network and the base URL") == true)
        }
        #expect(logs.lines.filter { $0.contains("retrying") }.isEmpty)
    }

    @Test func otherConnectionFailuresAreRetriedThenReported() async throws {
        let listener = try FaultyListener(.reset)
        defer { listener.stop() }
        let provider = Provider.custom(baseURL: "http://127.0.0.1:\(listener.port)/v1", apiKey: "k")
        let logs = CapturingLogHandler()
        try await ResponsesClient.withClient(provider: provider, configuration: fastConfiguration(maxRetries: 2), logger: Logger(label: "t", factory: { _ in logs })) { client in
            let error = await #expect(throws: ResponsesError.self) { _ = try await client.create(CreateResponseRequest(model: "m", input: "x")) }
            #expect(error?.kind == .connection)
            #expect(error?.message.contains("nothing is listening") == false)
        }
        #expect(logs.lines.filter { $0.contains("request failed, retrying") }.count == 2)
        #expect(listener.connections == 3, "the first attempt and two retries each reached the server")
    }

    @Test func backoffDoublesUpToTheCeilingWithJitterBelowIt() {
        let exact = RetryPolicy(maxRetries: 5, initialDelay: .milliseconds(500), maxDelay: .seconds(8), jitter: 0)
        #expect(exact.delay(attempt: 0) == .milliseconds(500))
        #expect(exact.delay(attempt: 1) == .seconds(1))
        #expect(exact.delay(attempt: 3) == .seconds(4))
        #expect(exact.delay(attempt: 10) == .seconds(8))
        let jittered = RetryPolicy(initialDelay: .seconds(1), maxDelay: .seconds(8), jitter: 0.25)
        for _ in 0..<50 {
            let delay = jittered.delay(attempt: 1)
            #expect(delay >= .milliseconds(1500) && delay <= .seconds(2))
        }
    }

    @Test func retryAfterHeaderForms() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let policy = RetryPolicy(jitter: 0)
        var headers = HTTPHeadersBuilder.make(["retry-after-ms": "250"])
        #expect(policy.delay(attempt: 0, headers: headers, now: now) == .milliseconds(250))
        headers = HTTPHeadersBuilder.make(["retry-after": "3"])
        #expect(policy.delay(attempt: 0, headers: headers, now: now) == .seconds(3))
        headers = HTTPHeadersBuilder.make(["retry-after": "Tue, 14 Nov 2023 22:13:25 GMT"])  // now + 5 s
        #expect(policy.delay(attempt: 0, headers: headers, now: now) == .seconds(5))
        headers = HTTPHeadersBuilder.make(["retry-after": "3600"])  // beyond maxRetryAfter: backoff instead
        #expect(policy.delay(attempt: 0, headers: headers, now: now) == .milliseconds(500))
        // Values no server should send, but one might: they fall back to backoff instead of crashing.
        for (name, value) in [("retry-after-ms", "1e30"), ("retry-after-ms", "inf"), ("retry-after", "nan"), ("retry-after", "1e300"), ("retry-after-ms", "-5")] {
            #expect(policy.delay(attempt: 0, headers: HTTPHeadersBuilder.make([name: value]), now: now) == .milliseconds(500), "\(name): \(value)")
        }
    }

    @Test func aSlowAnswerTimesOut() async throws {
        var configuration = fastConfiguration(maxRetries: 0)
        configuration.responseTimeout = .milliseconds(200)
        try await withScripted([ScriptedTurn.message("late").delayed(by: .seconds(2))], configuration: configuration) { client, _ in
            let error = await #expect(throws: ResponsesError.self) { _ = try await client.create(CreateResponseRequest(model: "m", input: "x")) }
            #expect(error?.kind == .timeout)
        }
    }

    @Test func cancellingTheConsumerStopsTheStreamPromptly() async throws {
        let slow = ScriptedTurn.message(Self.poem).pacing(.milliseconds(500))
        try await withScripted([slow]) { client, _ in
            let started = AsyncStream<Void>.makeStream()
            let task = Task {
                try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse { _ in started.continuation.yield() }
            }
            for await _ in started.stream { break }
            let clock = ContinuousClock()
            let start = clock.now
            task.cancel()
            await #expect(throws: (any Error).self) { _ = try await task.value }
            // The stream has minutes of pacing left; cancellation must not wait for it.
            #expect(clock.now - start < .seconds(5))
        }
    }

    // MARK: Resumption

    @Test func aDroppedStreamIsResumedWithoutDuplicates() async throws {
        try await withScripted([ScriptedTurn.message(Self.poem).droppingStream(afterEvents: 9)]) { client, server in
            var numbers: [Int] = []
            var text = ""
            let response = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse { event in
                if let number = event.sequenceNumber { numbers.append(number) }
                if case .outputTextDelta(let delta) = event { text += delta.delta }
            }
            #expect(text == Self.poem)
            #expect(response.outputText == Self.poem)
            #expect(numbers == Array(0..<numbers.count), "every event exactly once, in order")
            let resume = try #require(server.requests.first { $0.method == "GET" })
            #expect(resume.endpoint == "/responses/\(response.id)")
            #expect(resume.query == ["stream": "true", "starting_after": "8"])
        }
    }

    @Test func aDroppedStreamThatIsNotStoredFailsWithWhatArrived() async throws {
        try await withScripted([ScriptedTurn.message(Self.poem).droppingStream(afterEvents: 9)]) { client, server in
            let error = await #expect(throws: ResponsesError.self) {
                _ = try await client.stream(CreateResponseRequest(model: "m", input: "x", store: false)).finalResponse()
            }
            #expect(error?.kind == .streamInterrupted)
            #expect(error?.description.contains("cannot be resumed") == true)
            let partial = error?.partialResponse?.outputText ?? ""
            #expect(!partial.isEmpty && Self.poem.hasPrefix(partial) && partial != Self.poem)
            #expect(server.requests.count == 1)
        }
    }

    @Test func anIdleStreamIsResumed() async throws {
        // Margins wide enough for a loaded 2-core machine (CI runs MCP servers and a Python one beside these tests):
        // events 12 s apart, a 5 s idle limit, which the response head must also meet. The resumed stream is not paced,
        // so the test takes about 5 s. If the head still misses the limit, the client sends the create again, which
        // the spare turn answers; the resume asserted below must happen on that one too.
        let turn = ScriptedTurn.message(Self.poem).pacing(.seconds(12))
        try await withScripted([turn, turn], configuration: fastConfiguration(idleTimeout: .seconds(5))) { client, server in
            let response = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse()
            #expect(response.outputText == Self.poem)
            #expect(server.requests.contains { $0.method == "GET" && $0.query["starting_after"] == "0" })
        }
    }

    @Test func anIdleStreamWithoutResumptionTimesOut() async throws {
        var configuration = fastConfiguration(maxRetries: 0, idleTimeout: .milliseconds(2500))
        configuration.resumeStreams = false
        try await withScripted([ScriptedTurn.message(Self.poem).pacing(.milliseconds(5000))], configuration: configuration) { client, _ in
            let error = await #expect(throws: ResponsesError.self) {
                _ = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse()
            }
            // Usually the stream goes idle after its first event; on a loaded machine the limit can pass before the
            // response head arrives, which is the request timing out. Either way the run ends with a timeout, not a hang.
            #expect(error?.kind == .streamInterrupted || error?.kind == .timeout, "\(String(describing: error))")
            #expect(error?.description.contains("timed out") == true)
        }
    }

    @Test func aSlowWholeAnswerIsNotCutByTheIdleTimeout() async throws {
        // The idle timeout bounds silences within a stream, not the wait for a non-streamed answer.
        var configuration = fastConfiguration(maxRetries: 0, idleTimeout: .milliseconds(300))
        configuration.responseTimeout = .seconds(10)
        try await withScripted([ScriptedTurn.message("worth the wait").delayed(by: .seconds(1))], configuration: configuration) { client, _ in
            let response = try await client.create(CreateResponseRequest(model: "m", input: "x"))
            #expect(response.outputText == "worth the wait")
        }
    }

    // MARK: Other calls

    @Test func retrieveInputItemsCancelAndDelete() async throws {
        try await withScripted([.message("stored"), ScriptedTurn(output: [.message("bg")], backgroundPolls: 100)]) { client, _ in
            let created = try await client.create(CreateResponseRequest(model: "m", input: "x"))
            let retrieved = try await client.retrieve(created.id)
            #expect(retrieved.outputText == "stored")
            let items = try await client.inputItems(created.id)
            #expect(items.data == [["role": "user", "content": "x"]])
            let background = try await client.create(CreateResponseRequest(model: "m", input: "y", background: true), waitUntilDone: false)
            #expect(background.status == .queued)
            let cancelled = try await client.cancel(background.id)
            #expect(cancelled.status == .cancelled)
            try await client.delete(created.id)
            let gone = await #expect(throws: ResponsesError.self) { _ = try await client.retrieve(created.id) }
            #expect(gone?.isNotFound == true)
            #expect(gone?.isPreviousResponseNotFound == false)
        }
    }

    @Test func backgroundResponsesArePolledUntilDone() async throws {
        try await withScripted([ScriptedTurn(output: [.message("done in the background")], backgroundPolls: 2)]) { client, server in
            let response = try await client.createInBackground(CreateResponseRequest(model: "m", input: "x"), polling: .every(.milliseconds(10)))
            #expect(response.status == .completed)
            #expect(response.outputText == "done in the background")
            #expect(server.createRequests.first?.body?["background"] == true)
            #expect(server.requests.filter { $0.method == "GET" }.count == 3)
        }
    }

    @Test func cancellingTheWaitCancelsTheBackgroundResponse() async throws {
        try await withScripted([ScriptedTurn(output: [.message("never")], backgroundPolls: 10_000)]) { client, server in
            let task = Task { try await client.createInBackground(CreateResponseRequest(model: "m", input: "x"), polling: .every(.milliseconds(10))) }
            try await waitUntil("the first poll", pollEvery: .milliseconds(10)) { server.requests.contains { $0.method == "GET" } }
            task.cancel()
            await #expect(throws: CancellationError.self) { _ = try await task.value }
            #expect(server.requests.contains { $0.method == "POST" && $0.endpoint.hasSuffix("/cancel") })
        }
    }

    // MARK: Errors

    @Test func theErrorCarriesStatusBodyAndRequestID() async throws {
        let turn = ScriptedTurn.error(
            status: 400, message: "Invalid 'temperature': decimal below minimum value.", code: "decimal_below_min_value", param: "temperature",
            headers: ["x-request-id": "req_123"])
        try await withScripted([turn]) { client, _ in
            let error = await #expect(throws: ResponsesError.self) { _ = try await client.create(CreateResponseRequest(model: "m", input: "x", temperature: -1)) }
            #expect(error?.kind == .httpStatus)
            #expect(error?.status == 400)
            #expect(error?.requestID == "req_123")
            #expect(error?.providerError == ProviderErrorBody(
                message: "Invalid 'temperature': decimal below minimum value.", type: "invalid_request_error", param: "temperature",
                code: "decimal_below_min_value"))
            #expect(error?.description == "scripted: POST /responses answered HTTP 400: Invalid 'temperature': decimal below minimum value. [invalid_request_error, param: temperature, code: decimal_below_min_value] (request req_123)")
        }
    }

    @Test func previousResponseNotFoundIsRecognisable() async throws {
        try await withScripted([.message("never")], dialect: .stateless) { client, server in
            let error = await #expect(throws: ResponsesError.self) {
                _ = try await client.create(CreateResponseRequest(model: "m", input: "x", previousResponseID: "resp_gone"))
            }
            #expect(error?.isPreviousResponseNotFound == true)
            #expect(error?.providerError?.code == "previous_response_not_found")
            #expect(server.remainingTurns == 1, "the refusal does not use up a scripted turn")
        }
        let proxyStyle = ScriptedTurn.error(status: 400, message: "Invalid `previous_response_id`.", code: "invalid_request_error")
        let vllmStyle = ScriptedTurn.error(status: 404, message: "Response with id 'resp_x' not found.", param: "previous_response_id")
        try await withScripted([proxyStyle, vllmStyle]) { client, _ in
            for _ in 0..<2 {
                let error = await #expect(throws: ResponsesError.self) {
                    _ = try await client.create(CreateResponseRequest(model: "m", input: "x", previousResponseID: "resp_x"))
                }
                #expect(error?.isPreviousResponseNotFound == true)
            }
        }
    }

    @Test func theAPIKeyNeverAppearsInErrorsOrLogs() async throws {
        let key = "sk-live-0123456789abcdef"
        let logs = CapturingLogHandler()
        let echo = ScriptedTurn.error(status: 401, message: "Incorrect API key provided: \(key).", type: "invalid_request_error", code: "invalid_api_key")
        let turns = [ScriptedTurn.error(status: 500, message: "retry me", type: "server_error"), .message("ok").droppingStream(afterEvents: 4), echo]
        try await withScripted(turns, provider: { $0.apiKey = APIKey(key) }, logger: Logger(label: "t", factory: { _ in logs })) { client, server in
            _ = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse()
            let error = await #expect(throws: ResponsesError.self) { _ = try await client.create(CreateResponseRequest(model: "m", input: "x")) }
            #expect(server.requests.allSatisfy { $0.headers["authorization"] == "Bearer \(key)" }, "the key is sent")
            let shown = [error?.description, error?.message, error?.providerError?.message, String(describing: error), "\(client.provider)"]
            for text in shown { #expect(text?.contains(key) == false) }
            #expect(error?.description.contains("[redacted]") == true)
            #expect(error?.description.contains("Check the API key") == true)
        }
        #expect(logs.lines.count >= 2, "the retry and the resumption were logged")
        #expect(logs.lines.allSatisfy { !$0.contains(key) })
        #expect(String(describing: APIKey(key)) == "[redacted]")
    }

    @Test func aMissingKeyFailsBeforeAnythingIsSent() async throws {
        try await withScripted([.message("never")], provider: { provider in
            provider.apiKey = nil
            provider.requiresAPIKey = true
            provider.apiKeyEnvironmentVariable = "MUME_API_KEY"
        }) { client, server in
            let error = await #expect(throws: ResponsesError.self) { _ = try await client.create(CreateResponseRequest(model: "m", input: "x")) }
            #expect(error?.kind == .missingAPIKey)
            #expect(error?.description.contains("set MUME_API_KEY") == true)
            #expect(server.requests.isEmpty)
        }
    }

    @Test func providerDriftSettingsReachTheWire() async throws {
        try await withScripted([.message("ok")], provider: { provider in
            provider.maxTokensField = .maxTokens
            provider.headers = ["X-Route": "eu-west"]
        }) { client, server in
            _ = try await client.create(CreateResponseRequest(model: "m", input: "x", maxOutputTokens: 50))
            let request = try #require(server.createRequests.first)
            #expect(request.body?["max_tokens"] == 50)
            #expect(request.body?["max_output_tokens"] == nil)
            #expect(request.headers["x-route"] == "eu-west")
        }
    }
}

/// What a streamed request says when something other than an event stream, or an unreadable event, comes back.
@Suite(.timeLimit(.minutes(3))) struct StreamAnswerTests {
    static let sse = """
        event: response.created
        data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","output":[]}}

        event: response.completed
        data: {"type":"response.completed","sequence_number":1,"response":{"id":"resp_1","object":"response","status":"completed","output":[{"type":"message","id":"m1","role":"assistant","status":"completed","content":[{"type":"output_text","text":"relabelled","annotations":[]}]}]}}


        """

    @Test func anHTMLPageAnsweringAStreamIsNamedWithItsFirstBytes() async throws {
        let page = PageServer.Page(headers: ["Content-Type": "text/html; charset=utf-8"], body: Data("<html><body><h1>502 Bad Gateway</h1>\nnginx</body></html>".utf8))
        try await PageServer.withServer(["/v1/responses": page]) { server in
            let provider = Provider.custom(baseURL: server.baseURL + "/v1", apiKey: "k")
            try await ResponsesClient.withClient(provider: provider, configuration: fastConfiguration()) { client in
                let error = await #expect(throws: ResponsesError.self) { _ = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse() }
                #expect(error?.kind == .decoding)
                #expect(error?.message.contains("HTTP 200 and content type 'text/html; charset=utf-8', not an event stream") == true, "\(String(describing: error))")
                #expect(error?.message.contains("it began: '<html><body><h1>502 Bad Gateway</h1> nginx</body></html>'") == true, "\(String(describing: error))")
                #expect(error?.description.contains("Check that the base URL is the API's") == true, "says what to do next")
            }
        }
    }

    @Test func anEventStreamWithTheWrongContentTypeIsStillRead() async throws {
        let page = PageServer.Page(headers: ["Content-Type": "text/plain"], body: Data(Self.sse.utf8))
        try await PageServer.withServer(["/v1/responses": page]) { server in
            let provider = Provider.custom(baseURL: server.baseURL + "/v1", apiKey: "k")
            try await ResponsesClient.withClient(provider: provider, configuration: fastConfiguration()) { client in
                let response = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse()
                #expect(response.outputText == "relabelled")
            }
        }
    }

    @Test func anUnreadableEventIsNamedWhenTheStreamThenBreaks() async throws {
        var turn = ScriptedTurn.message("a long enough answer to stream in several deltas")
        turn.malformedEventAt = 2
        turn.dropAfterEvents = 5
        try await ScriptedResponsesServer.withServer([turn]) { server in
            var configuration = fastConfiguration()
            configuration.resumeStreams = false
            try await ResponsesClient.withClient(provider: server.provider, configuration: configuration) { client in
                let error = await #expect(throws: ResponsesError.self) { _ = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse() }
                #expect(error?.kind == .streamInterrupted)
                let message = error?.message ?? ""
                #expect(message.contains("one message could not be read, the first: message 3 (event 'response.output_text.delta') could not be read"), "\(message)")
                #expect(message.contains("its data began: '{\"type\": \"response.output_text.delta\", oops'"), "\(message)")
            }
        }
    }

    @Test func anUnreadableEventInAStreamThatCompletesIsOnlySkipped() async throws {
        var turn = ScriptedTurn.message("fine in the end")
        turn.malformedEventAt = 1
        try await ScriptedResponsesServer.withServer([turn]) { server in
            try await ResponsesClient.withClient(provider: server.provider, configuration: fastConfiguration()) { client in
                let response = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse()
                #expect(response.outputText == "fine in the end")
            }
        }
    }
}
