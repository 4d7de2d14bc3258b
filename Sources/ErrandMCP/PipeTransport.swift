import ErrandTools
import Foundation
import Logging
import MCP
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The MCP stdio framing (one JSON-RPC message per line) over the pipes of a child process we spawned.
///
/// Why not the SDK's `StdioTransport`: on Linux it sets the descriptors non-blocking and polls every 10 ms, and when the
/// server exits it ends its stream without an error, which leaves the SDK client's receive loop spinning on a finished
/// stream with every pending call waiting forever. This transport reads with blocking `read(2)` on a thread of its own
/// and, at end of file, ends the stream with `connectionClosed` and tells its owner, who disconnects the client so that
/// pending calls fail at once.
actor PipeTransport: Transport {
    nonisolated let logger: Logger
    private let readDescriptor: Int32
    private let writeDescriptor: Int32
    private let stream: AsyncThrowingStream<Data, any Error>
    private let continuation: AsyncThrowingStream<Data, any Error>.Continuation
    private let onClose: @Sendable () -> Void
    private var connected = false
    private let writes = DispatchQueue(label: "errand.mcp.write")

    /// `readDescriptor` is the child's stdout (closed here at end of file), `writeDescriptor` its stdin (the owner
    /// closes it).
    init(readDescriptor: Int32, writeDescriptor: Int32, logger: Logger, onClose: @escaping @Sendable () -> Void) {
        self.readDescriptor = readDescriptor
        self.writeDescriptor = writeDescriptor
        self.logger = logger
        self.onClose = onClose
        (stream, continuation) = AsyncThrowingStream.makeStream(of: Data.self, throwing: (any Error).self)
    }

    func connect() async throws {
        guard !connected else { return }
        connected = true
        let continuation = continuation, onClose = onClose
        // Only the reading thread touches it; the lock is what lets the chunk handler be `Sendable`.
        let pending = Mutex(Data())
        Subprocess.readToEnd(readDescriptor, chunk: { chunk in
            pending.withLock { pending in
                pending.append(contentsOf: chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = pending[pending.startIndex..<newline]
                    if !line.allSatisfy({ $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: " ") }) { continuation.yield(Data(line)) }
                    pending.removeSubrange(pending.startIndex...newline)
                }
            }
        }, done: {
            continuation.finish(throwing: MCPError.connectionClosed)
            onClose()
        })
    }

    func disconnect() async {
        connected = false
        continuation.finish()
    }

    func send(_ data: Data) async throws {
        guard connected else { throw MCPError.connectionClosed }
        let message = data + [UInt8(ascii: "\n")]
        let descriptor = writeDescriptor
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            writes.async {
                let failure: Int32 = message.withUnsafeBytes { bytes in
                    var offset = 0
                    while offset < bytes.count {
                        let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                        if written < 0 {
                            if errno == EINTR { continue }
                            return errno
                        }
                        offset += written
                    }
                    return 0
                }
                if failure == 0 {
                    done.resume()
                } else {
                    done.resume(throwing: MCPError.transportError(POSIXError(POSIXErrorCode(rawValue: failure) ?? .EIO)))
                }
            }
        }
    }

    func receive() -> AsyncThrowingStream<Data, any Error> { stream }
}
