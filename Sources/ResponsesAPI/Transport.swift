import AsyncHTTPClient
import NIOCore

/// Sends one HTTP request and returns the answer with its body still streaming. The client's only door to the network,
/// so that tests can put something else behind it.
public protocol ResponsesTransport: Sendable {
    /// Sends `request`; `timeout` bounds the wait for the answer's head.
    func execute(_ request: HTTPClientRequest, timeout: Duration) async throws -> HTTPClientResponse
}

/// The transport over AsyncHTTPClient: connection pooling, TLS, a connect timeout, and an idle (read) timeout that
/// also bounds the silence between stream events.
public final class AsyncHTTPClientTransport: ResponsesTransport {
    /// The underlying client.
    public let httpClient: HTTPClient
    private let ownsClient: Bool

    /// Creates a transport with its own `HTTPClient`; call ``shutdown()`` when done.
    public init(connectTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(120)) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .init(connectTimeout), read: .init(idleTimeout))
        configuration.redirectConfiguration = .follow(max: 5, allowCycles: false)
        self.httpClient = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        self.ownsClient = true
    }

    /// Uses an existing `HTTPClient`, which the caller shuts down.
    public init(httpClient: HTTPClient) {
        self.httpClient = httpClient
        self.ownsClient = false
    }

    /// Sends the request.
    public func execute(_ request: HTTPClientRequest, timeout: Duration) async throws -> HTTPClientResponse {
        try await httpClient.execute(request, timeout: .init(timeout))
    }

    /// Shuts the owned `HTTPClient` down; does nothing for a borrowed one.
    public func shutdown() async throws {
        if ownsClient { try await httpClient.shutdown() }
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
    public func execute(_ request: HTTPClientRequest, timeout: Duration) async throws -> HTTPClientResponse {
        try await handler(request)
    }
}
