import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// An HTTP/1.1 connection of a test server.
typealias HTTPConnection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

/// A WebSocket connection of a test server: whole frames in (fragments joined), frames out.
typealias WebSocketConnection = NIOAsyncChannel<WebSocketFrame, WebSocketFrame>

/// What a connection of an upgrading listener became after its first request.
enum UpgradedConnection: Sendable {
    /// An ordinary HTTP connection (also when an upgrade was asked for and refused: the request arrives as HTTP).
    case http(HTTPConnection)
    /// A WebSocket, with the request that opened it.
    case webSocket(WebSocketConnection, request: HTTPRequestHead)
}

/// A connection of an upgrading listener, before its first request decides what it is.
struct PendingConnection: Sendable {
    /// The connection's channel (close it to drop the connection whatever it becomes).
    let channel: any Channel
    /// Completes once the first request has arrived and any upgrade is done.
    let upgraded: EventLoopFuture<UpgradedConnection>
}

/// HTTP/1.1 on an ephemeral port of 127.0.0.1, shared by the test servers; optionally with WebSocket upgrades.
struct LoopbackListener: Sendable {
    /// The listening channel (close it to stop).
    let channel: any Channel
    /// The port.
    let port: Int
    private let accepted: Accepted

    private enum Accepted: Sendable {
        case http(NIOAsyncChannel<HTTPConnection, Never>)
        case upgrading(NIOAsyncChannel<PendingConnection, Never>)
    }

    /// The largest WebSocket message taken, whole or in fragments: 16 MiB.
    static let maxWebSocketMessage = 16 << 20

    /// Binds. Outbound half-closure is on, so that a server can end a body with a FIN after its pending writes instead
    /// of a close that would discard them.
    static func bind() async throws -> LoopbackListener {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try HTTPConnection(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
        return LoopbackListener(channel: server.channel, port: server.channel.localAddress?.port ?? 0, accepted: .http(server))
    }

    /// Binds a listener whose connections may upgrade to WebSocket on their first request. `accepts` picks the upgrade
    /// requests to take; the others (and every request without `Upgrade: websocket`) arrive as HTTP, headers intact, for
    /// the server to refuse with the status it likes. Both kinds have outbound half-closure on.
    static func bind(acceptingWebSockets accepts: @escaping @Sendable (HTTPRequestHead) -> Bool) async throws -> LoopbackListener {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    // NIO's typed upgrader drops a request it refuses (the HTTP side never sees it), so it only sees the
                    // upgrades that ``UpgradeGate`` lets through, and takes them all.
                    let upgrader = NIOTypedWebSocketServerUpgrader<UpgradedConnection>(
                        maxFrameSize: maxWebSocketMessage,
                        shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
                        upgradePipelineHandler: { channel, head in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(NIOWebSocketFrameAggregator(
                                    minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16, maxAccumulatedFrameSize: maxWebSocketMessage))
                                let connection = try WebSocketConnection(
                                    wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                                return UpgradedConnection.webSocket(connection, request: head)
                            }
                        })
                    let configuration = NIOUpgradableHTTPServerPipelineConfiguration(
                        upgradeConfiguration: NIOTypedHTTPServerUpgradeConfiguration<UpgradedConnection>(
                            upgraders: [upgrader],
                            notUpgradingCompletionHandler: { channel in
                                channel.eventLoop.makeCompletedFuture {
                                    try channel.pipeline.syncOperations.addHandler(UpgradeRestorer())
                                    let connection = try HTTPConnection(
                                        wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                                    return UpgradedConnection.http(connection)
                                }
                            }))
                    let upgraded = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
                    let upgradeHandler = try channel.pipeline.syncOperations.handler(type: NIOTypedHTTPServerUpgradeHandler<UpgradedConnection>.self)
                    try channel.pipeline.syncOperations.addHandler(UpgradeGate(accepts: accepts), position: .before(upgradeHandler))
                    return PendingConnection(channel: channel, upgraded: upgraded)
                }
            }
        return LoopbackListener(channel: server.channel, port: server.channel.localAddress?.port ?? 0, accepted: .upgrading(server))
    }

