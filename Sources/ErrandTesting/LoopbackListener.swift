import NIOCore
import NIOHTTP1
import NIOPosix

/// An HTTP/1.1 connection of a test server.
typealias HTTPConnection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

/// HTTP/1.1 on an ephemeral port of 127.0.0.1, shared by the test servers.
struct LoopbackListener: Sendable {
    /// The listening channel (close it to stop).
    let channel: any Channel
    /// The port.
    let port: Int
    private let server: NIOAsyncChannel<HTTPConnection, Never>

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
        return LoopbackListener(channel: server.channel, port: server.channel.localAddress?.port ?? 0, server: server)
    }

    /// Accepts connections until the channel closes, each served in a task of its own.
    func run(_ serve: @escaping @Sendable (HTTPConnection) async -> Void) -> Task<Void, Never> {
        let server = self.server
        return Task {
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
