import ErrandTesting
import Foundation
import Logging
import ResponsesAPI
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// ``ResponsesConnection``: the WebSocket mode's handshake, frames, errors, liveness and reuse, over loopback against
/// the scripted server's WebSocket endpoint.
@Suite(.timeLimit(.minutes(2))) struct ResponsesConnectionTests {
    @Test(arguments: [
        ("https://api.openai.com/v1", nil, "wss://api.openai.com/v1/responses"),
        ("http://127.0.0.1:4000/v1/", nil, "ws://127.0.0.1:4000/v1/responses"),
        ("https://gw.example/openai/v1", "wss://ws.example/responses", "wss://ws.example/responses"),
    ] as [(String, String?, String)])
    func theWebSocketURLIsTheBaseURLsResponsesUnlessGiven(_ base: String, _ override: String?, _ expected: String) {
        let provider = Provider(name: "p", baseURL: base, webSocketURL: override)
        #expect(provider.responsesWebSocketURL == expected)
    }

    @Test func theHandshakeCarriesTheKeyAndHeadersAndAFrameIsTheCreateBodyWithItsType() async throws {
        let logs = CapturingLogHandler()
        try await withScripted(
            [.message("Hello there")], provider: { $0.headers["OpenAI-Project"] = "proj_1" }, logger: Logger(label: "t") { _ in logs }
        ) { client, server in
            let connection = try await client.openConnection()
            var request = CreateResponseRequest(model: "m", input: .text("Hi"))
            request.stream = true
            let deltas = DeltaLog()
            let response = try await connection.send(request) { event in
                if case .outputTextDelta(let delta) = event { deltas.append(delta.delta) }
            }
            #expect(response.outputText == "Hello there")
            #expect(deltas.joined == "Hello there", "the text came in deltas, one frame each")
            #expect(connection.lastResponseID == response.id)
            let handshake = try #require(server.webSocketHandshakes.first)
            #expect(handshake.headers["authorization"] == "Bearer sk-scripted-test-key")
            #expect(handshake.headers["openai-project"] == "proj_1")
            #expect(handshake.headers["user-agent"]?.hasPrefix("errand/") == true)
            let create = try #require(server.createRequests.first)
            #expect(create.body?["type"] == nil, "the server took the frame as a response.create")
            #expect(create.body?["stream"] == nil, "no transport fields: the mode always streams")
            #expect(create.body?["model"] == "m")
            await connection.close()
            try await waitUntil("the server saw the close") { server.openWebSocketConnections == 0 }
            #expect(!logs.lines.contains { $0.contains("sk-scripted-test-key") })
        }
    }

    @Test func backgroundIsRefusedBeforeAnythingIsSent() async throws {
        try await withScripted([.message("never")]) { client, server in
            try await client.withConnection { connection in
                var request = CreateResponseRequest(model: "m", input: .text("Hi"))
                request.background = true
                let error = await #expect(throws: ResponsesError.self) { try await connection.send(request) }
                #expect(error?.kind == .invalidRequest)
                #expect(error?.message.contains("--transport http") == true)
            }
            #expect(server.createRequests.isEmpty)
        }
    }

    @Test func anEventSentAfterTheTerminalOneDoesNotEndTheNextTurn() async throws {
        // A server that sends `response.done` after `response.completed`, as some compatible servers do.
        let first = ScriptedTurn.message("first").rewritingEvents { events in
            guard var done = events.last else { return events }
            done["type"] = "response.done"
            return events + [done]
        }
        try await withScripted([first, ScriptedTurn.message("second").delayed(by: .milliseconds(100))]) { client, _ in
            try await client.withConnection { connection in
                let one = try await connection.send(CreateResponseRequest(model: "m", input: .text("1")))
                #expect(one.outputText == "first")
                let two = try await connection.send(CreateResponseRequest(model: "m", input: .text("2")))
                #expect(two.outputText == "second", "the earlier response's late event is not this turn's answer")
                #expect(two.id != one.id)
            }
        }
    }

    @Test func aFrameThatIsNotJSONIsSkippedAndTheResponseStillArrives() async throws {
        var turn = ScriptedTurn.message("Fine anyway")
        turn.malformedEventAt = 2
        try await withScripted([turn]) { client, _ in
            let response = try await client.withConnection { try await $0.send(CreateResponseRequest(model: "m", input: .text("Hi"))) }
            #expect(response.outputText == "Fine anyway")
        }
    }

    @Test func aPingThatIsNeverAnsweredEndsTheConnectionWithTheReason() async throws {
        var dialect = ScriptedDialect.spec
        dialect.answersPings = false
        var configuration = fastConfiguration()
        configuration.webSocketPingInterval = .milliseconds(100)
        configuration.webSocketPingTimeout = .milliseconds(50)
        try await withScripted([ScriptedTurn.message("late").delayed(by: .seconds(10))], dialect: dialect, configuration: configuration) { client, _ in
            let connection = try await client.openConnection()
            let started = ContinuousClock.now
            let error = await #expect(throws: ResponsesError.self) { try await connection.send(CreateResponseRequest(model: "m", input: .text("Hi"))) }
            #expect(error?.kind == .connectionClosed)
            #expect(error?.message.contains("did not answer a ping") == true, "\(error?.message ?? "")")
            #expect(ContinuousClock.now - started < .seconds(9), "long before the 10 s answer")
            #expect(!connection.isOpen)
        }
    }

    @Test func anAnsweredPingKeepsAnIdleConnectionOpen() async throws {
        var configuration = fastConfiguration()
        configuration.webSocketPingInterval = .milliseconds(50)
        // Generous: an answered ping must not count as missing on a loaded machine.
        configuration.webSocketPingTimeout = .seconds(5)
        try await withScripted([.message("still here")], configuration: configuration) { client, _ in
            let connection = try await client.openConnection()
            try await Task.sleep(for: .milliseconds(400))
            #expect(connection.isOpen)
            let response = try await connection.send(CreateResponseRequest(model: "m", input: .text("Hi")))
            #expect(response.outputText == "still here")
            await connection.close()
        }
    }

    @Test func aReleasedConnectionIsReusedUntilItIsTooOld() async throws {
        var configuration = fastConfiguration()
        configuration.webSocketMaxAge = .seconds(3)
        try await withScripted([.message("one"), .message("two"), .message("three")], configuration: configuration) { client, server in
            let first = try await client.openConnection()
            _ = try await first.send(CreateResponseRequest(model: "m", input: .text("1")))
            await client.release(first)
            let again = try await client.openConnection()
            #expect(again === first, "an idle connection is reused")
            _ = try await again.send(CreateResponseRequest(model: "m", input: .text("2")))
            await client.release(again)
            try await Task.sleep(for: .milliseconds(3100))
            let fresh = try await client.openConnection()
            #expect(fresh !== first, "one past webSocketMaxAge is replaced")
            #expect(fresh.number == 2)
            _ = try await fresh.send(CreateResponseRequest(model: "m", input: .text("3")))
            await client.release(fresh)
            #expect(server.webSocketConnectionsOpened == 2)
        }
    }

    @Test(arguments: [404, 426]) func aRefusedUpgradeSaysTheServerHasNoWebSocketMode(_ status: Int) async throws {
        var dialect = ScriptedDialect.spec
        if status == 404 { dialect.webSocket = false } else { dialect.webSocketUpgradeStatus = status }
        try await withScripted([], dialect: dialect) { client, _ in
            let error = await #expect(throws: ResponsesError.self) { try await client.openConnection() }
            #expect(error?.status == status)
            #expect(error?.isWebSocketUnavailable == true)
            #expect("\(error.map { "\($0)" } ?? "")".contains("no WebSocket mode; use --transport http"))
        }
    }

    @Test func nothingListeningIsSaidAtOnce() async throws {
        let (port, descriptor) = try reserveRefusingPort()
        defer { close(descriptor) }
        let client = ResponsesClient(provider: Provider(name: "p", baseURL: "http://127.0.0.1:\(port)/v1"), configuration: fastConfiguration())
        let error = await #expect(throws: ResponsesError.self) { try await client.openConnection() }
        #expect(error?.message.contains("nothing is listening") == true, "\(error?.message ?? "")")
        try await client.shutdown()
    }
}

/// Text deltas collected from a callback.
final class DeltaLog: Sendable {
    private let parts = Mutex<[String]>([])
    func append(_ text: String) { parts.withLock { $0.append(text) } }
    var joined: String { parts.withLock { $0.joined() } }
}