    /// Accepts connections until the channel closes, each served in a task of its own. On an upgrading listener, a
    /// connection that becomes a WebSocket is closed.
    func run(_ serve: @escaping @Sendable (HTTPConnection) async -> Void) -> Task<Void, Never> {
        switch accepted {
        case .http(let server):
            return Self.accept(server, serve)
        case .upgrading(let server):
            return Self.accept(server) { pending in
                switch try? await pending.upgraded.get() {
                case .http(let connection): await serve(connection)
                default: try? await pending.channel.close()
                }
            }
        }
    }

    /// Accepts connections of an upgrading listener until the channel closes, each served in a task of its own.
    func runUpgrading(_ serve: @escaping @Sendable (PendingConnection) async -> Void) -> Task<Void, Never> {
        switch accepted {
        case .upgrading(let server):
            return Self.accept(server, serve)
        case .http(let server):
            return Self.accept(server) { connection in
                await serve(PendingConnection(channel: connection.channel, upgraded: connection.channel.eventLoop.makeSucceededFuture(.http(connection))))
            }
        }
    }

    private static func accept<Connection: Sendable>(
        _ server: NIOAsyncChannel<Connection, Never>, _ serve: @escaping @Sendable (Connection) async -> Void
    ) -> Task<Void, Never> {
        Task {
            _ = try? await server.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        group.addTask { await serve(connection) }
                    }
                }
            }
        }
    }
}

/// Lets NIO's upgrade handler see only the WebSocket handshakes to take. Any other first request with an `Upgrade`
/// header has it hidden under ``hiddenHeader``, so that the upgrade handler passes the request on as HTTP (a refused
/// upgrade would be dropped) and ``UpgradeRestorer`` puts it back. Leaves the pipeline after the first request, as the
/// upgrade handler does.
private final class UpgradeGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    static let hiddenHeader = "x-loopback-refused-upgrade"
    private let accepts: @Sendable (HTTPRequestHead) -> Bool

    init(accepts: @escaping @Sendable (HTTPRequestHead) -> Bool) {
        self.accepts = accepts
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(var head):
            let wanted = head.headers["upgrade"]
            guard !wanted.isEmpty, !(Self.isWebSocketHandshake(head) && accepts(head)) else {
                context.fireChannelRead(data)
                return
            }
            head.headers.remove(name: "upgrade")
            for value in wanted { head.headers.add(name: Self.hiddenHeader, value: value) }
            context.fireChannelRead(Self.wrapInboundOut(.head(head)))
        case .body:
            context.fireChannelRead(data)
        case .end:
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    /// A handshake NIO's WebSocket upgrader completes: `Upgrade: websocket`, a key, version 13.
    private static func isWebSocketHandshake(_ head: HTTPRequestHead) -> Bool {
        head.headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" }
            && head.headers["sec-websocket-key"].count == 1 && head.headers["sec-websocket-version"] == ["13"]
    }
}

/// Puts back the `Upgrade` header ``UpgradeGate`` hid, on a connection that stayed HTTP.
private final class UpgradeRestorer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = Self.unwrapInboundIn(data), head.headers.contains(name: UpgradeGate.hiddenHeader) else {
            context.fireChannelRead(data)
            return
        }
        let values = head.headers[UpgradeGate.hiddenHeader]
        head.headers.remove(name: UpgradeGate.hiddenHeader)
        for value in values { head.headers.add(name: "Upgrade", value: value) }
        context.fireChannelRead(Self.wrapInboundOut(.head(head)))
    }
}

/// Starts a server, runs `body` with it, and shuts it down however `body` ends.
func withStarted<Server, Result>(
    _ start: () async throws -> Server, shutdown: (Server) async -> Void, isolation: isolated (any Actor)? = #isolation,
    _ body: (Server) async throws -> Result
) async throws -> Result {
    let server = try await start()
    do {
        let result = try await body(server)
        await shutdown(server)
        return result
    } catch {
        await shutdown(server)
        throw error
    }
}
