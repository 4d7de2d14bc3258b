import AsyncHTTPClient
import Foundation
import Logging
import MCP
import NIOCore
import NIOHTTP1
import ResponsesAPI

/// Why an exchange with a Streamable HTTP MCP server failed, in words a person can act on: a refused token names the
/// header that carried it, never its value.
public struct MCPHTTPError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is.
    public enum Kind: Sendable, Hashable {
        /// Nothing answered at the URL (connection refused, no such host, a timeout before the reply began).
        case unreachable
        /// HTTP 401 or 403: the credentials were refused.
        case refused
        /// The URL answered, but not as an MCP endpoint (an HTML page, another content type).
        case notMCP
        /// HTTP 404 on a session: the server forgot it (it expired, or the server restarted).
        case sessionExpired
        /// Any other HTTP status.
        case status(Int)
        /// The reply was cut short (the connection closed mid-reply, or a reply was too large).
        case broken
    }

    /// What kind of failure this is.
    public var kind: Kind
    /// The message, naming the URL.
    public var message: String

    public var description: String { message }
}

/// The MCP Streamable HTTP transport (spec 2025-03-26 and later) on AsyncHTTPClient and Errand's SSE parser, for the
/// swift-sdk's `Client` unchanged.
///
/// - Each JSON-RPC message is POSTed to the endpoint. A reply comes as `application/json`, or as an event stream read as
///   it arrives (each `message` event's data one message), in a task of its own so that the client can send more (a
///   cancellation) while a long call streams.
/// - The `Mcp-Session-Id` the server assigns goes on every later request, and `MCP-Protocol-Version` once
///   initialisation named it.
/// - Once initialised, a GET stream is kept open for what the server sends unasked (requests and notifications), where
///   the server offers one (405: it does not), and reopened with `Last-Event-ID` when it breaks.
/// - A reply's event stream that breaks before the reply is resumed with a GET carrying `Last-Event-ID` (the server must
///   have given its events ids: the reference SDKs do with an event store). When it cannot be resumed, the call fails at
///   once with the reason, instead of waiting for its timeout.
/// - A 404 on a session (it expired, or the server restarted) is answered by initialising again, once, with the same
///   `initialize` the client sent, and sending the message again; ``sessionRestarts`` counts it.
/// - `disconnect()` ends the session with DELETE.
///
/// Why not the SDK's `HTTPClientTransport`: on Linux its URLSession cannot read replies sent as server-sent events.
public actor StreamableHTTPTransport: Transport {
    public nonisolated let logger: Logger
    public let url: URL
    /// The URL as messages show it: without a query or user info, where credentials might be.
    private let shown: String
    private let headers: [String: String]
    private let client: HTTPClient
    private let requestTimeout: Duration
    private let stream: AsyncThrowingStream<Data, any Error>
    private let continuation: AsyncThrowingStream<Data, any Error>.Continuation
    /// The session the server assigned, once it did.
    public private(set) var sessionID: String?
    /// The protocol version initialisation settled on.
    private(set) var protocolVersion: String?
    /// How many times the transport initialised again after the server forgot the session.
    public private(set) var sessionRestarts = 0
    /// Whether the server keeps a GET stream open for this session.
    public private(set) var listening = false
    /// The client's `initialize` request and `notifications/initialized`, kept to initialise again.
    private var initializeMessage: Data?
    private var initializedMessage: Data?
    private var readers: [Int: Task<Void, Never>] = [:]
    private var nextReader = 0
    private var listener: Task<Void, Never>?
    private var listenerGeneration = 0
    private var restarting: Task<Void, any Error>?
    private var closed = false
    /// The server's `retry:` advice, in milliseconds.
    private var retryAdvice: Int?

    /// The most bytes one message may take.
    static let maxMessageBytes = 64 << 20

    /// A transport to `url`; `headers` go on every request (an `Authorization` header, typically). `requestTimeout`
    /// bounds each request until its reply begins (a streamed reply may take longer: the caller's deadline bounds that).
    public init(url: URL, headers: [String: String] = [:], client: HTTPClient = StreamableHTTPTransport.sharedClient, requestTimeout: Duration = .seconds(60), logger: Logger) {
        self.url = url
        var components = URLComponents(url: url, resolvingAgainstBaseURL: false)
        components?.query = nil
        components?.user = nil
        components?.password = nil
        shown = components?.string ?? url.absoluteString
        self.headers = headers
        self.client = client
        self.requestTimeout = requestTimeout
        self.logger = logger
        (stream, continuation) = AsyncThrowingStream.makeStream(of: Data.self, throwing: (any Error).self)
    }

    public func connect() async throws {}

    public func receive() -> AsyncThrowingStream<Data, any Error> { stream }

    /// POSTs one message; a 404 on a known session initialises again and sends it once more.
    public func send(_ data: Data) async throws {
        let message = Outgoing(data)
        if message.method == "initialize" {
            initializeMessage = data
            protocolVersion = nil
        }
        let usedSession = sessionID
        do {
            try await post(data, message)
        } catch let error as MCPHTTPError where error.kind == .sessionExpired && message.method != "initialize" && initializeMessage != nil {
            // Parallel calls may all meet the 404: one initialises again, the others wait for it.
            if let restarting {
                try await restarting.value
            } else if sessionID == usedSession {
                logger.notice("the MCP server forgot the session (it expired or restarted); initialising again", metadata: ["url": "\(url)"])
                let task = Task { try await self.initialiseAgain() }
                restarting = task
                defer { restarting = nil }
                try await task.value
            }
            try await post(data, message)
        }
        if message.method == "notifications/initialized" {
            initializedMessage = data
            openEventStream()
        }
    }

    /// Ends the session (DELETE, best effort) and the stream of messages.
    public func disconnect() async {
        guard !closed else { return }
        closed = true
        listener?.cancel()
        listener = nil
        for reader in readers.values { reader.cancel() }
        readers = [:]
        if let sessionID {
            var request = HTTPClientRequest(url: url.absoluteString)
            request.method = .DELETE
            applyHeaders(to: &request)
            request.headers.replaceOrAdd(name: "Mcp-Session-Id", value: sessionID)
            // In a task of its own: the run that ends may be a cancelled one (Ctrl-C), and the session ends all the same.
            let client = self.client
            await Task {
                if let response = try? await client.execute(request, timeout: .seconds(5)) {
                    _ = try? await response.body.collect(upTo: 1 << 16)
                }
            }.value
            self.sessionID = nil
        }
        continuation.finish()
    }

    /// The HTTP client of remote MCP sessions unless one is given: `HTTPClient.shared`'s settings, except that a
    /// refused connection fails the request at once (a server that is down is said to be, instead of being tried again
    /// until the request's deadline), connecting may take 10 seconds, and reading has no limit of its own (a GET stream
    /// is silent for as long as the server has nothing to say; a call's deadline bounds a call).
    public static let sharedClient: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.timeout = .init(connect: .seconds(10), read: nil)
        // A redirect is reported, not followed: following it would send the spec's headers (a token) wherever it points.
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    // MARK: - Requests

    /// The method and id of a message the client sends.
    private struct Outgoing {
        var method: String?
        var id: JSONValue?

        init(_ data: Data) {
            guard let json = try? JSONValue(parsing: data) else { return }
            method = json["method"]?.stringValue
            id = json["method"] != nil ? json["id"] : nil
        }
    }

    private func post(_ data: Data, _ message: Outgoing) async throws {
        let response = try await execute(.POST, body: data)
        let contentType = response.headers.first(name: "content-type")?.lowercased() ?? ""
        if response.status == .accepted || response.status == .noContent {
            // A notification or a response the client sent: nothing comes back.
            _ = try? await response.body.collect(upTo: 1 << 16)
            return
        }
        if contentType.hasPrefix("text/event-stream") {
            let key = nextReader
            nextReader += 1
            readers[key] = Task {
                await self.follow(response.body, answering: message)
                self.readers[key] = nil
            }
            return
        }
        guard contentType.hasPrefix("application/json") else {
            throw MCPHTTPError(
                kind: .notMCP,
                message: "\(shown) answered \(contentType.isEmpty ? "without a content type" : contentType), not JSON or an event stream: is it an MCP endpoint? (the spec's url must be the server's Streamable HTTP endpoint, often ending in /mcp)")
        }
        let reply = try await collect(response.body)
        noteProtocolVersion(reply)
        continuation.yield(reply)
    }

    /// Reads a reply's event stream to its end; when it broke before the reply, resumes it with `Last-Event-ID` (three
    /// tries), and when that is not possible fails the call with the reason.
    private func follow(_ body: HTTPClientResponse.Body, answering message: Outgoing) async {
        var end = await read(body, answering: message.id, handOver: true)
        var lastEventID = end.lastEventID
        var attempt = 0
        while !end.answered, message.id != nil, !Task.isCancelled, !closed, let resumeFrom = lastEventID, sessionID != nil, attempt < 3 {
            attempt += 1
            try? await Task.sleep(for: .milliseconds(min(retryAdvice ?? 100 * attempt, 5000)))
            logger.info("resuming a broken MCP event stream", metadata: ["last_event_id": "\(resumeFrom)", "attempt": "\(attempt)"])
            do {
                let response = try await execute(.GET, lastEventID: resumeFrom)
                guard response.status == .ok, response.headers.first(name: "content-type")?.lowercased().hasPrefix("text/event-stream") == true else {
                    _ = try? await response.body.collect(upTo: 1 << 16)
                    end.failure = "resuming it with Last-Event-ID was refused (HTTP \(response.status.code))"
                    // The session is gone (404) or the server does not resume (405): trying again will not help; a
                    // conflict with the stream it is still closing, or a server error, may pass.
                    if response.status == .notFound || response.status == .methodNotAllowed { break }
                    continue
                }
                end = await read(response.body, answering: message.id, handOver: true)
                lastEventID = end.lastEventID ?? lastEventID
            } catch is CancellationError {
                break
            } catch {
                end.failure = "resuming it failed: \(error)"
            }
        }
        guard !end.answered, let id = message.id, !Task.isCancelled, !closed else { return }
        let reason = end.failure ?? "the server closed it"
        fail(id, "the MCP server's event stream for \(message.method ?? "the request") ended before its reply: \(reason)")
    }

    /// How an event stream ended.
    private struct StreamEnd {
        var answered = false
        var answer: Data?
        var lastEventID: String?
        var failure: String?
    }

    /// Reads an event stream, handing each message over (or, without `handOver`, keeping the reply to `id` for the
    /// caller), until it ends.
    private func read(_ body: HTTPClientResponse.Body, answering id: JSONValue?, handOver: Bool) async -> StreamEnd {
        var parser = ServerSentEventParser(maxEventBytes: Self.maxMessageBytes)
        var end = StreamEnd()
        do {
            for try await chunk in body {
                let events = chunk.withUnsafeReadableBytes { parser.feed($0) }
                for event in events {
                    if let retry = event.retry { retryAdvice = retry }
                    guard (event.event ?? "message") == "message", !event.data.isEmpty else { continue }
                    let data = Data(event.data.utf8)
                    let isAnswer = id.map { Self.answers(data, id: $0) } ?? false
                    if isAnswer {
                        end.answered = true
                        noteProtocolVersion(data)
                        if !handOver {
                            end.answer = data
                            continue
                        }
                    }
                    continuation.yield(data)
                }
                if parser.exceededLimit {
                    end.failure = "a message was larger than \(Self.maxMessageBytes >> 20) MB"
                    break
                }
            }
        } catch {
            end.failure = "\(error)"
        }
        end.lastEventID = parser.lastEventID
        return end
    }

    /// Whether a message is the reply (a result or an error) to the request `id`.
    private static func answers(_ data: Data, id: JSONValue) -> Bool {
        guard let json = try? JSONValue(parsing: data), json["id"] == id else { return false }
        return json["result"] != nil || json["error"] != nil
    }

    /// Ends the client's wait for `id` with a JSON-RPC error saying why.
    private func fail(_ id: JSONValue, _ reason: String) {
        logger.notice("an MCP call failed", metadata: ["reason": "\(reason)"])
        // The swift-sdk keeps an internal error's reason only from `data.detail` (it drops `message` for -32603).
        let error: JSONValue = ["jsonrpc": "2.0", "id": id, "error": ["code": -32603, "message": .string(reason), "data": ["detail": .string(reason)]]]
        continuation.yield(Data(error.jsonString.utf8))
    }

    // MARK: - Sessions

    /// Initialises a new session with the client's own `initialize` and `notifications/initialized`.
    private func initialiseAgain() async throws {
        guard let initialize = initializeMessage else { return }
        sessionID = nil
        protocolVersion = nil
        listener?.cancel()
        listener = nil
        listening = false
        let message = Outgoing(initialize)
        let response = try await execute(.POST, body: initialize)
        let contentType = response.headers.first(name: "content-type")?.lowercased() ?? ""
        let reply: Data?
        if contentType.hasPrefix("text/event-stream") {
            let end = await read(response.body, answering: message.id, handOver: false)
            reply = end.answer
        } else {
            reply = try await collect(response.body)
        }
        guard let reply, let json = try? JSONValue(parsing: reply), json["result"] != nil else {
            throw MCPHTTPError(kind: .sessionExpired, message: "\(shown) forgot the session and did not initialise a new one")
        }
        noteProtocolVersion(reply)
        sessionRestarts += 1
        if let initialized = initializedMessage {
            let response = try await execute(.POST, body: initialized)
            _ = try? await response.body.collect(upTo: 1 << 16)
            openEventStream()
        }
    }

    /// Opens the GET stream for what the server sends unasked, when the session has one.
    private func openEventStream() {
        guard sessionID != nil, listener == nil, !closed else { return }
        listenerGeneration += 1
        let generation = listenerGeneration
        listener = Task {
            await self.listen()
            // A listener replaced meanwhile (a new session) is not this one's to clear.
            if self.listenerGeneration == generation {
                self.listener = nil
                self.listening = false
            }
        }
    }

    /// Keeps the GET stream open: reopened with `Last-Event-ID` when it breaks, given up after five failures in a row,
    /// or at once when the server offers none (405) or forgot the session (404: the next POST initialises again).
    private func listen() async {
        var lastEventID: String?
        var failures = 0
        while !Task.isCancelled, !closed {
            do {
                let response = try await execute(.GET, lastEventID: lastEventID, timeout: .seconds(30))
                let contentType = response.headers.first(name: "content-type")?.lowercased() ?? ""
                guard response.status == .ok, contentType.hasPrefix("text/event-stream") else {
                    _ = try? await response.body.collect(upTo: 1 << 16)
                    if response.status != .methodNotAllowed, response.status != .notFound {
                        logger.info("the MCP server refused the GET stream", metadata: ["status": "\(response.status.code)"])
                    }
                    break
                }
                listening = true
                let opened = ContinuousClock.now
                let end = await read(response.body, answering: nil, handOver: true)
                // A stream that stayed open a while (closed by the server or a proxy in the end) is not a failure.
                if end.lastEventID != nil || ContinuousClock.now - opened > .seconds(5) { failures = 0 }
                lastEventID = end.lastEventID ?? lastEventID
            } catch {
                if Task.isCancelled || closed { break }
            }
            failures += 1
            if failures >= 5 {
                logger.notice("the MCP server's GET stream keeps breaking; going on without it", metadata: ["url": "\(url)"])
                break
            }
            try? await Task.sleep(for: .milliseconds(min(retryAdvice ?? 500 * failures, 10_000)))
        }
    }

    // MARK: - HTTP

    private func execute(_ method: HTTPMethod, body: Data? = nil, lastEventID: String? = nil, timeout: Duration? = nil) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        applyHeaders(to: &request)
        if let body {
            request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
            request.headers.replaceOrAdd(name: "Accept", value: "application/json, text/event-stream")
            request.body = .bytes(ByteBuffer(bytes: body))
        } else {
            request.headers.replaceOrAdd(name: "Accept", value: "text/event-stream")
        }
        if let lastEventID { request.headers.replaceOrAdd(name: "Last-Event-ID", value: lastEventID) }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .init(timeout ?? requestTimeout))
        } catch let error as HTTPClientError where error == .cancelled {
            throw CancellationError()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw MCPHTTPError(
                kind: .unreachable, message: "\(shown) could not be reached (\(error)): check that the server runs and that the spec's url is right")
        }
        if method == .POST, let session = response.headers.first(name: "mcp-session-id"), !session.isEmpty { sessionID = session }
        let status = Int(response.status.code)
        guard (200..<300).contains(status) || method == .GET else {
            let contentType = response.headers.first(name: "content-type")?.lowercased() ?? ""
            let body = try? await response.body.collect(upTo: 8192)
            if (300..<400).contains(status) {
                let location = response.headers.first(name: "location") ?? "nowhere"
                throw MCPHTTPError(
                    kind: .status(status),
                    message: "\(shown) redirects (HTTP \(status)) to \(location); errand does not follow it (the headers would go along): put the URL it redirects to in the spec")
            }
            throw failure(status: status, contentType: contentType, body: body.map { String(buffer: $0) } ?? "")
        }
        return response
    }

    private func collect(_ body: HTTPClientResponse.Body) async throws -> Data {
        do {
            return Data(try await body.collect(upTo: Self.maxMessageBytes).readableBytesView)
        } catch is NIOTooManyBytesError {
            throw MCPHTTPError(kind: .broken, message: "\(shown) sent a reply larger than \(Self.maxMessageBytes >> 20) MB")
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw MCPHTTPError(kind: .broken, message: "\(shown) cut its reply short: \(error)")
        }
    }

    private func applyHeaders(to request: inout HTTPClientRequest) {
        for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
        if let sessionID { request.headers.replaceOrAdd(name: "Mcp-Session-Id", value: sessionID) }
        if let protocolVersion { request.headers.replaceOrAdd(name: "MCP-Protocol-Version", value: protocolVersion) }
    }

    /// Keeps the protocol version an `initialize` result names.
    private func noteProtocolVersion(_ reply: Data) {
        guard protocolVersion == nil, let json = try? JSONValue(parsing: reply), let version = json["result"]?["protocolVersion"]?.stringValue else {
            return
        }
        protocolVersion = version
    }

    /// Why a request failed, in words: a refused token names its header, never its value.
    private func failure(status: Int, contentType: String, body: String) -> MCPHTTPError {
        let said = OneLine.squash(body, limit: 200)
        switch status {
        case 401, 403:
            let carrier = headers.keys.first { $0.lowercased() == "authorization" } ?? headers.keys.sorted().first
            return MCPHTTPError(
                kind: .refused,
                message: "\(shown) refused the credentials (HTTP \(status))"
                    + (carrier.map { "; they went in the \($0) header: check the token the spec's headers give" } ?? ": none were sent (add headers to the server's entry)"))
        case 404 where sessionID != nil:
            return MCPHTTPError(kind: .sessionExpired, message: "\(shown) no longer knows the session (HTTP 404): it expired or the server restarted")
        default:
            if contentType.hasPrefix("text/html") {
                return MCPHTTPError(kind: .notMCP, message: "\(shown) answered an HTML page (HTTP \(status)), not MCP: check the spec's url (the server's Streamable HTTP endpoint, often ending in /mcp)")
            }
            return MCPHTTPError(kind: .status(status), message: "\(shown) answered HTTP \(status)\(said.isEmpty ? "" : ": \(said)")")
        }
    }
}
