import Foundation
import ResponsesAPI

/// A request the scripted server received, kept so tests can assert on it.
public struct RecordedRequest: Sendable, Hashable {
    /// `GET`, `POST`, `DELETE`.
    public var method: String
    /// The path without the query, e.g. `/v1/responses`.
    public var path: String
    /// The query parameters (the last value wins for repeated names).
    public var query: [String: String]
    /// The headers, names lowercased.
    public var headers: [String: String]
    /// The body as JSON, when it is JSON. For a create sent over a WebSocket: the frame without its `type`.
    public var body: JSONValue?
    /// Which WebSocket connection the request came over (1 for the first the server accepted, 2 for the next…), or
    /// `nil` for HTTP. Such a request has method `POST`, the path of the upgrade request and its headers.
    public var webSocketConnection: Int?
    /// When the server had read the whole request.
    public var receivedAt: ContinuousClock.Instant

    /// Creates a record.
    public init(
        method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:], body: JSONValue? = nil,
        webSocketConnection: Int? = nil, receivedAt: ContinuousClock.Instant = .now
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.webSocketConnection = webSocketConnection
        self.receivedAt = receivedAt
    }

    /// The body decoded as a Responses API request, when it is one.
    public var createRequest: CreateResponseRequest? {
        guard let body else { return nil }
        return try? body.decode(as: CreateResponseRequest.self)
    }

    /// Whether this is `POST …/responses` (also a `response.create` sent over a WebSocket).
    public var isCreate: Bool { method == "POST" && path.hasSuffix("/responses") }

    /// The path with any `/v1` prefix removed, e.g. `/responses/resp_1/cancel`.
    public var endpoint: String {
        var parts = path.split(separator: "/").map(String.init)
        if let index = parts.firstIndex(of: "responses") { parts.removeFirst(index) }
        return "/" + parts.joined(separator: "/")
    }
}
