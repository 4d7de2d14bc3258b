import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loopback listener that fails at the connection level, below HTTP, as broken servers and middleboxes do:
/// the faults the scripted server (which always speaks HTTP) cannot make.
///
/// Call ``stop()`` when done: it waits for the accepting thread to end before closing the socket, so that the thread
/// never accepts on a descriptor number another server has been given since, and closes every connection it held.
public final class FaultyListener: @unchecked Sendable {
    /// What each connection gets.
    public enum Behavior: Sendable {
        /// Accepted, then reset at once (SO_LINGER 0).
        case reset
        /// Accepted; the request is read; these bytes come back (not HTTP), then the connection closes.
        case garbage([UInt8])
        /// Accepted; the request is read; nothing ever comes back (a server that hangs).
        case silent
        /// Accepted and never read from: the server has stopped reading (half-open).
        case deaf
    }

    /// The port on 127.0.0.1.
    public let port: Int
    /// `http://127.0.0.1:PORT/v1`.
    public var baseURL: String { "http://127.0.0.1:\(port)/v1" }
    private let descriptor: Int32
    private let behavior: Behavior
    private let lock = NSLock()
    private var accepted = 0
    private var held: [Int32] = []
    private var stopping = false
    private let ended = DispatchSemaphore(value: 0)

    /// How many connections were accepted.
    public var connections: Int { lock.withLock { accepted } }

    /// Listens on a free loopback port.
    public init(_ behavior: Behavior) throws {
        let (port, descriptor) = try Self.reserveRefusingPort()
        guard listen(descriptor, 64) == 0 else {
            close(descriptor)
            throw POSIXError(.EADDRINUSE)
        }
        self.port = port
        self.descriptor = descriptor
        self.behavior = behavior
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
                serve(client)
            }
        }
        thread.start()
    }

    private func serve(_ client: Int32) {
        switch behavior {
        case .reset:
            var linger = Foundation.linger(l_onoff: 1, l_linger: 0)
            _ = setsockopt(client, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Foundation.linger>.size))
            close(client)
        case .garbage(let bytes):
            readRequest(client)
            _ = bytes.withUnsafeBytes { send(client, $0.baseAddress, $0.count, 0) }
            close(client)
        case .silent:
            readRequest(client)
            lock.withLock { held.append(client) }
        case .deaf:
            lock.withLock { held.append(client) }
        }
    }

    /// Reads what arrives within a short while (a request's head and small body), without waiting for more.
    private func readRequest(_ client: Int32) {
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        _ = setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return }
            if buffer[..<count].count < 65536, String(decoding: buffer[..<count], as: UTF8.self).contains("\r\n\r\n") {
                // The head is in; a small JSON body comes in the same segment or just after.
                _ = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                return
            }
        }
    }

    /// Stops accepting and closes every connection held.
    public func stop() {
        // Wakes the blocked accept: Linux fails it on shutdown; elsewhere one last connection does. The descriptor
        // stays ours until the thread has returned.
        lock.withLock { stopping = true }
        shutdown(descriptor, Int32(SHUT_RDWR))
        let waker = Self.tcpSocket()
        var address = Self.loopbackAddress(port: port)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(waker, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        close(waker)
        ended.wait()
        close(descriptor)
        for client in lock.withLock({ held }) { close(client) }
    }

    /// A new IPv4 TCP socket.
    public static func tcpSocket() -> Int32 {
        #if canImport(Glibc)
        socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        socket(AF_INET, SOCK_STREAM, 0)
        #endif
    }

    /// 127.0.0.1 at `port` (0: any free port when binding).
    public static func loopbackAddress(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return address
    }

    /// A loopback port that refuses connections for as long as the returned socket is open: bound, never listening, so
    /// no other server can take it meanwhile. Close the descriptor when done.
    public static func reserveRefusingPort() throws -> (port: Int, descriptor: Int32) {
        let descriptor = tcpSocket()
        guard descriptor >= 0 else { throw POSIXError(.EMFILE) }
        var address = loopbackAddress(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0 else {
            close(descriptor)
            throw POSIXError(.EADDRINUSE)
        }
        _ = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return (Int(UInt16(bigEndian: address.sin_port)), descriptor)
    }
}
