import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization
import WebSocketKit

/// One connection of the Responses API's WebSocket mode (`wss://…/v1/responses`).
///
/// Each turn sends one `{"type": "response.create", …}` text frame, the create body without its transport fields,
/// and reads the streamed `response.*` events, one JSON frame each, until the terminal event: through the same event
/// decoder and accumulator as an HTTP stream. Turns run one after another. The server keeps the connection's most
/// recent response in memory, so the next turn can chain to it with `previous_response_id` and only the new input
/// even with `store: false` (``lastResponseID``); a new connection knows only stored responses.
///
/// Open one with ``ResponsesClient/openConnection()`` or ``ResponsesClient/withConnection(_:)``; give it back with
/// ``ResponsesClient/release(_:)`` so that the next run reuses it, or ``close()`` it.
public final class ResponsesConnection: Sendable {
    /// The client whose provider, key, retries and pacing the connection uses.
    public let client: ResponsesClient
    /// Where it is connected.
    public let url: String
    /// When it was opened.
    public let openedAt: ContinuousClock.Instant
    /// A number for logs and the journal: the client's first connection is 1.
    public let number: Int
    let socket: WebSocket
    private let inbox: FrameInbox
    private let state = Mutex<State>(State())

    private struct State {
        var lastResponseID: String?
        var pingTimer: RepeatedTask?
        var idleSweeper: RepeatedTask?
        var channel: (any Channel)?
    }

    init(client: ResponsesClient, url: String, number: Int, socket: WebSocket, inbox: FrameInbox) {
        self.client = client
        self.url = url
        self.number = number
        self.openedAt = .now
        self.socket = socket
        self.inbox = inbox
        let channel = Self.channel(of: socket)
        state.withLock { $0.channel = channel }
    }

    /// The id of the last response this connection answered: what the server keeps in the connection's memory, so a
    /// request chained to it needs only the new input even when nothing is stored.
    public var lastResponseID: String? { state.withLock { $0.lastResponseID } }

    /// Whether the connection is still open.
    public var isOpen: Bool { !socket.isClosed && !inbox.isClosed }

    /// How long ago it was opened.
    public var age: Duration { .now - openedAt }

    // MARK: Opening

