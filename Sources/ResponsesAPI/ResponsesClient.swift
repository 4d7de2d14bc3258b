import AsyncHTTPClient
import Foundation
import Synchronization
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A client for the OpenAI Responses API and compatible providers: `create`, `stream`, `retrieve`, `cancel`, `delete`,
/// and background polling, with retries and stream resumption.
///
/// ```swift
/// try await ResponsesClient.withClient(provider: .openai()) { client in
///     let response = try await client.create(CreateResponseRequest(model: "gpt-4.1-mini", input: "Hello"))
///     print(response.outputText)
/// }
/// ```
public final class ResponsesClient: Sendable {
    /// Where requests go.
    public let provider: Provider
    /// Retries, timeouts and resumption.
    public let configuration: ResponsesClientConfiguration
    package let transport: any ResponsesTransport
    let logger: Logger
    private let ownedTransport: AsyncHTTPClientTransport?
    /// The pacing every request of this client goes through.
    let gate: RateGate
    /// Pacing shared with other clients (a queue's workers), after this client's own.
    package let sharedGate: (any SharedRequestGate)?
    /// The last tools encoded, reused while requests send the same ones (every turn of a run does).
    private let toolsCache = Mutex<(tools: [ResponseTool], json: Data)?>(nil)
    /// The WebSocket connections kept between runs (see ``openConnection()``).
    let connections = Mutex(ConnectionPool())

    /// Creates a client over its own AsyncHTTPClient; call ``shutdown()`` when done, or use ``withClient(provider:configuration:logger:_:)``.
    ///
    /// `sharedGate` paces this client together with others (every worker of a queue): it is asked before each request.
    public init(
        provider: Provider, configuration: ResponsesClientConfiguration = .init(), logger: Logger = ResponsesClient.quietLogger,
        sharedGate: (any SharedRequestGate)? = nil
    ) {
        let transport = AsyncHTTPClientTransport(
            connectTimeout: configuration.connectTimeout, idleTimeout: configuration.idleTimeout,
            maxConnectionsPerHost: configuration.maxConnectionsPerHost)
        self.provider = provider
        self.configuration = configuration
        self.transport = transport
        self.ownedTransport = transport
        self.logger = logger
        self.gate = RateGate(limits: configuration.rateLimits)
        self.sharedGate = sharedGate
    }

    /// Creates a client over a given transport, which the caller owns.
    public init(
        provider: Provider, configuration: ResponsesClientConfiguration = .init(), transport: any ResponsesTransport,
        logger: Logger = ResponsesClient.quietLogger, sharedGate: (any SharedRequestGate)? = nil
    ) {
        self.provider = provider
        self.configuration = configuration
        self.transport = transport
        self.ownedTransport = nil
        self.logger = logger
        self.gate = RateGate(limits: configuration.rateLimits)
        self.sharedGate = sharedGate
    }

