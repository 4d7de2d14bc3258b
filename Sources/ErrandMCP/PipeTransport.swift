import ErrandProcess
import Foundation
import Logging
import MCP
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The MCP stdio framing (one JSON-RPC message per line) over a child process's stdin and stdout.
///
/// Why not the SDK's `StdioTransport`: on Linux it sets the descriptors non-blocking and polls every 10 ms, and when the
/// server exits it ends its stream without an error, which leaves the SDK client's receive loop spinning on a finished
/// stream with every pending call waiting forever. This transport reads the child's output as swift-subprocess hands
/// it over and, at its end, ends the stream with `connectionClosed` and tells its owner, who disconnects the client so
/// that pending calls fail at once.
actor PipeTransport: Transport {
    nonisolated let logger: Logger
    private let child: LongLivedChild
    private let stream: AsyncThrowingStream<Data, any Error>
    private let continuation: AsyncThrowingStream<Data, any Error>.Continuation
    private let onClose: @Sendable () -> Void
    private var connected = false
    private var reader: Task<Void, Never>?

    init(child: LongLivedChild, logger: Logger, onClose: @escaping @Sendable () -> Void) {
        self.child = child
        self.logger = logger
        self.onClose = onClose
        (stream, continuation) = AsyncThrowingStream.makeStream(of: Data.self, throwing: (any Error).self)
    }

    func connect() async throws {
        guard !connected else { return }
        connected = true
        let (continuation, onClose, output) = (continuation, onClose, child.output)
        reader = Task {
            var pending = Data()
            do {
                for try await chunk in output {
                    pending.append(contentsOf: chunk)
                    while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = pending[pending.startIndex..<newline]
                        if !line.allSatisfy({ $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: " ") }) { continuation.yield(Data(line)) }
                        pending.removeSubrange(pending.startIndex...newline)
                    }
                }
            } catch {}
            continuation.finish(throwing: MCPError.connectionClosed)
            onClose()
        }
    }

    func disconnect() async {
        connected = false
        continuation.finish()
    }

    func send(_ data: Data) async throws {
        guard connected else { throw MCPError.connectionClosed }
        guard try await child.write(Array(data) + [UInt8(ascii: "\n")]) else {
            throw MCPError.transportError(POSIXError(.EPIPE))
        }
    }

    func receive() -> AsyncThrowingStream<Data, any Error> { stream }
}