    /// Opens a connection to the provider's ``Provider/responsesWebSocketURL``, with the key and the provider's
    /// headers in the handshake.
    static func open(client: ResponsesClient, number: Int) async throws -> ResponsesConnection {
        let provider = client.provider
        if provider.requiresAPIKey, provider.apiKey == nil {
            throw ResponsesError(
                kind: .missingAPIKey, message: "no API key for \(provider.name): set \(provider.apiKeyEnvironmentVariable ?? "the API key")",
                provider: provider.name)
        }
        let url = provider.responsesWebSocketURL
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), scheme == "ws" || scheme == "wss", parsed.host != nil else {
            throw ResponsesError(
                kind: .invalidRequest, message: "the WebSocket URL '\(url)' is not a ws:// or wss:// URL (set provider.websocket_url, or check the base URL)",
                provider: provider.name)
        }
        var headers = HTTPHeaders()
        for (name, value) in provider.headers { headers.replaceOrAdd(name: name, value: value) }
        if let key = provider.apiKey { headers.replaceOrAdd(name: "Authorization", value: "Bearer \(key.value)") }
        headers.replaceOrAdd(name: "User-Agent", value: client.configuration.userAgent)
        var configuration = WebSocketClient.Configuration(
            tlsConfiguration: scheme == "wss" ? .makeClientConfiguration() : nil, maxFrameSize: client.configuration.maxResponseBytes)
        configuration.maxAccumulatedFrameSize = client.configuration.maxResponseBytes
        let inbox = FrameInbox()
        let group = MultiThreadedEventLoopGroup.singleton
        // The connect's future completes with the handshake's answer; the socket arrives a moment later, once the
        // pipeline is switched over.
        let upgraded = group.any().makePromise(of: WebSocket.self)
        let connect = WebSocket.connect(to: url, headers: headers, configuration: configuration, on: group) { socket in
            socket.onText { _, text in inbox.push(text) }
            socket.onBinary { _, buffer in inbox.push(String(buffer: buffer)) }
            socket.onPong { _, _ in inbox.awaitingPong.withLock { $0 = nil } }
            socket.onClose.whenComplete { _ in inbox.close(code: socket.closeCode) }
            upgraded.succeed(socket)
        }
        connect.whenFailure { upgraded.fail($0) }
        let what = "opening the WebSocket"
        let socket: WebSocket
        do {
            socket = try await withConnectTimeout(handshakeLimit(client.configuration)) {
                try await connect.get()
                return try await upgraded.futureResult.get()
            }
        } catch let error as WebSocketClient.Error {
            guard case .invalidResponseStatus(let head) = error else { throw client.connectionError(error, doing: what) }
            let status = Int(head.status.code)
            let said = (200..<300).contains(status)
                ? "answered HTTP \(status) instead of switching protocols"
                : "refused the WebSocket upgrade with HTTP \(status)"
            var failure = ResponsesError(
                kind: .httpStatus, message: "\(url) \(said)", status: status, requestID: head.headers.first(name: "x-request-id"),
                provider: provider.name, method: "WEBSOCKET")
            failure.redact(provider.apiKey?.value)
            throw failure
        } catch is ConnectTimeout {
            throw ResponsesError(
                kind: .timeout,
                message: "\(what) to \(url) timed out: no upgrade within \(handshakeLimit(client.configuration)) (connectTimeout, then up to 30 s of responseTimeout for the server's answer; is the host up? is the port right?)",
                provider: provider.name, method: "WEBSOCKET")
        } catch {
            if Task.isCancelled || error is CancellationError { throw CancellationError() }
            if ResponsesClient.isRefused(error) { throw client.refusedError(error, doing: what) }
            throw client.connectionError(error, doing: what)
        }
        let connection = ResponsesConnection(client: client, url: url, number: number, socket: socket, inbox: inbox)
        connection.startPinging()
        connection.startIdleSweeps()
        client.logger.debug("WebSocket connection opened", metadata: ["url": "\(url)", "connection": "\(number)"])
        return connection
    }

    private struct ConnectTimeout: Error {}

    /// How long opening may take: the connect, as over HTTP, and then the server's answer to the upgrade, which like
    /// any answer's head gets the response timeout (capped at 30 s: a handshake is not a model's answer).
    static func handshakeLimit(_ configuration: ResponsesClientConfiguration) -> Duration {
        configuration.connectTimeout + min(configuration.responseTimeout, .seconds(30))
    }

    /// Runs the connect, failing with ``ConnectTimeout`` when it takes longer than `timeout` (the upgrade included).
    private static func withConnectTimeout<T: Sendable>(
        _ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw ConnectTimeout()
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    /// Pings every ``ResponsesClientConfiguration/webSocketPingInterval``; a ping unanswered for
    /// ``ResponsesClientConfiguration/webSocketPingTimeout`` closes the connection as dead.
    private func startPinging() {
        guard let interval = client.configuration.webSocketPingInterval, interval > .zero else { return }
        let timeout = TimeAmount(client.configuration.webSocketPingTimeout)
        let task = socket.eventLoop.scheduleRepeatedTask(initialDelay: TimeAmount(interval), delay: TimeAmount(interval)) { [weak self] task in
            guard let self, self.isOpen else {
                task.cancel()
                return
            }
            let now = NIODeadline.now()
            let overdue = self.inbox.awaitingPong.withLock { awaiting -> Bool in
                if let since = awaiting { return now - since > timeout }
                awaiting = now
                return false
            }
            if overdue {
                self.inbox.close(reason: "the server did not answer a ping within \(self.client.configuration.webSocketPingTimeout) (webSocketPingTimeout)")
                self.abort()
                task.cancel()
                return
            }
            self.socket.sendPing()
            // A pong that never comes is noticed at the next tick, or sooner when the timeout is shorter.
            if timeout < TimeAmount(interval) {
                self.socket.eventLoop.scheduleTask(in: timeout) { [weak self] in
                    guard let self, self.inbox.awaitingPong.withLock({ $0 == now }) else { return }
                    self.inbox.close(reason: "the server did not answer a ping within \(self.client.configuration.webSocketPingTimeout) (webSocketPingTimeout)")
                    self.abort()
                }
            }
        }
        state.withLock { $0.pingTimer = task }
    }

    /// Checks a few times per ``ResponsesClientConfiguration/idleTimeout`` whether a turn waits past it: one timer
    /// per connection on its event loop, where a timer per frame would cost a cross-thread wake-up each.
    private func startIdleSweeps() {
        let every = TimeAmount.nanoseconds(TimeAmount(client.configuration.idleTimeout).nanoseconds / 8)
        let period = max(TimeAmount.milliseconds(5), min(every, TimeAmount.seconds(1)))
        let task = socket.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { [weak self] task in
            guard let self else {
                task.cancel()
                return
            }
            self.inbox.expireIdle(now: .now())
        }
        state.withLock { $0.idleSweeper = task }
    }

    /// Closes the connection with a close frame (`1000`), waiting a moment for the server's reply.
    public func close() async {
        state.withLock { state in
            state.pingTimer?.cancel()
            state.pingTimer = nil
            state.idleSweeper?.cancel()
            state.idleSweeper = nil
        }
        guard !socket.isClosed else { return }
        let closing: EventLoopFuture<Void> = socket.close(code: .normalClosure)
        // A server that does not answer the close frame gets two seconds.
        let deadline = socket.eventLoop.scheduleTask(in: .seconds(2)) { [self] in abort() }
        _ = try? await closing.get()
        _ = try? await socket.onClose.get()
        deadline.cancel()
        client.logger.debug("WebSocket connection closed", metadata: ["url": "\(url)", "connection": "\(number)"])
    }

    /// Drops the connection at once, without waiting for a close handshake (a peer gone silent never answers one; a
    /// response in flight is abandoned with it).
    package func abort() {
        state.withLock { state in
            state.pingTimer?.cancel()
            state.idleSweeper?.cancel()
        }
        inbox.close(reason: nil)
        if let channel {
            channel.close(mode: .all, promise: nil)
        } else {
            socket.close(code: .goingAway, promise: nil)
        }
    }

    /// The socket's channel. websocket-kit keeps it internal and offers only a close handshake, which a peer that went
    /// silent never completes; read once at open (a stored property, so reflection finds it, on Linux and Darwin).
    private var channel: (any Channel)? { state.withLock { $0.channel } }

    static func channel(of socket: WebSocket) -> (any Channel)? {
        Mirror(reflecting: socket).children.first { $0.label == "channel" }?.value as? any Channel
    }

    // MARK: Turns

    /// The frame for `request`: `{"type": "response.create", …}`, the create body without `stream` and `background`.
    func frame(for request: CreateResponseRequest) throws -> ByteBuffer {
        var request = request
        request.stream = nil
        request.background = nil
        var body = try client.encode(request)
        var frame = ByteBuffer()
        frame.reserveCapacity(body.readableBytes + 32)
        frame.writeStaticString("{\"type\":\"response.create\"")
        // The body is one JSON object: its members follow the type, after a comma unless it is empty.
        body.moveReaderIndex(forwardBy: 1)
        let empty = body.readableBytesView.first { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") } == UInt8(ascii: "}")
        if !empty { frame.writeStaticString(",") } else { body.clear(); frame.writeStaticString("}") }
        frame.writeBuffer(&body)
        return frame
    }

    /// Sends one turn and reads its events until the terminal one, calling `onEvent` for each; returns the final
    /// response (completed from the streamed items if the server left its output empty).
    ///
    /// An `error` frame before the response starts is the server refusing the request: a ``ResponsesError`` of kind
    /// ``ResponsesError/Kind/httpStatus`` with the frame's status and error, as the HTTP answer would be (429 and 5xx
    /// are retried on the connection as `retry-after` says). A connection that closes, breaks or goes silent for
    /// ``ResponsesClientConfiguration/idleTimeout`` before the terminal event throws
    /// ``ResponsesError/Kind/connectionClosed`` (or ``ResponsesError/Kind/timeout``) with what had arrived, and the
    /// connection is no longer usable. Cancelling the calling task closes the connection, since the protocol has no
    /// way to stop one response.
    public func send(
        _ request: CreateResponseRequest, echoes: Bool = true, isolation: isolated (any Actor)? = #isolation,
        onEvent: (ResponseStreamEvent) async throws -> Void = { _ in }
    ) async throws -> Response {
        if request.background == true {
            throw ResponsesError(
                kind: .invalidRequest, message: "background mode is not part of the WebSocket mode; send background responses over HTTP (--transport http)",
                provider: client.provider.name)
        }
        let frame = try self.frame(for: request)
        let decoder = JSONDecoder()
        if !echoes { decoder.userInfo[.responseEchoes] = false }
        var attempt = 0
        while true {
            try Task.checkCancellation()
            try await client.gate.admit()
            try await client.sharedGate?.admit()
            let stray = inbox.drain()
            if stray > 0 { client.logger.debug("dropped frames that arrived between turns", metadata: ["frames": "\(stray)"]) }
            do {
                let written = socket.eventLoop.makePromise(of: Void.self)
                socket.send(frame, opcode: .text, fin: true, promise: written)
                try await written.futureResult.get()
            } catch {
                throw closedError(events: 0, accumulator: ResponseAccumulator(), cause: error)
            }
            var turn = TurnReader(connection: self, decoder: decoder)
            do {
                let response = try await turn.read(isolation: isolation, onEvent: onEvent)
                state.withLock { $0.lastResponseID = response.id.isEmpty ? nil : response.id }
                if client.gate.countsTokens { client.gate.record(tokens: response.usage?.totalTokens ?? 0) }
                client.sharedGate?.record(tokens: response.usage?.totalTokens ?? 0)
                return response
            } catch let refusal as Refusal {
                var failure = refusal.error
                guard attempt < client.configuration.retry.maxRetries, let status = failure.status,
                    client.configuration.retry.shouldRetry(status: status, headers: refusal.headers)
                else {
                    failure.redact(client.provider.apiKey?.value)
                    throw failure
                }
                let wait = client.configuration.retry.delay(attempt: attempt, headers: refusal.headers)
                client.logger.warning("retryable error frame, sending the turn again", metadata: ["status": "\(status)", "retry_in": "\(wait)"])
                attempt += 1
                if RetryPolicy.requestedDelay(refusal.headers, now: Date()) != nil {
                    client.gate.block(for: wait)
                    client.sharedGate?.hold(for: wait)
                } else {
                    try await Task.sleep(for: wait)
                }
            } catch is CancellationError {
                // No cancel event exists for one response: closing the connection is how it stops.
                abort()
                throw CancellationError()
            }
        }
    }

    /// An `error` frame that refused the request before any response began.
    struct Refusal: Error {
        var error: ResponsesError
        var headers: HTTPHeaders
    }

    func closedError(events: Int, accumulator: ResponseAccumulator, cause: (any Error)?, said: String? = nil, why: String? = nil) -> ResponsesError {
        let why = why ?? inbox.closeReason ?? cause.map { "it broke: \(client.explain($0, timedOut: false))\($0)" } ?? "it closed"
        var failure = ResponsesError(
            kind: .connectionClosed,
            message: "the WebSocket connection \(number) to \(url) ended after \(events) events of the response, before its terminal event: \(why)\(said.map { "; the server said: \($0)" } ?? "")",
            provider: client.provider.name, underlying: cause, partialResponse: accumulator.snapshot(), method: "WEBSOCKET")
        failure.redact(client.provider.apiKey?.value)
        return failure
    }

    /// Reads one turn's frames.
    private struct TurnReader {
        let connection: ResponsesConnection
        let decoder: JSONDecoder
        /// The response the connection answered before this turn.
        let previous: String?
        var accumulator = ResponseAccumulator()
        var events = 0
        var unreadable = 0
        var firstUnreadable: String?

        init(connection: ResponsesConnection, decoder: JSONDecoder) {
            self.connection = connection
            self.decoder = decoder
            self.previous = connection.lastResponseID
        }

        mutating func read(isolation: isolated (any Actor)?, onEvent: (ResponseStreamEvent) async throws -> Void) async throws -> Response {
            let client = connection.client
            let idle = TimeAmount(client.configuration.idleTimeout)
            while true {
                switch await connection.inbox.next(timeout: idle) {
                case .cancelled:
                    throw CancellationError()
                case .idle:
                    connection.abort()
                    var failure = ResponsesError(
                        kind: .timeout,
                        message: "the WebSocket connection \(connection.number) to \(connection.url) timed out: the server sent nothing for \(client.configuration.idleTimeout) (idleTimeout) after \(events) events",
                        provider: client.provider.name, partialResponse: accumulator.snapshot(), method: "WEBSOCKET")
                    failure.redact(client.provider.apiKey?.value)
                    throw failure
                case .closed:
                    let said = accumulator.errors.last.map { "\($0.code.map { "\($0): " } ?? "")\(OneLine.squash($0.message, limit: 200))" }
                    throw connection.closedError(events: events, accumulator: accumulator, cause: nil, said: said)
                case .text(let text):
                    guard let (event, final) = try handle(text) else { continue }
                    try await onEvent(event)
                    if let final { return final }
                }
            }
        }

        /// One frame: the event to pass on (none for a frame that cannot be read), and the final response once the
        /// terminal event arrives.
        private mutating func handle(_ text: String) throws -> (ResponseStreamEvent, Response?)? {
            let client = connection.client
            var event: ResponseStreamEvent
            do {
                event = try decoder.decode(ResponseStreamEvent.self, from: Data(text.utf8))
            } catch {
                unreadable += 1
                let account = "frame \(events + unreadable) could not be read: \(ResponseEventStream.Iterator.brief(error)); it began: \(ResponsesClient.preview(text))"
                if firstUnreadable == nil { firstUnreadable = account }
                client.logger.warning("skipping a WebSocket frame that cannot be read", metadata: ["frame": "\(account)"])
                return nil
            }
            if case .error(let error) = event {
                let frame = try? JSONValue(parsing: Data(text.utf8))
                if error.code == "websocket_connection_limit_reached" {
                    // The connection is at its age limit and is being closed: the turn goes again on a new one.
                    let why = "the server ended it at its time limit (websocket_connection_limit_reached: \(OneLine.squash(error.message, limit: 200)))"
                    connection.inbox.close(reason: why)
                    connection.abort()
                    throw connection.closedError(events: events, accumulator: accumulator, cause: nil, why: why)
                }
                if accumulator.responseID == nil {
                    throw refusal(error, frame: frame)
                }
            }
            if let id = event.response?.id, !id.isEmpty, id == previous || (accumulator.responseID.map { $0 != id } ?? false) {
                // An event of an earlier response (a server that sends `response.done` after `response.completed`)
                // belongs to no turn of this one.
                connection.client.logger.debug("skipping an event of another response", metadata: ["response_id": "\(id)"])
                return nil
            }
            events += 1
            accumulator.apply(event)
            if let final = accumulator.finalResponse, event.terminalResponse != nil {
                event = event.carrying(final)
                return (event, final)
            }
            return (event, nil)
        }

        /// The `error` frame that refused a request, as the HTTP answer would have been.
        private func refusal(_ error: ErrorEvent, frame: JSONValue?) -> Refusal {
            let client = connection.client
            let status = frame?["status"]?.intValue ?? frame?["status_code"]?.intValue ?? 400
            var headers = HTTPHeaders()
            for (name, value) in frame?["headers"]?.objectValue ?? [:] {
                if let text = value.stringValue { headers.add(name: name, value: text) } else if let number = value.intValue { headers.add(name: name, value: String(number)) }
            }
            let failure = ResponsesError(
                kind: .httpStatus, message: "response.create on WebSocket connection \(connection.number) was refused with status \(status)", status: status,
                providerError: ProviderErrorBody(message: error.message, type: error.type, param: error.param, code: error.code),
                requestID: headers.first(name: "x-request-id"), provider: client.provider.name, method: "POST")
            return Refusal(error: failure, headers: headers)
        }
    }
}

