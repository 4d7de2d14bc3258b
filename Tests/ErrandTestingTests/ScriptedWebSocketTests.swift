import AsyncHTTPClient
import ErrandTesting
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import ResponsesAPI
import Testing

/// The scripted server's WebSocket mode, checked with a bare NIO WebSocket client (not the client it serves).
@Suite(.timeLimit(.minutes(2))) struct ScriptedWebSocketTests {
    // MARK: A bare client

    private enum Upgrade: Sendable {
        case webSocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case refused(NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>)
    }

    private struct Refused: Error {}

    /// Opens a connection to `path` with `Upgrade: websocket`; the server either upgrades or answers HTTP.
    private func connect(_ server: ScriptedResponsesServer, path: String = "/v1/responses", key: String = "sk-ws-test") async throws -> Upgrade {
        let port = server.port
        let upgraded = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(maxFrameSize: 1 << 24) { channel, _ in
                        channel.eventLoop.makeCompletedFuture { .webSocket(try NIOAsyncChannel(wrappingChannelSynchronously: channel)) }
                    }
                    var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
                    head.headers.add(name: "Host", value: "127.0.0.1:\(port)")
                    head.headers.add(name: "Authorization", value: "Bearer \(key)")
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration<Upgrade>(
                        upgradeRequestHead: head, upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeCompletedFuture { .refused(try NIOAsyncChannel(wrappingChannelSynchronously: channel)) }
                        })
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: configuration))
                }
            }
        return try await upgraded.get()
    }

    /// One open client WebSocket: masked frames out, frames in.
    private struct Socket {
        var frames: NIOAsyncChannelInboundStream<WebSocketFrame>.AsyncIterator
        let writer: NIOAsyncChannelOutboundWriter<WebSocketFrame>

        func send(_ opcode: WebSocketOpcode, _ data: ByteBuffer, fin: Bool = true) async throws {
            try await writer.write(WebSocketFrame(fin: fin, opcode: opcode, maskKey: .random(), data: data))
        }

        func send(text: String) async throws { try await send(.text, ByteBuffer(string: text)) }

        /// A `response.create` frame with these fields.
        func create(_ fields: [String: JSONValue]) async throws {
            var event = fields
            event["type"] = "response.create"
            try await send(text: JSONValue.object(event).jsonString)
        }

        /// The same, cut into `pieces` fragments.
        func createFragmented(_ fields: [String: JSONValue], pieces: Int) async throws {
            var event = fields
            event["type"] = "response.create"
            let bytes = Array(JSONValue.object(event).jsonString.utf8)
            let size = (bytes.count + pieces - 1) / pieces
            for (index, start) in stride(from: 0, to: bytes.count, by: size).enumerated() {
                let chunk = ByteBuffer(bytes: bytes[start..<min(start + size, bytes.count)])
                try await send(index == 0 ? .text : .continuation, chunk, fin: start + size >= bytes.count)
            }
        }

        /// The next frame; `nil` when the connection ended.
        mutating func next() async -> WebSocketFrame? {
            (try? await frames.next()) ?? nil
        }

        /// The next text frame as JSON (an issue, and `nil`, when the next frame is something else or not JSON).
        mutating func json() async -> JSONValue? {
            guard let frame = await next() else {
                Issue.record("the connection ended")
                return nil
            }
            guard frame.opcode == .text, let json = try? JSONValue(parsing: Data(frame.unmaskedData.readableBytesView)) else {
                Issue.record("expected a JSON text frame, got \(frame.opcode): \(String(buffer: frame.unmaskedData))")
                return nil
            }
            return json
        }

        /// The frames of one answer: events until a terminal one, or a single `error` frame with a status.
        mutating func answer() async -> [JSONValue] {
            var events: [JSONValue] = []
            while let event = await json() {
                events.append(event)
                let type = event["type"]?.stringValue ?? ""
                if ["response.completed", "response.failed", "response.incomplete"].contains(type) { break }
                if type == "error", event["status"] != nil { break }
            }
            return events
        }

        /// Every frame until the connection ends.
        mutating func rest() async -> [WebSocketFrame] {
            var frames: [WebSocketFrame] = []
            while let frame = await next() { frames.append(frame) }
            return frames
        }
    }

    /// Runs `body` on a WebSocket to `server`; fails when the upgrade is refused.
    private func withSocket<Result>(
        _ server: ScriptedResponsesServer, key: String = "sk-ws-test", _ body: (inout Socket) async throws -> Result
    ) async throws -> Result {
        guard case .webSocket(let channel) = try await connect(server, key: key) else { throw Refused() }
        return try await channel.executeThenClose { inbound, outbound in
            var socket = Socket(frames: inbound.makeAsyncIterator(), writer: outbound)
            return try await body(&socket)
        }
    }

    /// The status and JSON body of a refused upgrade; `nil` when the server upgraded.
    private func refusal(_ server: ScriptedResponsesServer, path: String = "/v1/responses") async throws -> (Int, JSONValue?)? {
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        switch try await connect(server, path: path) {
        case .refused(let refused): channel = refused
        case .webSocket(let socket):
            try await socket.executeThenClose { _, _ in }
            return nil
        }
        return try await channel.executeThenClose { inbound, _ in
            var status = 0
            var body = ByteBuffer()
            loop: for try await part in inbound {
                switch part {
                case .head(let head): status = Int(head.status.code)
                case .body(var chunk): body.writeBuffer(&chunk)
                case .end: break loop
                }
            }
            return (status, try? JSONValue(parsing: Data(body.readableBytesView)))
        }
    }

    private static func text(_ events: [JSONValue]) -> String? {
        events.last?["response"]?["output"]?[0]?["content"]?[0]?["text"]?.stringValue
    }

    private static func closeCode(_ frame: WebSocketFrame?) -> UInt16? {
        guard let frame, frame.opcode == .connectionClose else { return nil }
        var data = frame.unmaskedData
        return data.readInteger(as: UInt16.self)
    }

    // MARK: Tests

    @Test func chainsWithStoreFalseOnOneConnection() async throws {
        let turns: [ScriptedTurn] = [.calls(.call("lookup", ["q": "swift"], id: "call_1")), .message("Found it.")]
        try await ScriptedResponsesServer.withServer(turns) { server in
            try await withSocket(server) { socket in
                try await socket.create(["model": "m", "input": "look it up", "store": false])
                let first = await socket.answer()
                #expect(first.first?["type"] == "response.created")
                #expect(first.last?["type"] == "response.completed")
                #expect(first.contains { $0["type"] == "response.function_call_arguments.done" })
                let call = first.last?["response"]?["output"]?[0]
                #expect(call?["type"] == "function_call")
                #expect(call?["call_id"] == "call_1")
                let id = try #require(first.last?["response"]?["id"])

                // Not stored, so HTTP cannot see it; the connection still chains from it (in fragments, too).
                #expect(server.storedStatus(try #require(id.stringValue)) == nil)
                try await socket.createFragmented([
                    "model": "m", "store": false, "previous_response_id": id,
                    "input": [["type": "function_call_output", "call_id": "call_1", "output": "42"]],
                ], pieces: 3)
                let second = await socket.answer()
                #expect(second.last?["type"] == "response.completed")
                #expect(Self.text(second) == "Found it.")
                #expect(second.last?["response"]?["previous_response_id"] == id)
            }
            let creates = server.createRequests
            #expect(creates.count == 2)
            #expect(creates.map(\.webSocketConnection) == [1, 1])
            #expect(creates.allSatisfy { $0.method == "POST" && $0.path == "/v1/responses" && $0.body?["type"] == nil })
            #expect(creates.first?.headers["authorization"] == "Bearer sk-ws-test")
            #expect(creates.last?.body?["previous_response_id"] != nil)
            #expect(server.webSocketHandshakes.map(\.webSocketConnection) == [1])
            #expect(server.remainingTurns == 0)
        }
    }

    @Test func anotherConnectionKnowsOnlyStoredResponses() async throws {
        let turns: [ScriptedTurn] = [.message("one"), .message("two"), .message("three"), .message("over HTTP")]
        try await ScriptedResponsesServer.withServer(turns) { server in
            let (unstored, stored) = try await withSocket(server) { socket -> (String, String) in
                try await socket.create(["model": "m", "input": "a", "store": false])
                let first = await socket.answer()
                try await socket.create(["model": "m", "input": "b"])
                let second = await socket.answer()
                #expect(Self.text(first) == "one")
                #expect(Self.text(second) == "two")
                return (first.last?["response"]?["id"]?.stringValue ?? "", second.last?["response"]?["id"]?.stringValue ?? "")
            }
            try await withSocket(server) { socket in
                try await socket.create(["model": "m", "input": "c", "previous_response_id": .string(unstored)])
                let refused = await socket.answer()
                #expect(refused.count == 1)
                #expect(refused.first?["type"] == "error")
                #expect(refused.first?["status"] == 400)
                #expect(refused.first?["error"]?["code"] == "previous_response_not_found")
                #expect(refused.first?["error"]?["message"] == .string("Previous response with id '\(unstored)' not found."))
                // The connection stays open, and a stored response chains from any connection.
                try await socket.create(["model": "m", "input": "d", "previous_response_id": .string(stored)])
                let chained = await socket.answer()
                #expect(Self.text(chained) == "three")
            }
            var request = HTTPClientRequest(url: "\(server.baseURL)/responses")
            request.method = .POST
            request.body = .bytes(ByteBuffer(string: (["model": "m", "input": "e"] as JSONValue).jsonString))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            _ = try await response.body.collect(upTo: 1 << 20)
            #expect(response.status == .ok)
            #expect(server.createRequests.map(\.webSocketConnection) == [1, 1, 2, 2, nil])
            #expect(server.webSocketConnectionsOpened == 2)
            try await waitUntil("the WebSockets to close", timeout: .seconds(5)) { server.openWebSocketConnections == 0 }
        }
    }

    @Test func framesThatAreNotCreatesGetErrorFrames() async throws {
        try await ScriptedResponsesServer.withServer([.message("still here")]) { server in
            try await withSocket(server) { socket in
                try await socket.send(text: "not json")
                let invalid = await socket.json()
                #expect(invalid?["type"] == "error")
                #expect(invalid?["status"] == 400)
                #expect(invalid?["error"]?["code"] == "invalid_json")
                try await socket.send(text: #"{"type": "response.cancel"}"#)
                let unknown = await socket.json()
                #expect(unknown?["error"]?["code"] == "unknown_event")
                #expect(unknown?["error"]?["type"] == "invalid_request_error")
                try await socket.create(["model": "m", "input": "x"])
                #expect(Self.text(await socket.answer()) == "still here")
            }
            #expect(server.createRequests.count == 1)
        }
    }

    @Test func anErrorTurnIsAnErrorFrame() async throws {
        let turns: [ScriptedTurn] = [
            .error(status: 429, message: "Rate limit reached.", type: "requests", code: "rate_limit_exceeded", headers: ["Retry-After": "3"]),
            ScriptedTurn(output: [.message("partial")], streamError: (code: "server_error", message: "Boom.")),
            .message("after"),
        ]
        try await ScriptedResponsesServer.withServer(turns) { server in
            try await withSocket(server) { socket in
                try await socket.create(["model": "m", "input": "x"])
                let frames = await socket.answer()
                #expect(frames.count == 1)
                let error = try #require(frames.first)
                #expect(error["type"] == "error")
                #expect(error["status"] == 429)
                #expect(error["error"] == ["message": "Rate limit reached.", "type": "requests", "param": nil, "code": "rate_limit_exceeded"])
                #expect(error["headers"]?["retry-after"] == "3")

                try await socket.create(["model": "m", "input": "y"])
                let failed = await socket.answer()
                #expect(failed.map { $0["type"]?.stringValue ?? "" } == ["response.created", "response.in_progress", "error", "response.failed"])

                try await socket.create(["model": "m", "input": "z"])
                #expect(Self.text(await socket.answer()) == "after")
            }
        }
    }

    @Test func closingWebSocketSendsAnErrorThenTheCloseCode() async throws {
        let turns: [ScriptedTurn] = [.message("one"), .closingWebSocket(), .closingWebSocket(code: 4000, errorCode: nil), .message("next")]
        try await ScriptedResponsesServer.withServer(turns) { server in
            try await withSocket(server) { socket in
                try await socket.create(["model": "m", "input": "a"])
                #expect(Self.text(await socket.answer()) == "one")
                try await socket.create(["model": "m", "input": "b"])
                let error = await socket.json()
                #expect(error?["type"] == "error")
                #expect(error?["status"] == 400)
                #expect(error?["error"]?["code"] == "websocket_connection_limit_reached")
                #expect(error?["error"]?["message"]?.stringValue?.contains("60 minutes") == true)
                let close = await socket.next()
                #expect(Self.closeCode(close) == 1000)
                try await socket.send(.connectionClose, close?.unmaskedData ?? ByteBuffer())
                #expect(await socket.rest().isEmpty)
            }
            try await withSocket(server) { socket in
                try await socket.create(["model": "m", "input": "c"])
                let close = await socket.next()
                #expect(Self.closeCode(close) == 4000, "no error frame first when errorCode is nil")
            }
            #expect(server.createRequests.count == 3)
            #expect(server.remainingTurns == 1)
            try await waitUntil("the WebSockets to close", timeout: .seconds(5)) { server.openWebSocketConnections == 0 }
        }
        // Over HTTP the same turn is a 500.
        try await ScriptedResponsesServer.withServer([.closingWebSocket()]) { server in
            var request = HTTPClientRequest(url: "\(server.baseURL)/responses")
            request.method = .POST
            request.body = .bytes(ByteBuffer(string: (["model": "m", "input": "x"] as JSONValue).jsonString))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            _ = try await response.body.collect(upTo: 1 << 20)
            #expect(response.status == .internalServerError)
        }
    }

    @Test func refusedUpgradesKeepTheirHTTPStatus() async throws {
        var none = ScriptedDialect()
        none.webSocket = false
        try await ScriptedResponsesServer.withServer([], dialect: none) { server in
            let (status, body) = try #require(try await refusal(server))
            #expect(status == 404)
            #expect(body?["error"]?["message"] != nil)
            #expect(server.webSocketConnectionsOpened == 0)
        }
        var unauthorized = ScriptedDialect()
        unauthorized.webSocketUpgradeStatus = 401
        try await ScriptedResponsesServer.withServer([], dialect: unauthorized) { server in
            let (status, body) = try #require(try await refusal(server))
            #expect(status == 401)
            #expect(body?["error"]?["code"] == "invalid_api_key")
            #expect(server.requests.first?.headers["authorization"] == "Bearer sk-ws-test")
        }
        try await ScriptedResponsesServer.withServer([]) { server in
            let (status, _) = try #require(try await refusal(server, path: "/v1/chat/completions"))
            #expect(status == 404)
            #expect(try await refusal(server) == nil, "the right path upgrades")
            try await waitUntil("the WebSocket to be counted", timeout: .seconds(5)) { server.webSocketConnectionsOpened == 1 }
        }
    }

    @Test func pingsAreAnsweredUnlessTheDialectSaysNot() async throws {
        try await ScriptedResponsesServer.withServer([.message("x")]) { server in
            try await withSocket(server) { socket in
                try await socket.send(.ping, ByteBuffer(string: "are you there"))
                let pong = await socket.next()
                #expect(pong?.opcode == .pong)
                #expect(pong.map { String(buffer: $0.unmaskedData) } == "are you there")
            }
        }
        var silent = ScriptedDialect()
        silent.answersPings = false
        try await ScriptedResponsesServer.withServer([.message("x")], dialect: silent) { server in
            try await withSocket(server) { socket in
                try await socket.send(.ping, ByteBuffer(string: "hello?"))
                try await socket.create(["model": "m", "input": "x"])
                let first = await socket.next()
                #expect(first?.opcode == .text, "no pong before the answer")
            }
        }
    }

    @Test func streamFaultsCutTheConnectionWithoutACloseFrame() async throws {
        let turns: [ScriptedTurn] = [
            ScriptedTurn.message("a long enough answer").droppingStream(afterEvents: 3),
            ScriptedTurn(output: [.message("hello")], malformedEventAt: 2),
            .droppingWebSocket(),
        ]
        try await ScriptedResponsesServer.withServer(turns) { server in
            try await withSocket(server) { socket in
                try await socket.create(["model": "m", "input": "a"])
                let frames = await socket.rest()
                #expect(frames.count == 3)
                #expect(frames.allSatisfy { $0.opcode == .text })
            }
            try await withSocket(server) { socket in
                try await socket.create(["model": "m", "input": "b"])
                var texts: [String] = []
                while let frame = await socket.next() {
                    texts.append(String(buffer: frame.unmaskedData))
                    if texts.last?.contains("response.completed") == true { break }
                }
                #expect(texts.count > 4)
                #expect(texts.indices.filter { (try? JSONValue(parsing: texts[$0])) == nil } == [2])
                try await socket.create(["model": "m", "input": "c"])
                #expect(await socket.rest().isEmpty, "dropped with no frame, not even a close frame")
            }
            #expect(server.createRequests.count == 3)
        }
    }

    @Test func theServerClosesOrDropsOpenWebSockets() async throws {
        try await ScriptedResponsesServer.withServer([.message("x")]) { server in
            try await withSocket(server) { closing in
                try await withSocket(server) { dropping in
                    try await waitUntil("two open WebSockets", timeout: .seconds(5)) { server.openWebSocketConnections == 2 }
                    await server.dropWebSockets()
                    #expect(await dropping.rest().isEmpty)
                    #expect(await closing.rest().isEmpty)
                }
            }
            try await withSocket(server) { socket in
                try await waitUntil("an open WebSocket", timeout: .seconds(5)) { server.openWebSocketConnections == 1 }
                async let closed: Void = server.closeWebSockets(code: 1012)
                let close = await socket.next()
                #expect(Self.closeCode(close) == 1012)
                try await socket.send(.connectionClose, close?.unmaskedData ?? ByteBuffer())
                #expect(await socket.rest().isEmpty)
                await closed
            }
            #expect(server.openWebSocketConnections == 0)
            #expect(server.webSocketConnectionsOpened == 3)
        }
    }

    @Test func aClientCloseIsAnswered() async throws {
        try await ScriptedResponsesServer.withServer([]) { server in
            try await withSocket(server) { socket in
                var data = ByteBuffer()
                data.writeInteger(UInt16(1000))
                try await socket.send(.connectionClose, data)
                #expect(Self.closeCode(await socket.next()) == 1000)
                #expect(await socket.rest().isEmpty)
            }
            try await waitUntil("the WebSockets to close", timeout: .seconds(5)) { server.openWebSocketConnections == 0 }
        }
    }

    @Test func aResponderSeesTheWholeConnectionLocalChain() async throws {
        let responder: @Sendable (ScriptedConversation) -> ScriptedTurn = { conversation in
            .message("turn \(conversation.chainedResponses + 1) of \(conversation.task), \(conversation.items.count) items")
        }
        try await ScriptedResponsesServer.withServer([], responder: responder) { server in
            try await withSocket(server) { socket in
                var previous: JSONValue = nil
                var answers: [String] = []
                for input in ["task", "more", "again"] {
                    try await socket.create(["model": "m", "input": .string(input), "store": false, "previous_response_id": previous])
                    let events = await socket.answer()
                    answers.append(Self.text(events) ?? "")
                    previous = events.last?["response"]?["id"] ?? .null
                }
                #expect(answers == ["turn 1 of task, 1 items", "turn 2 of task, 3 items", "turn 3 of task, 5 items"])
            }
        }
    }
}
