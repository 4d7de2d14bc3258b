import AsyncHTTPClient
import NIOCore

/// Sends one HTTP request and returns the answer with its body still streaming. The client's only door to the network,
/// so that tests can put something else behind it.
public protocol ResponsesTransport: Sendable {
    /// Sends `request`; `timeout` bounds the wait for the answer's head. `streaming` says the body is a stream of events,
    /// whose silences the idle timeout bounds.
    func execute(_ request: HTTPClientRequest, timeout: Duration, streaming: Bool) async throws -> HTTPClientResponse
}

/// The transport over AsyncHTTPClient: connection pooling, TLS and a connect timeout. Streams go through a client whose
/// read timeout is the idle timeout between events; other calls through one without, since AsyncHTTPClient's read
/// timeout also bounds the wait for the head, which a long non-streamed answer may need minutes for.
public final class AsyncHTTPClientTransport: ResponsesTransport {
    /// The client for streams.
    package let streamingClient: HTTPClient
    /// The client for whole answers.
    package let httpClient: HTTPClient
    private let ownsClients: Bool

    /// Creates a transport with its own clients; call ``shutdown()`` when done.
    public init(connectTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(120), maxConnectionsPerHost: Int = 8) {
        var streaming = HTTPClient.Configuration()
        streaming.timeout = .init(connect: .init(connectTimeout), read: .init(idleTimeout))
        streaming.redirectConfiguration = .follow(max: 5, allowCycles: false)
        streaming.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(1, maxConnectionsPerHost)
        // A failed connect is reported at once rather than retried until the connect timeout: the client's own retry
        // policy retries what is worth it, and a refused connection (nothing listening) fails in milliseconds.
        streaming.connectionPool.retryConnectionEstablishment = false
        var whole = HTTPClient.Configuration()
        whole.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(1, maxConnectionsPerHost)
        whole.connectionPool.retryConnectionEstablishment = false
        whole.timeout = .init(connect: .init(connectTimeout))
        whole.redirectConfiguration = .follow(max: 5, allowCycles: false)
        self.streamingClient = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: streaming)
        self.httpClient = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: whole)
        self.ownsClients = true
    }

    /// Uses an existing `HTTPClient` for everything, which the caller shuts down.
    public init(httpClient: HTTPClient) {
        self.streamingClient = httpClient
        self.httpClient = httpClient
        self.ownsClients = false
    }

    /// Sends the request.
    public func execute(_ request: HTTPClientRequest, timeout: Duration, streaming: Bool) async throws -> HTTPClientResponse {
        try await (streaming ? streamingClient : httpClient).execute(request, timeout: .init(timeout))
    }

    /// Shuts the owned clients down; does nothing for a borrowed one.
    public func shutdown() async throws {
        guard ownsClients else { return }
        try await streamingClient.shutdown()
        try await httpClient.shutdown()
    }
}

/// A transport that answers from a closure, for unit tests that need no socket.
public struct InMemoryTransport: ResponsesTransport {
    private let handler: @Sendable (HTTPClientRequest) async throws -> HTTPClientResponse

    /// Creates a transport that answers every request with `handler`.
    public init(_ handler: @escaping @Sendable (HTTPClientRequest) async throws -> HTTPClientResponse) {
        self.handler = handler
    }

    /// Answers with the handler.
    public func execute(_ request: HTTPClientRequest, timeout: Duration, streaming: Bool) async throws -> HTTPClientResponse {
        try await handler(request)
    }
}
