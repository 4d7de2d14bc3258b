import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import ResponsesAPI
import Synchronization

/// A real HTTP/1.1 server on loopback that speaks the Responses API from a script.
///
/// Each `POST /responses` is answered by the next ``ScriptedTurn``: a message, function calls, an HTTP error, a stream
/// that drops after N events, a delay, a malformed event. Answers are JSON or server-sent events as the request asks.
/// Every request is recorded; responses are kept so that `previous_response_id`, `GET /responses/{id}` (also with
/// `stream=true&starting_after=N` to resume a stream), `cancel`, `delete` and background polling work, unless the
/// dialect says the server keeps no state.
///
/// ```swift
/// try await ScriptedResponsesServer.withServer([.message("Hello!")]) { server in
///     let client = ResponsesClient(provider: server.provider)
///     …
/// }
/// ```
///
/// For requests that arrive in no set order (many runs at once), a `responder` answers every request the script has
/// no turn left for, from the whole conversation the request belongs to (``ScriptedConversation``).
///
/// The same port speaks the WebSocket mode (``webSocketURL``): each `response.create` frame is answered from the same
/// script as a streamed `POST /responses`, one event a frame. A connection remembers its most recent response, so a
/// chain with `store: false` works on it; errors come as `error` frames. ``ScriptedDialect/webSocket`` and
/// ``ScriptedDialect/webSocketUpgradeStatus`` refuse the upgrade; ``ScriptedTurn/closingWebSocket(code:errorCode:)`` and
/// ``ScriptedTurn/droppingWebSocket()`` end a connection.
///
/// ``ScriptedDialect/contextWindow`` gives the server a finite context: a create whose whole context (instructions and
/// conversation, by ``estimatedTokens(_:)``) does not fit is refused with OpenAI's or llama.cpp's 400, and `usage`
/// reports the whole context. ``ScriptedDialect/compaction`` adds OpenAI's compaction: `context_management` in a create
/// puts a `compaction` item before the reply once the threshold is crossed, and `POST /responses/compact` compacts a
/// conversation on its own.
public final class ScriptedResponsesServer: Sendable {
    private struct Stored {
        var response: JSONValue
        var events: [JSONValue]
        var input: [JSONValue]
        var backgroundPolls: Int
        var isBackground: Bool
        /// For a response answered over a WebSocket: the whole conversation up to its output, and how many responses
        /// that is (the connection may have chained through responses that were not stored).
        var history: (items: [JSONValue], responses: Int)? = nil
    }

    /// What a WebSocket connection remembers: its most recent response, which it can chain from whatever `store` said.
    private struct ConnectionMemory {
        var id: String
        var stored: Stored
    }

    /// How a create is answered.
    private enum CreateOutcome {
        /// An answer (an error, a body or a stream); over a WebSocket, the response the connection remembers next.
        case answer(Plan, remember: ConnectionMemory? = nil)
        /// A WebSocket closed by the server, after an error frame with `errorCode` when set.
        case closeWebSocket(code: UInt16, errorCode: String?, delay: Duration)
        /// A WebSocket cut with no frame.
        case dropWebSocket(delay: Duration)
    }

    private struct State {
        var turns: [ScriptedTurn]
        var requests: [RecordedRequest] = []
        var stored: [String: Stored] = [:]
        var factory: ResponseFactory
        var connections: [ObjectIdentifier: any Channel] = [:]
        var creates = 0
        var shuttingDown = false
        var webSockets: [Int: WebSocketSession] = [:]
        var webSocketsOpen: Set<Int> = []
        var webSocketsOpened = 0
        var handshakes: [RecordedRequest] = []
        var compactions = 0
    }

    private enum Body {
        case json(JSONValue)
        case events([JSONValue], delay: Duration, dropAfter: Int?, malformedAt: Int?)
    }

    private struct Plan {
        var status: Int
        var headers: [String: String] = [:]
        var delay: Duration = .zero
        var body: Body
    }

    /// How the server's answers drift from the spec.
    public let dialect: ScriptedDialect
    /// The port it listens on, on 127.0.0.1.
    public let port: Int
    private let state: Mutex<State>
    private let serverChannel: any Channel
    private let acceptTask: Mutex<Task<Void, Never>?>
    private let responder: (@Sendable (ScriptedConversation) -> ScriptedTurn)?

    /// The base URL to give a client, e.g. `http://127.0.0.1:49152/v1`.
    public var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    /// A provider that points at this server, with a test key.
    public var provider: Provider {
        Provider(name: "scripted", baseURL: baseURL, apiKey: APIKey("sk-scripted-test-key"))
    }

    /// The WebSocket URL of the Responses API, e.g. `ws://127.0.0.1:49152/v1/responses`.
    public var webSocketURL: String { "ws://127.0.0.1:\(port)/v1/responses" }

    /// How many WebSocket connections the server has accepted so far.
    public var webSocketConnectionsOpened: Int { state.withLock { $0.webSocketsOpened } }