    /// A logger that drops everything: the default, since libraries never bootstrap logging.
    public static let quietLogger = Logger(label: "errand.responses", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Runs `body` with a client and shuts the client down afterwards, however `body` ends.
    public static func withClient<Result>(
        provider: Provider, configuration: ResponsesClientConfiguration = .init(), logger: Logger = ResponsesClient.quietLogger,
        isolation: isolated (any Actor)? = #isolation, _ body: (ResponsesClient) async throws -> Result
    ) async throws -> Result {
        let client = ResponsesClient(provider: provider, configuration: configuration, logger: logger)
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// Closes the idle WebSocket connections and releases the HTTP connections of a client that owns its transport.
    public func shutdown() async throws {
        await closeIdleConnections()
        try await ownedTransport?.shutdown()
    }

    // MARK: Calls

    /// Creates a response (`POST /responses`, not streamed) and, unless `waitUntilDone` is false, waits for the whole of
    /// it: a create answered `queued` or `in_progress` (background mode, or a provider that answers before it is done)
    /// is polled with `GET /responses/{id}` as ``ResponsesClientConfiguration/polling`` says until it is `completed`,
    /// `failed`, `cancelled` or `incomplete`. Cancelling the calling task while it polls cancels the response on the
    /// server too (see ``ResponsesClientConfiguration/cancelBackgroundOnCancellation``).
    ///
    /// `onPending` is called with the create's answer when it is not done yet, before any polling (and before a
    /// cancellation that arrived meanwhile is acted on), so that the caller knows the response's id: to journal it,
    /// or to say which response was cancelled.
    ///
    /// With `echoes` false, the response comes without what the server echoes of the request (`instructions`, and the
    /// `extra` fields such as `tools`), which is most of the cost of reading it.
    public func create(
        _ request: CreateResponseRequest, waitUntilDone: Bool = true, echoes: Bool = true, onPending: (@Sendable (Response) -> Void)? = nil
    ) async throws -> Response {
        var request = request
        request.stream = nil
        let body = try encode(request)
        let post: @Sendable () async throws -> (Response, String?) = { [self] in
            let answer = try await send(.POST, "/responses", body: body)
            return (try await decodeBody(answer, as: Response.self, echoes: echoes), answer.headers.first(name: "x-request-id"))
        }
        let response: Response
        let requestID: String?
        if request.background == true, configuration.cancelBackgroundOnCancellation {
            // A background create cancelled in flight may still start the response on the server: let the answer
            // arrive, so that its id is known and it can be cancelled there.
            (response, requestID) = try await shielded(post)
            if !response.status.isTerminal { onPending?(response) }
            if Task.isCancelled {
                if !response.status.isTerminal, !response.id.isEmpty { await cancelAbandoned(response.id) }
                throw CancellationError()
            }
        } else {
            (response, requestID) = try await post()
            if !response.status.isTerminal { onPending?(response) }
        }
        if gate.countsTokens { gate.record(tokens: response.usage?.totalTokens ?? 0) }
        sharedGate?.record(tokens: response.usage?.totalTokens ?? 0)
        guard waitUntilDone, !response.status.isTerminal else { return response }
        guard !response.id.isEmpty else {
            throw ResponsesError(
                kind: .decoding, message: "the server answered '\(response.status)' without a response id, so the answer cannot be polled",
                requestID: requestID, provider: provider.name, partialResponse: response)
        }
        logger.debug("the response is not done yet; polling", metadata: ["response_id": "\(response.id)", "status": "\(response.status)"])
        return try await self.waitUntilDone(response.id)
    }

    /// Creates a response and streams its events (`POST /responses` with `stream: true`).
    /// The terminal event (`completed`, `incomplete` or `failed`) carries the final response; with `echoes` false,
    /// without what the server echoes of the request (`instructions`, and the `extra` fields such as `tools`). Progress
    /// events (`created`, `in_progress`, `queued`) never carry those echoes: the terminal event has them.
    public func stream(_ request: CreateResponseRequest, echoes: Bool = true) -> ResponseEventStream {
        ResponseEventStream(client: self, request: request, echoes: echoes)
    }

    /// Fetches a stored response (`GET /responses/{id}`).
    public func retrieve(_ id: String, include: [String] = []) async throws -> Response {
        let answer = try await send(.GET, "/responses/\(escape(id))", query: include.map { ("include[]", $0) })
        return try await decodeBody(answer, as: Response.self)
    }

    /// Cancels a background response (`POST /responses/{id}/cancel`).
    public func cancel(_ id: String) async throws -> Response {
        let answer = try await send(.POST, "/responses/\(escape(id))/cancel")
        return try await decodeBody(answer, as: Response.self)
    }

    /// Deletes a stored response (`DELETE /responses/{id}`).
    public func delete(_ id: String) async throws {
        let answer = try await send(.DELETE, "/responses/\(escape(id))")
        _ = try await answer.body.collect(upTo: configuration.maxResponseBytes)
    }

    /// Lists a stored response's input items (`GET /responses/{id}/input_items`).
    public func inputItems(_ id: String, limit: Int? = nil, after: String? = nil, order: String? = nil) async throws -> InputItemList {
        var query: [(String, String)] = []
        if let limit { query.append(("limit", String(limit))) }
        if let after { query.append(("after", after)) }
        if let order { query.append(("order", order)) }
        let answer = try await send(.GET, "/responses/\(escape(id))/input_items", query: query)
        return try await decodeBody(answer, as: InputItemList.self)
    }

    /// Creates a `background: true` response and polls it until it is terminal. Cancelling the calling task cancels the
    /// response on the server too.
    public func createInBackground(_ request: CreateResponseRequest, polling: PollPolicy? = nil) async throws -> Response {
        var request = request
        request.background = true
        request.stream = nil
        let created = try await create(request, waitUntilDone: false)
        if created.status.isTerminal { return created }
        return try await waitUntilDone(created.id, polling: polling)
    }

    /// Polls `GET /responses/{id}` until the response is neither `queued` nor `in_progress`, waiting as `polling` (by
    /// default the configuration's) says. Cancelling the calling task cancels the response on the server too, unless
    /// ``ResponsesClientConfiguration/cancelBackgroundOnCancellation`` is off.
    public func waitUntilDone(_ id: String, polling: PollPolicy? = nil) async throws -> Response {
        let policy = polling ?? configuration.polling
        var poll = 0
        while true {
            do {
                try await Task.sleep(for: policy.interval(beforePoll: poll))
                poll += 1
                let response = try await retrieve(id)
                if response.status.isTerminal { return response }
                logger.debug("response still running", metadata: ["response_id": "\(id)", "status": "\(response.status)", "polls": "\(poll)"])
            } catch {
                guard Task.isCancelled || error is CancellationError else { throw error }
                if configuration.cancelBackgroundOnCancellation { await cancelAbandoned(id) }
                throw CancellationError()
            }
        }
    }

    /// Runs `operation` so that cancelling the caller does not abort it at once: it has ``shieldGrace`` to finish
    /// (a request whose answer must be seen, such as a background create), and is cancelled after that.
    func shielded<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let inner = Task { try await operation() }
        return try await withTaskCancellationHandler {
            try await inner.value
        } onCancel: {
            Task {
                try? await Task.sleep(for: Self.shieldGrace)
                inner.cancel()
            }
        }
    }

    /// How long a shielded request may go on after its caller was cancelled.
    static let shieldGrace: Duration = .seconds(10)

    /// Cancels a response whose caller gave up (its task is cancelled), from a task of its own so that the request is
    /// not itself cancelled, and within a few seconds. Failures are logged, not thrown: the caller is already leaving.
    @discardableResult
    func cancelAbandoned(_ id: String) async -> Response? {
        let task = Task { [self] () -> Response? in
            do {
                let response = try await cancel(id)
                logger.notice("cancelled the abandoned response on the server", metadata: ["response_id": "\(id)", "status": "\(response.status)"])
                return response
            } catch {
                logger.warning("could not cancel the abandoned response", metadata: ["response_id": "\(id)", "error": "\(error)"])
                return nil
            }
        }
        let timer = Task {
            try? await Task.sleep(for: .seconds(5))
            task.cancel()
        }
        defer { timer.cancel() }
        return await task.value
    }

    // MARK: HTTP

    func encode(_ request: CreateResponseRequest) throws -> ByteBuffer {
        do {
            guard let tools = request.tools, !tools.isEmpty else {
                return ByteBuffer(data: try request.encodedBody(maxTokensField: provider.maxTokensField))
            }
            let encoded: Data
            if let cached = toolsCache.withLock({ $0 }), cached.tools == tools {
                encoded = cached.json
            } else {
                encoded = try CreateResponseRequest.encodedTools(tools)
                toolsCache.withLock { $0 = (tools, encoded) }
            }
            return ByteBuffer(data: try request.encodedBody(maxTokensField: provider.maxTokensField, encodedTools: encoded))
        } catch {
            throw ResponsesError(kind: .invalidRequest, message: "the request could not be encoded", provider: provider.name, underlying: error)
        }
    }

    private func escape(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? id
    }

    /// Sends a request, retrying as the policy says until an answer with a 2xx status arrives, and returns it with its
    /// body unread. An error status becomes a ``ResponsesError`` carrying the provider's error body.
    func send(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: ByteBuffer? = nil, acceptStream: Bool = false
    ) async throws -> HTTPClientResponse {
        if provider.requiresAPIKey, provider.apiKey == nil {
            throw ResponsesError(
                kind: .missingAPIKey,
                message: "no API key for \(provider.name): set \(provider.apiKeyEnvironmentVariable ?? "the API key")",
                provider: provider.name)
        }
        let request = httpRequest(method, path, query: query, body: body, acceptStream: acceptStream)
        let what = "\(method.rawValue) \(path)"
        var attempt = 0
        while true {
            try Task.checkCancellation()
            try await gate.admit()
            try await sharedGate?.admit()
            let answer: HTTPClientResponse
            do {
                answer = try await transport.execute(request, timeout: configuration.responseTimeout, streaming: acceptStream)
            } catch {
                if Task.isCancelled || error is CancellationError { throw CancellationError() }
                // Nothing listening is not a flaky network: retrying would only make a typo in the port slow to see.
                if Self.isRefused(error) { throw refusedError(error, doing: what) }
                let failure = connectionError(error, doing: what)
                guard attempt < configuration.retry.maxRetries else { throw failure }
                let wait = configuration.retry.delay(attempt: attempt)
                logger.warning("request failed, retrying", metadata: ["request": "\(what)", "error": "\(failure.message)", "retry_in": "\(wait)"])
                attempt += 1
                try await Task.sleep(for: wait)
                continue
            }
            let status = Int(answer.status.code)
            if (200..<300).contains(status) {
                logger.debug("answer", metadata: ["request": "\(what)", "status": "\(status)", "attempt": "\(attempt)"])
                return answer
            }
            let bytes = (try? await answer.body.collect(upTo: 1 << 20)).map { Array($0.readableBytesView) } ?? []
            var failure = ResponsesError(
                kind: .httpStatus, message: "\(what) answered HTTP \(status)", status: status, providerError: ProviderErrorBody.parse(bytes),
                requestID: answer.headers.first(name: "x-request-id"), provider: provider.name, method: method.rawValue)
            failure.redact(provider.apiKey?.value)
            guard attempt < configuration.retry.maxRetries, configuration.retry.shouldRetry(status: status, headers: answer.headers) else {
                throw failure
            }
            let wait = configuration.retry.delay(attempt: attempt, headers: answer.headers)
            logger.warning("retryable answer, retrying", metadata: ["request": "\(what)", "status": "\(status)", "retry_in": "\(wait)"])
            attempt += 1
            if RetryPolicy.requestedDelay(answer.headers, now: Date()) != nil {
                // The server asked everyone to wait: every request of this client waits, not only this one.
                gate.block(for: wait)
                sharedGate?.hold(for: wait)
            } else {
                try await Task.sleep(for: wait)
            }
        }
    }

    /// The HTTP request for an endpoint: the provider's headers, the key, and the body.
    package func httpRequest(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: ByteBuffer? = nil, acceptStream: Bool = false
    ) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: provider.url(path, query: query))
        request.method = method
        for (name, value) in provider.headers { request.headers.replaceOrAdd(name: name, value: value) }
        if let key = provider.apiKey { request.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(key.value)") }
        request.headers.replaceOrAdd(name: "User-Agent", value: configuration.userAgent)
        request.headers.replaceOrAdd(name: "Accept", value: acceptStream ? "text/event-stream" : "application/json")
        if let body {
            request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
            request.body = .bytes(body)
        }
        return request
    }

