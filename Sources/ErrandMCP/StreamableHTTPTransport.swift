import AsyncHTTPClient
import Foundation
import Logging
import MCP
import NIOCore
import NIOHTTP1
import ResponsesAPI

/// The MCP Streamable HTTP transport (spec 2025-03-26 and later) on AsyncHTTPClient and Errand's SSE parser, for the
/// swift-sdk's `Client` unchanged: each JSON-RPC message is POSTed to the endpoint; a reply comes as
/// `application/json` or as an event stream (read as it arrives, each `message` event's data one message); the
/// `Mcp-Session-Id` the server assigns goes on every later request, and `MCP-Protocol-Version` once initialisation
/// named it; `disconnect()` ends the session with DELETE.
///
/// Why not the SDK's `HTTPClientTransport`: on Linux its URLSession cannot read replies sent as server-sent events.
///
/// A refused token (401, 403) says which header carried it, never its value; a server that answers HTML says so; a
/// session the server forgot (404) says so. (Not yet: the optional GET stream, resuming a cut stream with
/// `Last-Event-ID`, and initialising again after a 404.)
public actor StreamableHTTPTransport: Transport {
    public nonisolated let logger: Logger
    public let url: URL
    private let headers: [String: String]
    private let client: HTTPClient
    private let requestTimeout: Duration
    private let stream: AsyncThrowingStream<Data, any Error>
    private let continuation: AsyncThrowingStream<Data, any Error>.Continuation
    /// The session the server assigned, once it did.
    public private(set) var sessionID: String?
    /// The protocol version initialisation settled on.
    private(set) var protocolVersion: String?
    private var readers: [Task<Void, Never>] = []

    /// A transport to `url`; `headers` go on every request (an `Authorization` header, typically).
    public init(url: URL, headers: [String: String] = [:], client: HTTPClient = .shared, requestTimeout: Duration = .seconds(60), logger: Logger) {
        self.url = url
        self.headers = headers
        self.client = client
        self.requestTimeout = requestTimeout
        self.logger = logger
        (stream, continuation) = AsyncThrowingStream.makeStream(of: Data.self, throwing: (any Error).self)
    }

    public func connect() async throws {}

    public func receive() -> AsyncThrowingStream<Data, any Error> { stream }

    /// POSTs one message. A JSON reply is handed over at once; an event stream is read in a task of its own, so that
    /// the client can send more (a cancellation) while a long call streams.
    public func send(_ data: Data) async throws {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        applyHeaders(to: &request)
        request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        request.headers.replaceOrAdd(name: "Accept", value: "application/json, text/event-stream")
        request.body = .bytes(ByteBuffer(bytes: data))
        let response = try await client.execute(request, timeout: .init(requestTimeout))
        if let session = response.headers.first(name: "mcp-session-id"), !session.isEmpty { sessionID = session }
        let contentType = response.headers.first(name: "content-type")?.lowercased() ?? ""
        guard (200..<300).contains(Int(response.status.code)) else {
            let body = try? await response.body.collect(upTo: 8192)
            throw failure(status: Int(response.status.code), contentType: contentType, body: body.map { String(buffer: $0) } ?? "")
        }
        if response.status == .accepted || response.status == .noContent {
            // A notification or a response the client sent: nothing comes back.
            _ = try? await response.body.collect(upTo: 1 << 16)
            return
        }
        if contentType.hasPrefix("text/event-stream") {
            let (continuation, logger) = (continuation, logger)
            readers.append(Task {
                var parser = ServerSentEventParser(maxEventBytes: 64 << 20)
                do {
                    for try await chunk in response.body {
                        let events = chunk.withUnsafeReadableBytes { parser.feed($0) }
                        for event in events where (event.event ?? "message") == "message" && !event.data.isEmpty {
                            continuation.yield(Data(event.data.utf8))
                        }
                    }
                } catch {
                    logger.notice("the MCP event stream broke", metadata: ["error": "\(error)"])
                }
            })
            return
        }
        guard contentType.hasPrefix("application/json") else {
            throw MCPError.internalError(
                "\(url.absoluteString) answered \(contentType.isEmpty ? "without a content type" : contentType), not JSON or an event stream: is it an MCP endpoint?")
        }
        let body = try await response.body.collect(upTo: 64 << 20)
        let reply = Data(body.readableBytesView)
        noteProtocolVersion(reply)
        continuation.yield(reply)
    }

    /// Ends the session (DELETE, best effort) and the stream of messages.
    public func disconnect() async {
        for reader in readers { reader.cancel() }
        readers = []
        if let sessionID {
            var request = HTTPClientRequest(url: url.absoluteString)
            request.method = .DELETE
            applyHeaders(to: &request)
            request.headers.replaceOrAdd(name: "Mcp-Session-Id", value: sessionID)
            _ = try? await client.execute(request, timeout: .seconds(5))
            self.sessionID = nil
        }
        continuation.finish()
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
    private func failure(status: Int, contentType: String, body: String) -> MCPError {
        let said = OneLine.squash(body, limit: 200)
        switch status {
        case 401, 403:
            let carrier = headers.keys.first { $0.lowercased() == "authorization" } ?? headers.keys.sorted().first
            return MCPError.internalError(
                "\(url.absoluteString) refused the credentials (HTTP \(status))\(carrier.map { "; they went in the \($0) header" } ?? ": none were sent (add headers to the server's entry)")")
        case 404 where sessionID != nil:
            return MCPError.internalError("\(url.absoluteString) no longer knows the session (HTTP 404): it expired or the server restarted")
        default:
            if contentType.hasPrefix("text/html") {
                return MCPError.internalError("\(url.absoluteString) answered an HTML page (HTTP \(status)), not MCP: check the URL")
            }
            return MCPError.internalError("\(url.absoluteString) answered HTTP \(status)\(said.isEmpty ? "" : ": \(said)")")
        }
    }
}
