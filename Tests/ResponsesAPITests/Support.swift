import ErrandTesting
import Foundation
import Logging
import ResponsesAPI
import Synchronization

/// Client settings with waits made short, so retry and resume tests run fast without skipping any rule.
func fastConfiguration(maxRetries: Int = 2, idleTimeout: Duration = .seconds(10)) -> ResponsesClientConfiguration {
    ResponsesClientConfiguration(
        retry: RetryPolicy(maxRetries: maxRetries, initialDelay: .milliseconds(10), maxDelay: .milliseconds(40), jitter: 0.25, maxRetryAfter: .seconds(5)),
        connectTimeout: .seconds(2), responseTimeout: .seconds(10), idleTimeout: idleTimeout,
        polling: PollPolicy(initialInterval: .milliseconds(5), multiplier: 2, maxInterval: .milliseconds(40)))
}

/// Runs `body` with a scripted server and a client pointed at it, and shuts both down.
func withScripted<Result>(
    _ turns: [ScriptedTurn], dialect: ScriptedDialect = .spec, configuration: ResponsesClientConfiguration = fastConfiguration(),
    provider adjust: (inout Provider) -> Void = { _ in }, logger: Logger = ResponsesClient.quietLogger,
    isolation: isolated (any Actor)? = #isolation, _ body: (ResponsesClient, ScriptedResponsesServer) async throws -> Result
) async throws -> Result {
    try await ScriptedResponsesServer.withServer(turns, dialect: dialect) { server in
        var provider = server.provider
        adjust(&provider)
        return try await ResponsesClient.withClient(provider: provider, configuration: configuration, logger: logger) { client in
            try await body(client, server)
        }
    }
}

/// A log handler that keeps every line, to check what reaches logs.
final class CapturingLogHandler: LogHandler, Sendable {
    private let storage = Mutex<[String]>([])
    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }
    var lines: [String] { storage.withLock { $0 } }

    func log(event: LogEvent) {
        let metadata = event.metadata?.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ") ?? ""
        storage.withLock { $0.append("\(event.level) \(event.message) \(metadata)") }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A new IPv4 TCP socket.
func tcpSocket() -> Int32 {
    #if canImport(Glibc)
    socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
    socket(AF_INET, SOCK_STREAM, 0)
    #endif
}

/// 127.0.0.1 at `port` (0: any free port when binding).
func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    return address
}

/// A loopback port that refuses connections for as long as the returned socket is open: bound, never listening, so no
/// other test's server can take it meanwhile. Close the descriptor when done.
func reserveRefusingPort() throws -> (port: Int, descriptor: Int32) {
    let descriptor = tcpSocket()
    var address = loopbackAddress(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
    }
    guard descriptor >= 0, bound == 0 else { throw CancellationError() }
    _ = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    return (Int(UInt16(bigEndian: address.sin_port)), descriptor)
}

/// A loopback listener that accepts every connection and resets it at once (SO_LINGER 0), counting them: a server
/// that is there but fails every request, unlike a refusing port. Call `stop()` when done: it waits for the accepting
/// thread to end before closing the socket, so that the thread never accepts on a descriptor number that another
/// test's server has been given since.
final class ResettingListener: @unchecked Sendable {
    let port: Int
    private let descriptor: Int32
    private let lock = NSLock()
    private var accepted = 0
    private var stopping = false
    private let ended = DispatchSemaphore(value: 0)

    var connections: Int { lock.withLock { accepted } }

    init() throws {
        let (port, descriptor) = try reserveRefusingPort()
        guard listen(descriptor, 16) == 0 else {
            close(descriptor)
            throw CancellationError()
        }
        self.port = port
        self.descriptor = descriptor
        let thread = Thread { [self] in
            defer { ended.signal() }
            while true {
                let client = accept(descriptor, nil, nil)
                if client < 0 { return }  // shut down by stop() (Linux)
                if lock.withLock({ stopping }) {
                    close(client)
                    return
                }
                lock.withLock { accepted += 1 }
                var linger = Foundation.linger(l_onoff: 1, l_linger: 0)
                _ = setsockopt(client, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Foundation.linger>.size))
                close(client)
            }
        }
        thread.start()
    }

    func stop() {
        // Wakes the blocked accept: Linux fails it on shutdown; elsewhere one last connection does. The descriptor
        // stays ours until the thread has returned.
        lock.withLock { stopping = true }
        shutdown(descriptor, Int32(SHUT_RDWR))
        let waker = tcpSocket()
        var address = loopbackAddress(port: port)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(waker, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        close(waker)
        ended.wait()
        close(descriptor)
    }
}