// MARK: - The inbox

/// The frames of one connection, waiting for the turn that reads them: a single-consumer queue fed from the event
/// loop, with a per-wait idle timeout and cancellation.
final class FrameInbox: Sendable {
    enum Inbound: Sendable {
        case text(String)
        case closed
        case idle
        case cancelled
    }

    private struct Waiter {
        var id: Int
        var continuation: CheckedContinuation<Inbound, Never>
        var deadline: NIODeadline
    }

    private struct State {
        var frames: [String] = []
        var head = 0
        var closed = false
        var closeReason: String?
        var waiter: Waiter?
        var nextID = 0
        var cancelledID: Int?

        mutating func take() -> Inbound? {
            if head < frames.count {
                let frame = frames[head]
                head += 1
                if head == frames.count {
                    frames.removeAll(keepingCapacity: true)
                    head = 0
                }
                return .text(frame)
            }
            return closed ? .closed : nil
        }
    }

    private let state = Mutex(State())
    /// When the ping in flight was sent (`nil`: none is waiting for its pong).
    let awaitingPong = Mutex<NIODeadline?>(nil)

    /// Whether the connection has closed.
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Why the connection closed, when the client knows better than the close code (a ping unanswered, the time limit).
    var closeReason: String? { state.withLock { $0.closeReason } }