    package func connectionError(_ error: any Error, doing what: String) -> ResponsesError {
        let timedOut: Bool
        if let http = error as? HTTPClientError {
            timedOut = http == .connectTimeout || http == .readTimeout || http == .deadlineExceeded
        } else {
            timedOut = false
        }
        var failure = ResponsesError(
            kind: timedOut ? .timeout : .connection,
            message: "\(what) to \(provider.baseURL) \(timedOut ? "timed out" : "failed"): \(explain(error, timedOut: timedOut))\(error)",
            provider: provider.name, underlying: error)
        failure.redact(provider.apiKey?.value)
        return failure
    }

    /// What a low-level failure means, in words, before its technical detail (empty when there is nothing to add).
    func explain(_ error: any Error, timedOut: Bool) -> String {
        if timedOut {
            if let http = error as? HTTPClientError, http == .connectTimeout {
                return "no connection within \(configuration.connectTimeout) (is the host up? is the port right?): "
            }
            if let http = error as? HTTPClientError, http == .readTimeout {
                return "the server sent nothing for \(configuration.idleTimeout) (idleTimeout): "
            }
            return "no answer within \(configuration.responseTimeout) (responseTimeout): the server accepted the connection and never answered: "
        }
        if let io = error as? IOError, io.errnoCode == ECONNRESET || io.errnoCode == EPIPE {
            return "the server closed the connection abruptly (connection reset): "
        }
        if let channel = error as? ChannelError, channel == .ioOnClosedChannel || channel == .eof {
            // The same reset, noticed while writing the request rather than reading the answer.
            return "the server closed the connection abruptly: "
        }
        if let parser = error as? HTTPParserError {
            if parser == .invalidEOFState { return "the server closed the connection in the middle of its answer: " }
            return "the answer is not HTTP (is the base URL's port an HTTP(S) API, and the scheme right?): "
        }
        return ""
    }

