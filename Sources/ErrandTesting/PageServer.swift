import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A web server on 127.0.0.1 that serves fixed pages, for testing tools that fetch (redirects, charsets, gzip, slow
/// answers, large bodies, any content type).
public final class PageServer: Sendable {
    /// One route's answer.
    public struct Page: Sendable {
        /// The status.
        public var status: Int
        /// The headers (a `Content-Length` is added).
        public var headers: [String: String]
        /// The body.
        public var body: Data
        /// The wait before the answer.
        public var delay: Duration

        /// Creates an answer.
        public init(status: Int = 200, headers: [String: String] = ["Content-Type": "text/html; charset=utf-8"], body: Data = Data(), delay: Duration = .zero) {
            self.status = status
            self.headers = headers
            self.body = body
            self.delay = delay
        }

        /// An HTML page.
        public static func html(_ text: String) -> Page { Page(body: Data(text.utf8)) }

        /// A redirect.
        public static func redirect(to location: String, status: Int = 302) -> Page { Page(status: status, headers: ["Location": location]) }
    }

    private let routes: [String: Page]
    private let requested = Mutex<[String]>([])
    private let channel: any Channel
    private let task = Mutex<Task<Void, Never>?>(nil)
    /// The port on 127.0.0.1.
    public let port: Int

    /// `http://127.0.0.1:PORT`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// The paths requested so far.
    public var requests: [String] { requested.withLock { $0 } }

    /// A request as it arrived: its method, path, headers (names lowercased) and body.
    public struct Received: Sendable {
        public var method: String
        public var path: String
        public var headers: [String: String]
        public var body: Data
    }

    /// Every request received so far, with its body.
    public var received: [Received] { receivedRequests.withLock { $0 } }
    private let receivedRequests = Mutex<[Received]>([])

    private init(routes: [String: Page], channel: any Channel, port: Int) {
        self.routes = routes
        self.channel = channel
        self.port = port
    }

    /// Starts a server with these routes (path → answer); other paths answer 404.
    public static func start(_ routes: [String: Page]) async throws -> PageServer {
        let listener = try await LoopbackListener.bind()
        let pages = PageServer(routes: routes, channel: listener.channel, port: listener.port)
        let task = listener.run { await pages.serve($0) }
        pages.task.withLock { $0 = task }
        return pages
    }

    /// Runs `body` with a started server and shuts it down afterwards.
    public static func withServer<Result>(
        _ routes: [String: Page], isolation: isolated (any Actor)? = #isolation, _ body: (PageServer) async throws -> Result
    ) async throws -> Result {
        try await withStarted({ try await start(routes) }, shutdown: { await $0.shutdown() }, body)
    }

    /// Stops the server.
    public func shutdown() async {
        try? await channel.close()
        let running = task.withLock { $0 }
        running?.cancel()
        await running?.value
    }

    private func serve(_ connection: HTTPConnection) async {
        try? await connection.executeThenClose { inbound, outbound in
            var current: HTTPRequestHead?
            var body = Data()
            for try await part in inbound {
                switch part {
                case .head(let head):
                    current = head
                    body = Data()
                    continue
                case .body(let chunk):
                    body.append(contentsOf: chunk.readableBytesView)
                    continue
                case .end:
                    break
                }
                guard let head = current else { continue }
                let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
                requested.withLock { $0.append(path) }
                var fields: [String: String] = [:]
                for (name, value) in head.headers { fields[name.lowercased()] = value }
                receivedRequests.withLock { [body] in $0.append(Received(method: head.method.rawValue, path: path, headers: fields, body: body)) }
                let page = routes[path] ?? Page(status: 404, body: Data("not found".utf8))
                if page.delay > .zero { try await Task.sleep(for: page.delay) }
                var headers = HTTPHeaders()
                for (name, value) in page.headers { headers.add(name: name, value: value) }
                headers.replaceOrAdd(name: "Content-Length", value: String(page.body.count))
                try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: page.status), headers: headers)))
                try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: page.body))))
                try await outbound.write(.end(nil))
            }
        }
    }
}