    /// A frame arrived: to the waiting reader, else into the queue.
    func push(_ text: String) {
        let waiter = state.withLock { state -> Waiter? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.frames.append(text)
            return nil
        }
        waiter?.continuation.resume(returning: .text(text))
    }

    /// The connection closed; `code` is the close frame's, `reason` the client's own account.
    func close(code: WebSocketErrorCode? = nil, reason: String? = nil) {
        let waiter = state.withLock { state -> Waiter? in
            if state.closeReason == nil {
                if let reason {
                    state.closeReason = reason
                } else if let code {
                    state.closeReason = "the server closed it (\(Self.describe(code)))"
                } else if !state.closed {
                    state.closeReason = "the connection dropped without a close frame"
                }
            }
            state.closed = true
            guard state.head >= state.frames.count, let waiter = state.waiter else { return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.continuation.resume(returning: .closed)
    }

    static func describe(_ code: WebSocketErrorCode) -> String {
        let number = UInt16(webSocketErrorCode: code)
        let name: String? = switch number {
        case 1000: "normal closure"
        case 1001: "going away"
        case 1002: "protocol error"
        case 1003: "unacceptable data"
        case 1006: "closed abnormally"
        case 1008: "policy violation"
        case 1009: "message too big"
        case 1011: "server error"
        case 1012: "service restart"
        case 1013: "try again later"
        default: nil
        }
        return "close code \(number)\(name.map { " \($0)" } ?? "")"
    }

    /// The next frame, or `.closed`, `.idle` after `timeout` without one (noticed by ``expireIdle(now:)``, which the
    /// connection calls a few times per timeout: no timer is set per frame), `.cancelled` when the task is cancelled.
    func next(timeout: TimeAmount) async -> Inbound {
        if let ready = state.withLock({ $0.take() }) { return ready }
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        let deadline = NIODeadline.now() + timeout
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Inbound, Never>) in
                let immediate = state.withLock { state -> Inbound? in
                    if let ready = state.take() { return ready }
                    if state.cancelledID == id { return .cancelled }
                    state.waiter = Waiter(id: id, continuation: continuation, deadline: deadline)
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiting = state.withLock { state -> Bool in
                state.cancelledID = id
                return state.waiter?.id == id
            }
            if waiting { resolve(id, with: .cancelled) }
        }
    }

    /// Drops the frames no turn is waiting for (what a server sent after a turn's terminal event); returns how many.
    func drain() -> Int {
        state.withLock { state in
            let count = state.frames.count - state.head
            state.frames.removeAll(keepingCapacity: true)
            state.head = 0
            return count
        }
    }

    /// Ends the wait of a reader whose idle deadline has passed.
    func expireIdle(now: NIODeadline) {
        let waiter = state.withLock { state -> Waiter? in
            guard let waiter = state.waiter, waiter.deadline <= now else { return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.continuation.resume(returning: .idle)
    }

    private func resolve(_ id: Int, with inbound: Inbound) {
        let waiter = state.withLock { state -> Waiter? in
            guard let waiter = state.waiter, waiter.id == id else { return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.continuation.resume(returning: inbound)
    }
}

// MARK: - The client's connections

extension ResponsesClient {
    /// A WebSocket connection for a run: an idle one this client opened before (the previous run's, if still open and
    /// younger than ``ResponsesClientConfiguration/webSocketMaxAge``), else a new one.
    public func openConnection() async throws -> ResponsesConnection {
        try await openConnectionNoting().connection
    }

    /// A connection, and whether it is an idle one reused.
    package func openConnectionNoting() async throws -> (connection: ResponsesConnection, reused: Bool) {
        while let idle = connections.withLock({ $0.idle.popLast() }) {
            if idle.isOpen, idle.age < configuration.webSocketMaxAge { return (idle, true) }
            await idle.close()
        }
        let number = connections.withLock { pool -> Int in
            pool.opened += 1
            return pool.opened
        }
        return (try await ResponsesConnection.open(client: self, number: number), false)
    }

    /// Why the server refused the WebSocket mode, once a run with `auto` found out: later runs go straight to HTTP.
    package var webSocketRefusal: String? { connections.withLock { $0.refusal } }

    /// Remembers that the server has no WebSocket mode.
    package func noteWebSocketRefusal(_ reason: String) {
        connections.withLock { $0.refusal = reason }
    }

    /// Gives a connection back for the next run to use; one that closed or is too old is closed instead.
    public func release(_ connection: ResponsesConnection) async {
        guard connection.isOpen, connection.age < configuration.webSocketMaxAge else {
            await connection.close()
            return
        }
        let keep = connections.withLock { pool -> Bool in
            guard !pool.shutDown, pool.idle.count < max(1, configuration.maxConnectionsPerHost) else { return false }
            pool.idle.append(connection)
            return true
        }
        if !keep { await connection.close() }
    }

    /// Runs `body` with a WebSocket connection, released for reuse afterwards (closed if `body` throws).
    public func withConnection<Result>(
        isolation: isolated (any Actor)? = #isolation, _ body: (ResponsesConnection) async throws -> Result
    ) async throws -> Result {
        let connection = try await openConnection()
        do {
            let result = try await body(connection)
            await release(connection)
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Closes the idle WebSocket connections.
    func closeIdleConnections() async {
        let idle = connections.withLock { pool -> [ResponsesConnection] in
            pool.shutDown = true
            defer { pool.idle.removeAll() }
            return pool.idle
        }
        for connection in idle { await connection.close() }
    }
}

/// The WebSocket connections a client keeps between runs.
struct ConnectionPool: Sendable {
    var idle: [ResponsesConnection] = []
    var opened = 0
    var shutDown = false
    var refusal: String?
}