    /// How many WebSocket connections are open now.
    public var openWebSocketConnections: Int { state.withLock { $0.webSocketsOpen.count } }

    /// The upgrade requests of the accepted WebSocket connections, in order, each with its ``RecordedRequest/webSocketConnection``
    /// number (refused upgrades are in ``requests``, as the `GET`s they stayed).
    public var webSocketHandshakes: [RecordedRequest] { state.withLock { $0.handshakes } }

    /// Every request received so far, in order.
    public var requests: [RecordedRequest] { state.withLock { $0.requests } }

    /// The `POST /responses` requests received so far, in order, with the `response.create` frames of WebSockets.
    public var createRequests: [RecordedRequest] { requests.filter(\.isCreate) }

    /// The `POST /responses/compact` requests received so far, in order (they are not in ``createRequests``).
    public var compactRequests: [RecordedRequest] { requests.filter { $0.method == "POST" && $0.endpoint == "/responses/compact" } }

    /// How many compactions the server made so far: in creates (`context_management`) and in `POST /responses/compact`.
    public var compactionsMade: Int { state.withLock { $0.compactions } }

    /// How many scripted turns are still unused.
    public var remainingTurns: Int { state.withLock { $0.turns.count } }

    /// Lets every background (or queued) response finish: its next poll answers with the final response.
    public func finishRunningResponses() {
        state.withLock { state in
            for key in state.stored.keys { state.stored[key]?.backgroundPolls = 0 }
        }
    }

    /// The status a stored response has now (`queued`, `in_progress` while polls are left, `cancelled` once cancelled,
    /// else its final status), or `nil` when the server does not keep it.
    public func storedStatus(_ id: String) -> String? {
        state.withLock { state in
            guard let stored = state.stored[id] else { return nil }
            if stored.response["status"] == "cancelled" { return "cancelled" }
            return stored.backgroundPolls > 0 ? "in_progress" : stored.response["status"]?.stringValue
        }
    }

    /// Drops the recorded requests and stored responses (for long benchmarks; chains to forgotten responses break).
    public func forget() {
        state.withLock { state in
            state.requests.removeAll()
            state.stored.removeAll()
            state.handshakes.removeAll()
        }
    }

    /// Appends turns to the script.
    public func enqueue(_ turns: [ScriptedTurn]) {
        state.withLock { $0.turns.append(contentsOf: turns) }
    }

    private init(
        dialect: ScriptedDialect, turns: [ScriptedTurn], channel: any Channel, port: Int,
        responder: (@Sendable (ScriptedConversation) -> ScriptedTurn)?
    ) {
        self.dialect = dialect
        self.responder = responder
        self.port = port
        self.serverChannel = channel
        self.state = Mutex(State(turns: turns, factory: ResponseFactory(dialect: dialect, counter: 0)))
        self.acceptTask = Mutex(nil)
    }

    /// Starts a server on an ephemeral port of 127.0.0.1; `responder` answers what the script has no turn left for.
    public static func start(
        _ turns: [ScriptedTurn] = [], dialect: ScriptedDialect = .spec, responder: (@Sendable (ScriptedConversation) -> ScriptedTurn)? = nil
    ) async throws -> ScriptedResponsesServer {
        let listener = try await LoopbackListener.bind(acceptingWebSockets: { head in
            dialect.webSocket && dialect.webSocketUpgradeStatus == nil && split(head.uri).0.hasSuffix("/responses")
        })
        let server = ScriptedResponsesServer(dialect: dialect, turns: turns, channel: listener.channel, port: listener.port, responder: responder)
        let task = listener.runUpgrading { await server.serve($0) }
        server.acceptTask.withLock { $0 = task }
        return server
    }

    /// Runs `body` with a started server and shuts it down afterwards.
    public static func withServer<Result>(
        _ turns: [ScriptedTurn] = [], dialect: ScriptedDialect = .spec, responder: (@Sendable (ScriptedConversation) -> ScriptedTurn)? = nil,
        isolation: isolated (any Actor)? = #isolation, _ body: (ScriptedResponsesServer) async throws -> Result
    ) async throws -> Result {
        try await withStarted({ try await start(turns, dialect: dialect, responder: responder) }, shutdown: { await $0.shutdown() }, body)
    }

    /// Stops listening and closes every open connection; WebSockets get a close frame (1001) first.
    public func shutdown() async {
        state.withLock { $0.shuttingDown = true }
        try? await serverChannel.close()
        await closeWebSockets(code: 1001, grace: .milliseconds(500))
        let open = state.withLock { state in
            defer { state.connections.removeAll() }
            return Array(state.connections.values)
        }
        for channel in open { try? await channel.close() }
        let task = acceptTask.withLock { $0 }
        task?.cancel()
        await task?.value
    }

    /// Closes every open WebSocket from the server's side: a close frame with `code`, then the connection ends when
    /// the client answers (or after two seconds). Returns once they are closed.
    public func closeWebSockets(code: UInt16 = 1001) async {
        await closeWebSockets(code: code, grace: .seconds(2))
    }