    /// Whether a connection failed because nothing listens at the address (ECONNREFUSED at every address tried).
    static func isRefused(_ error: any Error) -> Bool {
        if let io = error as? IOError { return io.errnoCode == ECONNREFUSED }
        if let connection = error as? NIOConnectionError {
            return !connection.connectionErrors.isEmpty && connection.connectionErrors.allSatisfy { isRefused($0.error) }
        }
        // Other transports (Network.framework on Darwin) say it in words.
        return "\(error)".lowercased().contains("connection refused")
    }

    func refusedError(_ error: any Error, doing what: String) -> ResponsesError {
        let url = URL(string: provider.baseURL)
        let scheme = url?.scheme?.lowercased() ?? "http"
        let port = url?.port ?? (scheme == "https" ? 443 : 80)
        let address = "\(url?.host ?? provider.baseURL):\(port)"
        var failure = ResponsesError(
            kind: .connection,
            message: "\(what) to \(provider.baseURL) failed: nothing is listening at \(address) (connection refused): the server is not running, or the host or port is wrong",
            provider: provider.name, underlying: error)
        failure.redact(provider.apiKey?.value)
        return failure
    }

    /// The first characters of a body, quoted on one line, for an error message.
    static func preview(_ text: String) -> String {
        let line = OneLine.squash(String(text.prefix(400)), limit: 200)
        return line.isEmpty ? "(nothing)" : "'\(line)\(text.count > 400 && !line.hasSuffix("…") ? "…" : "")'"
    }

    func decodeBody<T: Decodable>(_ answer: HTTPClientResponse, as type: T.Type, echoes: Bool = true) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await answer.body.collect(upTo: configuration.maxResponseBytes)
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw connectionError(error, doing: "reading the answer")
        }
        do {
            let decoder = JSONDecoder()
            if !echoes { decoder.userInfo[.responseEchoes] = false }
            return try decoder.decode(T.self, from: buffer)
        } catch {
            throw ResponsesError(
                kind: .decoding, message: "the answer is not a \(T.self) (\(error)); it began: \(Self.preview(String(buffer: buffer)))",
                requestID: answer.headers.first(name: "x-request-id"), provider: provider.name, underlying: error)
        }
    }
}