    /// Cuts every open WebSocket at once: the TCP connection closes, with no close frame.
    public func dropWebSockets() async {
        let sessions = state.withLock { state in
            defer { state.webSockets.removeAll() }
            return Array(state.webSockets.values)
        }
        for session in sessions { await session.abort() }
    }

    private func closeWebSockets(code: UInt16, grace: TimeAmount) async {
        let sessions = state.withLock { state in
            defer { state.webSockets.removeAll() }
            return Array(state.webSockets.values)
        }
        await withTaskGroup(of: Void.self) { group in
            for session in sessions {
                group.addTask {
                    await session.close(code: code, grace: grace)
                    try? await session.channel.closeFuture.get()
                }
            }
        }
    }

    // MARK: Serving

    private func serve(_ pending: PendingConnection) async {
        let key = ObjectIdentifier(pending.channel)
        let late = state.withLock { state in
            state.connections[key] = pending.channel
            return state.shuttingDown
        }
        defer { _ = state.withLock { $0.connections.removeValue(forKey: key) } }
        if late {
            try? await pending.channel.close()
            return
        }
        switch try? await pending.upgraded.get() {
        case .http(let connection): await serveHTTP(connection)
        case .webSocket(let connection, let request): await serveWebSocket(connection, request: request)
        case nil: try? await pending.channel.close()
        }
    }

    private func serveHTTP(_ connection: HTTPConnection) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let value):
                    head = value
                    body.clear()
                case .body(var chunk):
                    body.writeBuffer(&chunk)
                case .end:
                    guard let request = head else { continue }
                    let plan = self.plan(for: self.record(request, body: body))
                    if try await !self.write(plan, to: outbound) {
                        // Cut mid-body. A close (even a half-close) fails writes still queued in the channel, so give
                        // the written events time to leave first; then half-close and wait for the client to hang up.
                        try await Task.sleep(for: .milliseconds(150))
                        outbound.finish()
                    }
                }
            }
        }
    }

    private func record(_ head: HTTPRequestHead, body: ByteBuffer) -> RecordedRequest {
        let (path, query) = Self.split(head.uri)
        let headers = Self.lowercased(head.headers)
        let json = body.readableBytes > 0 ? try? JSONValue(parsing: Data(body.readableBytesView)) : nil
        let request = RecordedRequest(method: head.method.rawValue, path: path, query: query, headers: headers, body: json)
        state.withLock { $0.requests.append(request) }
        return request
    }

    private static func lowercased(_ headers: HTTPHeaders) -> [String: String] {
        var fields: [String: String] = [:]
        for (name, value) in headers { fields[name.lowercased()] = value }
        return fields
    }

    private static func split(_ uri: String) -> (String, [String: String]) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, [:]) }
        var query: [String: String] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            query[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        return (String(uri[..<mark]), query)
    }

    /// Writes a plan; returns false when the connection was cut on purpose.
    private func write(_ plan: Plan, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws -> Bool {
        if plan.delay > .zero { try await Task.sleep(for: plan.delay) }
        var headers = HTTPHeaders()
        for (name, value) in plan.headers { headers.add(name: name, value: value) }
        switch plan.body {
        case .json(let json):
            let text = json.jsonString
            headers.replaceOrAdd(name: "content-type", value: "application/json")
            headers.replaceOrAdd(name: "content-length", value: String(text.utf8.count))
            try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: plan.status), headers: headers)))
            try await outbound.write(.body(.byteBuffer(ByteBuffer(string: text))))
            try await outbound.write(.end(nil))
            return true
        case .events(let events, let delay, let dropAfter, let malformedAt):
            headers.replaceOrAdd(name: "content-type", value: "text/event-stream; charset=utf-8")
            headers.replaceOrAdd(name: "cache-control", value: "no-cache")
            try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
            for (index, event) in events.enumerated() {
                if let dropAfter, index >= dropAfter { return false }
                if index == malformedAt {
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(string: "event: response.output_text.delta\ndata: {\"type\": \"response.output_text.delta\", oops\n\n"))))
                }
                if delay > .zero, index > 0 { try await Task.sleep(for: delay) }
                if let text = event.stringValue {
                    // A string stands for a raw `data:` line, e.g. the `[DONE]` sentinel of Chat-style servers.
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(string: "data: \(text)\n\n"))))
                    continue
                }
                let type = event["type"]?.stringValue ?? "message"
                try await outbound.write(.body(.byteBuffer(ByteBuffer(string: "event: \(type)\ndata: \(event.jsonString)\n\n"))))
            }
            try await outbound.write(.end(nil))
            return true
        }
    }

    // MARK: WebSocket mode

    private func serveWebSocket(_ connection: WebSocketConnection, request head: HTTPRequestHead) async {
        let (path, query) = Self.split(head.uri)
        let headers = Self.lowercased(head.headers)
        try? await connection.executeThenClose { inbound, outbound in
            let session = state.withLock { state in
                state.webSocketsOpened += 1
                let session = WebSocketSession(number: state.webSocketsOpened, channel: connection.channel, outbound: outbound)
                state.webSockets[session.number] = session
                state.webSocketsOpen.insert(session.number)
                state.handshakes.append(RecordedRequest(
                    method: head.method.rawValue, path: path, query: query, headers: headers, webSocketConnection: session.number))
                return session
            }
            defer { _ = state.withLock { $0.webSockets.removeValue(forKey: session.number) } }
            // Counted as open until its socket closes, even while a scripted delay keeps its handler busy.
            connection.channel.closeFuture.whenComplete { [weak self] _ in _ = self?.state.withLock { $0.webSocketsOpen.remove(session.number) } }
            var memory: ConnectionMemory?
            for try await frame in inbound {
                // Once a close or a cut has begun, only read until the client hangs up.
                if session.isEnding {
                    if frame.opcode == .connectionClose { session.closeAnswered() }
                    continue
                }
                switch frame.opcode {
                case .ping:
                    if dialect.answersPings { try await session.send(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)) }
                case .connectionClose:
                    var data = frame.unmaskedData
                    await session.answerClose(code: data.readInteger(as: UInt16.self))
                case .text, .binary:
                    let create = Self.create(from: frame.unmaskedData)
                    guard case .success(var fields) = create else {
                        if case .failure(let refusal) = create { try await session.send(json: refusal.frame) }
                        continue
                    }
                    fields["type"] = nil
                    let request = RecordedRequest(
                        method: "POST", path: path, query: query, headers: headers, body: .object(fields), webSocketConnection: session.number)
                    state.withLock { $0.requests.append(request) }
                    try await answer(request, on: session, memory: &memory)
                default:
                    continue
                }
            }
        }
    }

    /// A client frame that is not a `response.create`.
    private struct FrameRefusal: Error {
        var frame: JSONValue
    }

    /// The fields of a `response.create` frame, or the error frame that answers anything else.
    private static func create(from data: ByteBuffer) -> Result<[String: JSONValue], FrameRefusal> {
        func refusal(_ code: String, _ message: String) -> FrameRefusal {
            FrameRefusal(frame: errorFrame(status: 400, error: [
                "type": "invalid_request_error", "code": .string(code), "message": .string(message), "param": nil,
            ]))
        }
        guard let json = try? JSONValue(parsing: Data(data.readableBytesView)) else {
            return .failure(refusal("invalid_json", "The message is not valid JSON."))
        }
        guard case .object(let fields) = json, fields["type"] == "response.create" else {
            let type = json["type"]?.stringValue.map { "'\($0)'" } ?? "missing"
            return .failure(refusal("unknown_event", "Unknown event type \(type); expected 'response.create'."))
        }
        return .success(fields)
    }

    /// An `error` frame: the status, the error object, and a `retry-after` header when there is one.
    private static func errorFrame(status: Int, error: JSONValue, headers: [String: String] = [:]) -> JSONValue {
        var frame: JSONValue = ["type": "error", "status": .number(Double(status)), "error": error]
        if let retryAfter = headers.first(where: { $0.key.lowercased() == "retry-after" })?.value {
            frame["headers"] = ["retry-after": .string(retryAfter)]
        }
        return frame
    }

    private func answer(_ request: RecordedRequest, on session: WebSocketSession, memory: inout ConnectionMemory?) async throws {
        switch planCreate(request, webSocket: true, memory: memory) {
        case .answer(let plan, let remember):
            if let remember { memory = remember }
            if try await !send(plan, on: session) { session.drop() }
        case .closeWebSocket(let code, let errorCode, let delay):
            if delay > .zero { try await Task.sleep(for: delay) }
            let error: [JSONValue] = errorCode.map { code in
                [Self.errorFrame(status: 400, error: [
                    "type": "invalid_request_error", "code": .string(code),
                    "message": "Responses websocket connection limit reached (60 minutes). Create a new websocket connection to continue.",
                    "param": nil,
                ])]
            } ?? []
            await session.close(code: code, before: error)
        case .dropWebSocket(let delay):
            if delay > .zero { try await Task.sleep(for: delay) }
            session.drop()
        }
    }

    /// Sends a plan as WebSocket frames (an error answer as one `error` frame); returns false when the connection is
    /// to be cut.
    private func send(_ plan: Plan, on session: WebSocketSession) async throws -> Bool {
        if plan.delay > .zero { try await Task.sleep(for: plan.delay) }
        switch plan.body {
        case .json(let json):
            if session.isEnding { return true }
            if plan.status >= 400 {
                try await session.send(json: Self.errorFrame(status: plan.status, error: json["error"] ?? json, headers: plan.headers))
            } else {
                try await session.send(json: json)
            }
            return true
        case .events(let events, let delay, let dropAfter, let malformedAt):
            for (index, event) in events.enumerated() {
                if let dropAfter, index >= dropAfter { return false }
                if index == malformedAt { try await session.send(text: "{\"type\": \"response.output_text.delta\", oops") }
                if delay > .zero, index > 0 { try await Task.sleep(for: delay) }
                // The server closed or cut the connection meanwhile (closeWebSockets, dropWebSockets).
                if session.isEnding { return true }
                // A string stands for a raw line, e.g. the `[DONE]` sentinel of Chat-style servers.
                try await session.send(text: event.stringValue ?? event.jsonString)
            }
            return true
        }
    }

    /// The refusal of a WebSocket upgrade (it reaches the HTTP side as a `GET` with `Upgrade: websocket`).
    private func refuseUpgrade(_ request: RecordedRequest) -> Plan {
        guard request.path.hasSuffix("/responses") else {
            return error(404, "The scripted server has no route GET \(request.path).")
        }
        guard dialect.webSocket else {
            return error(404, "The scripted server has no WebSocket mode (GET \(request.path)).")
        }
        switch dialect.webSocketUpgradeStatus {
        case 401?: return error(401, "Incorrect API key provided.", code: "invalid_api_key")
        case 426?: return error(426, "Upgrade required: this server takes WebSocket connections over TLS only.", code: "upgrade_required")
        case let status?: return error(status, "The WebSocket upgrade was refused (HTTP \(status)).")
        case nil: return error(400, "Invalid WebSocket upgrade: Sec-WebSocket-Key and Sec-WebSocket-Version 13 are required.")
        }
    }

    // MARK: The Responses API

    private func error(_ status: Int, _ message: String, type: String = "invalid_request_error", param: String? = nil, code: String? = nil) -> Plan {
        let codeValue: JSONValue = dialect.numericErrorCodes ? .number(Double(status)) : code.map(JSONValue.string) ?? .null
        return Plan(status: status, body: .json([
            "error": ["message": .string(message), "type": .string(type), "param": param.map(JSONValue.string) ?? .null, "code": codeValue]
        ]))
    }

    private func plan(for request: RecordedRequest) -> Plan {
        if request.headers["upgrade"]?.lowercased().contains("websocket") == true { return refuseUpgrade(request) }
        let parts = request.endpoint.split(separator: "/").map(String.init)
        switch (request.method, parts.count) {
        case ("POST", 1) where parts[0] == "responses":
            guard case .answer(let plan, _) = planCreate(request) else {
                return self.error(500, "A WebSocket fault answered an HTTP request.", type: "server_error")
            }
            return plan
        case ("POST", 2) where parts[0] == "responses" && parts[1] == "compact" && dialect.compaction:
            return planCompact(request)
        case ("GET", 2):
            return planRetrieve(id: parts[1], request: request)
        case ("DELETE", 2):
            return state.withLock { state in
                guard dialect.keepsState, state.stored.removeValue(forKey: parts[1]) != nil else {
                    return self.error(404, "Response with id '\(parts[1])' not found.")
                }
                return Plan(status: 200, body: .json(["id": .string(parts[1]), "object": "response.deleted", "deleted": true]))
            }
        case ("POST", 3) where parts[2] == "cancel":
            return state.withLock { state in
                guard dialect.keepsState, var stored = state.stored[parts[1]] else { return self.error(404, "Response with id '\(parts[1])' not found.") }
                guard stored.isBackground else { return self.error(400, "Only responses created with background set to true can be cancelled.") }
                if stored.backgroundPolls > 0 || stored.response["status"] == "in_progress" {
                    stored.backgroundPolls = 0
                    stored.response["status"] = "cancelled"
                    stored.response["output"] = []
                    state.stored[parts[1]] = stored
                }
                return Plan(status: 200, body: .json(stored.response))
            }
        case ("GET", 3) where parts[2] == "input_items":
            return state.withLock { state in
                guard dialect.keepsState, let stored = state.stored[parts[1]] else { return self.error(404, "Response with id '\(parts[1])' not found.") }
                return Plan(status: 200, body: .json([
                    "object": "list", "data": .array(stored.input), "first_id": stored.input.first?["id"] ?? .null,
                    "last_id": stored.input.last?["id"] ?? .null, "has_more": false,
                ]))
            }
        default:
            return self.error(404, "The scripted server has no route \(request.method) \(request.path).")
        }
    }

    private func planRetrieve(id: String, request: RecordedRequest) -> Plan {
        state.withLock { state in
            guard dialect.keepsState, var stored = state.stored[id] else { return self.error(404, "Response with id '\(id)' not found.") }
            if request.query["stream"] == "true" {
                let after = request.query["starting_after"].flatMap(Int.init) ?? -1
                let rest = stored.events.enumerated().filter { index, event in (event["sequence_number"]?.intValue ?? index) > after }.map(\.element)
                return Plan(status: 200, body: .events(rest, delay: .zero, dropAfter: nil, malformedAt: nil))
            }
            if stored.backgroundPolls > 0 {
                stored.backgroundPolls -= 1
                state.stored[id] = stored
                var running = stored.response
                running["status"] = "in_progress"
                running["output"] = []
                running["usage"] = .null
                return Plan(status: 200, body: .json(running))
            }
            return Plan(status: 200, body: .json(stored.response))
        }
    }

    /// The conversation `request` continues: the inputs and outputs of the stored responses it chains to (or of the
    /// connection's `memory`), oldest first, then its own input.
    private static func conversation(
        _ request: RecordedRequest, input: [JSONValue], stored: [String: Stored], memory: ConnectionMemory? = nil
    ) -> ScriptedConversation {
        var chain: [Stored] = []
        var earlier: (items: [JSONValue], responses: Int) = ([], 0)
        var previous = request.body?["previous_response_id"]?.stringValue
        while let id = previous, let response = memory?.id == id ? memory?.stored : stored[id], chain.count < 10_000 {
            if let history = response.history {
                earlier = history
                break
            }
            chain.append(response)
            previous = response.response["previous_response_id"]?.stringValue
        }
        let items = earlier.items + chain.reversed().flatMap { $0.input + ($0.response["output"]?.arrayValue ?? []) } + input
        return ScriptedConversation(request: request, items: items, chainedResponses: earlier.responses + chain.count)
    }

    /// The input items of a create (or compact) body; a string input is one user message.
    private static func inputItems(_ body: JSONValue?) -> [JSONValue] {
        body?["input"]?.arrayValue ?? (body?["input"]?.stringValue).map { [["role": "user", "content": .string($0)]] } ?? []
    }

    /// The events of a background stream: `response.queued` after `response.created`, and the numbers shifted.
    private static func queuing(_ events: [JSONValue], numbered: Bool) -> [JSONValue] {
        guard let created = events.first, created["type"] == "response.created" else { return events }
        var queued: JSONValue = ["type": "response.queued", "response": created["response"] ?? [:]]
        queued["response"]?["status"] = "queued"
        var all = [created, queued] + events.dropFirst()
        if numbered {
            for index in all.indices { all[index]["sequence_number"] = .number(Double(index)) }
        }
        return all
    }

    /// Answers a create. Over a WebSocket (`webSocket`) the answer is always a stream, `background` is ignored, and
    /// `previous_response_id` may name the connection's `memory` whatever `store` said.
    private func planCreate(_ request: RecordedRequest, webSocket: Bool = false, memory: ConnectionMemory? = nil) -> CreateOutcome {
        let body = request.body
        let input = Self.inputItems(body)
        if let forged = forgedCompaction(in: input) { return .answer(forged) }
        if dialect.rejectsDuplicateCallIDs {
            for type in ["function_call", "function_call_output"] {
                var seen: Set<String> = []
                for item in input where item["type"]?.stringValue == type {
                    guard let id = item["call_id"]?.stringValue, !seen.insert(id).inserted else { continue }
                    return .answer(error(400, "Duplicate \(type) for call_id \(id) in the input.", param: "input"))
                }
            }
        }
        return state.withLock { state -> CreateOutcome in
            // Over a WebSocket the connection's most recent response can be chained from even if it was not stored.
            var remembered: ConnectionMemory?
            if let previous = body?["previous_response_id"]?.stringValue {
                let earlier: Stored
                if let memory, memory.id == previous {
                    earlier = memory.stored
                    remembered = memory
                } else if dialect.keepsState, let stored = state.stored[previous] {
                    earlier = stored
                } else {
                    if let refusal = dialect.previousResponseRefusal { return .answer(self.error(400, refusal)) }
                    return .answer(self.error(
                        400, "Previous response with id '\(previous)' not found.", param: "previous_response_id", code: "previous_response_not_found"))
                }
                let answered = Set(input.compactMap { $0["type"] == "function_call_output" ? $0["call_id"]?.stringValue : nil })
                for item in earlier.response["output"]?.arrayValue ?? [] where item["type"] == "function_call" {
                    if let callID = item["call_id"]?.stringValue, !answered.contains(callID) {
                        return .answer(self.error(400, "No tool output found for function call \(callID).", param: "input"))
                    }
                }
            }
            let storedBefore = state.stored
            let whole = { Self.conversation(request, input: input, stored: storedBefore, memory: remembered) }
            // Counted (and compacted, and refused when it does not fit) before a turn is used up.
            let context = countsContext ? self.context(of: whole(), number: state.compactions + 1) : nil
            if let tokens = context?.tokens, let refusal = overflow(tokens) { return .answer(refusal) }
            state.creates += 1
            let conversation = { context?.conversation ?? whole() }
            var turn: ScriptedTurn
            if !state.turns.isEmpty {
                turn = state.turns.removeFirst()
            } else if let responder {
                turn = responder(conversation())
            } else {
                return .answer(self.error(500, "The scripted server has no turn left for request #\(state.creates) (POST /responses).", type: "server_error"))
            }
            if let make = turn.dynamic { turn = make(request) }
            if turn.closesWebSocket != nil || turn.dropsWebSocket {
                guard webSocket else {
                    return .answer(self.error(
                        500, "The scripted turn for request #\(state.creates) ends a WebSocket, but the request came over HTTP.", type: "server_error"))
                }
                if let close = turn.closesWebSocket { return .closeWebSocket(code: close.code, errorCode: close.errorCode, delay: turn.delay) }
                return .dropWebSocket(delay: turn.delay)
            }
            if let failure = turn.httpError {
                return .answer(Plan(status: failure.status, headers: failure.headers, delay: turn.delay, body: .json(failure.body)))
            }
            let streaming = webSocket || body?["stream"]?.boolValue == true
            let background = !webSocket && body?["background"]?.boolValue == true && dialect.supportsBackground
            let id = state.factory.id("resp")
            let items = state.factory.items(for: turn, request: body)
            let status = turn.streamError != nil ? "failed" : turn.status
            if context?.compaction != nil { state.compactions += 1 }
            var final = state.factory.response(
                id: id, status: status, output: (context?.compaction).map { [$0] + items } ?? items, request: body, turn: turn,
                usage: ResponseFactory.usage(request: body, output: items, override: turn.usage, inputTokens: context?.tokens))
            var events = turn.customEvents ?? state.factory.events(for: final, turn: turn)
            if let custom = turn.customEvents, let last = custom.last(where: { $0["response"] != nil })?["response"] {
                final = last
                events = custom
            }
            if let transform = turn.transformEvents { events = transform(events) }
            // A background response is kept whatever `store` says (OpenAI answers `"store": false` and still serves
            // GET and stream resumption for it).
            let stores = dialect.keepsState && (body?["store"]?.boolValue != false || background)
            let polled = background || (turn.answersQueued && !streaming)
            if background, streaming, turn.customEvents == nil {
                // Background streams announce the queue after `response.created`.
                events = Self.queuing(events, numbered: dialect.sequenceNumbers)
            }
            let finalID = final["id"]?.stringValue ?? id
            var answered = Stored(
                response: final, events: events, input: input, backgroundPolls: polled ? turn.backgroundPolls : 0, isBackground: background)
            if let context, let compaction = context.compaction {
                answered.history = Self.compactedHistory(
                    compaction, output: final["output"]?.arrayValue ?? [], chainedResponses: context.conversation.chainedResponses)
            } else if webSocket {
                let before = whole()
                answered.history = (before.items + (final["output"]?.arrayValue ?? []), before.chainedResponses + 1)
            }
            if stores { state.stored[finalID] = answered }
            let remember = webSocket ? ConnectionMemory(id: finalID, stored: answered) : nil
            if streaming {
                return .answer(Plan(
                    status: 200, headers: turn.headers, delay: turn.delay,
                    body: .events(events, delay: turn.eventDelay, dropAfter: turn.dropAfterEvents, malformedAt: turn.malformedEventAt)),
                    remember: remember)
            }
            if polled {
                var queued = final
                queued["status"] = "queued"
                queued["output"] = []
                queued["usage"] = .null
                return .answer(Plan(status: 200, headers: turn.headers, delay: turn.delay, body: .json(queued)))
            }
            return .answer(Plan(status: 200, headers: turn.headers, delay: turn.delay, body: .json(turn.customBody ?? final)))
        }
    }

    // MARK: The context window and compaction

    /// What a `compaction` item counts, whatever its size.
    private static let compactionTokens = 40

    /// The scripted server's token estimate of `items`: for each item, the UTF-8 bytes of its compact JSON
    /// (`jsonString`) divided by 4, rounded up, at least 1; a `compaction` item counts 40 whatever its size. The sum.
    public static func estimatedTokens(_ items: [JSONValue]) -> Int {
        items.reduce(0) { total, item in
            total + (item["type"] == "compaction" ? compactionTokens : max(1, (item.jsonString.utf8.count + 3) / 4))
        }
    }

    /// The estimate of a request's whole context, as the server counts it against ``ScriptedDialect/contextWindow``
    /// and reports it in `usage.input_tokens`: the instructions, when there are any, as the one item
    /// `{"type": "input_text", "text": instructions}`, then the items of the conversation.
    public static func estimatedContextTokens(instructions: String?, items: [JSONValue]) -> Int {
        estimatedTokens((instructions.map { [["type": "input_text", "text": .string($0)]] } ?? []) + items)
    }

    /// A create's context once the server has compacted it (or not).
    private struct Context {
        /// The conversation the responder is shown: the whole one, or the compaction item and the last two items.
        var conversation: ScriptedConversation
        /// The estimate of the context, instructions included (after the compaction, when there was one).
        var tokens: Int
        /// The compaction item that starts the output, when the server compacted.
        var compaction: JSONValue?
    }

    /// Whether the server counts the context of creates: it has a window, or it compacts.
    private var countsContext: Bool { dialect.contextWindow != nil || dialect.compaction }

    /// The context of `whole` (a create's conversation); compacted, as the server's `number`th compaction, when the
    /// dialect compacts and the request's `compact_threshold` is crossed.
    private func context(of whole: ScriptedConversation, number: Int) -> Context {
        let instructions = whole.request.body?["instructions"]?.stringValue
        let tokens = Self.estimatedContextTokens(instructions: instructions, items: whole.items)
        guard dialect.compaction, let threshold = Self.compactThreshold(whole.request.body), tokens > threshold else {
            return Context(conversation: whole, tokens: tokens)
        }
        let item = ResponseFactory.compactionItem(number: number, replaced: whole.items.count)
        var compacted = whole
        compacted.items = [item] + whole.items.suffix(2)
        return Context(
            conversation: compacted, tokens: Self.estimatedContextTokens(instructions: instructions, items: compacted.items), compaction: item)
    }

    /// The `compact_threshold` of a create's `context_management` compaction entry.
    private static func compactThreshold(_ body: JSONValue?) -> Int? {
        let entries = body?["context_management"]?.arrayValue ?? []
        return entries.first { $0["type"] == "compaction" }?["compact_threshold"]?.intValue
    }

    /// What a compacted response remembers of the conversation up to its output: the compaction item, then the
    /// output after it (so a later chained request walks no further back).
    private static func compactedHistory(
        _ compaction: JSONValue, output: [JSONValue], chainedResponses: Int
    ) -> (items: [JSONValue], responses: Int) {
        let reply = output.first?["type"] == "compaction" ? Array(output.dropFirst()) : output
        return ([compaction] + reply, chainedResponses + 1)
    }

    /// The 400 for a context of `tokens` that does not fit the dialect's window, in its ``ScriptedDialect/contextOverflowStyle``.
    private func overflow(_ tokens: Int) -> Plan? {
        guard let window = dialect.contextWindow, tokens > window else { return nil }
        let error: JSONValue
        switch dialect.contextOverflowStyle {
        case .openAI:
            error = [
                "message": "Your input exceeds the context window of this model. Please adjust your input and try again.",
                "type": "invalid_request_error", "param": "input", "code": "context_length_exceeded",
            ]
        case .llamaCpp:
            error = [
                "code": 400, "message": .string("request (\(tokens) tokens) exceeds the available context size (\(window) tokens), try increasing it"),
                "type": "exceed_context_size_error", "n_prompt_tokens": .number(Double(tokens)), "n_ctx": .number(Double(window)),
            ]
        }
        return Plan(status: 400, body: .json(["error": error]))
    }

    /// The 400 for the first `compaction` item of `input` this server cannot have made (its `encrypted_content` does
    /// not start with `scripted-compaction:`), if there is one.
    private func forgedCompaction(in input: [JSONValue]) -> Plan? {
        for (index, item) in input.enumerated() where item["type"] == "compaction" {
            if item["encrypted_content"]?.stringValue?.hasPrefix("scripted-compaction:") == true { continue }
            let id = item["id"]?.stringValue ?? "input[\(index)]"
            return error(400, "The encrypted content for item \(id) could not be verified.", param: "input", code: "invalid_encrypted_content")
        }
        return nil
    }

    /// Answers `POST /responses/compact`: the conversation (the chain from `previous_response_id`, then `input`) becomes
    /// its user messages, in order, then a compaction item that stands for all of it.
    private func planCompact(_ request: RecordedRequest) -> Plan {
        let body = request.body
        let input = Self.inputItems(body)
        if let forged = forgedCompaction(in: input) { return forged }
        return state.withLock { state in
            let previous = body?["previous_response_id"]?.stringValue
            if let previous, !dialect.keepsState || state.stored[previous] == nil {
                return self.error(
                    400, "Previous response with id '\(previous)' not found.", param: "previous_response_id", code: "previous_response_not_found")
            }
            guard previous != nil || !input.isEmpty else { return self.error(400, "Missing required parameter: 'input'.", param: "input") }
            let items = Self.conversation(request, input: input, stored: state.stored).items
            state.compactions += 1
            let number = state.compactions
            let messages = items.filter { $0["role"] == "user" && ($0["type"] == nil || $0["type"] == "message") }.map { item -> JSONValue in
                ["type": "message", "role": "user", "content": item["content"] ?? ""]
            }
            let tokens = Self.estimatedContextTokens(instructions: body?["instructions"]?.stringValue, items: items)
            return Plan(status: 200, body: .json([
                "id": .string("cmpresp_\(number)"), "object": "response.compaction",
                "created_at": .number(Date().timeIntervalSince1970.rounded(.down)),
                "output": .array(messages + [ResponseFactory.compactionItem(number: number, replaced: items.count)]),
                "usage": ResponseFactory.usage(input: tokens, output: Self.compactionTokens),
            ]))
        }
    }
}
