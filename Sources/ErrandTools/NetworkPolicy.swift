import ErrandCore
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IP address, as resolved or written in a URL.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// IPv4, in host byte order.
    case v4(UInt32)
    /// IPv6, 16 bytes.
    case v6([UInt8])

    /// Parses a literal (`127.0.0.1`, `::1`, `[::ffff:10.0.0.1]`).
    public init?(_ text: String) {
        let literal = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        var v4 = in_addr()
        if inet_pton(AF_INET, literal, &v4) == 1 {
            self = .v4(UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, literal, &v6) == 1 {
            self = .v6(withUnsafeBytes(of: v6) { Array($0) })
            return
        }
        return nil
    }

    /// The address as text.
    public var description: String {
        switch self {
        case .v4(let value): return "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
        case .v6(let bytes):
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            return inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)).map { String(cString: $0) } ?? "?"
        }
    }

    /// Why a tool must not connect here by default, or `nil` for a public address.
    public var restriction: String? {
        switch self {
        case .v4(let value):
            func inside(_ network: UInt32, _ bits: UInt32) -> Bool { value >> (32 - bits) == network >> (32 - bits) }
            if inside(0x7F00_0000, 8) { return "a loopback address" }
            if inside(0x0A00_0000, 8) || inside(0xAC10_0000, 12) || inside(0xC0A8_0000, 16) { return "a private address" }
            if inside(0x6440_0000, 10) { return "a shared (carrier-grade NAT) address" }
            if inside(0xA9FE_0000, 16) { return "a link-local address (cloud metadata lives at 169.254.169.254)" }
            if inside(0xE000_0000, 4) { return "a multicast address" }
            if value == 0xFFFF_FFFF { return "the broadcast address" }
            if inside(0x0000_0000, 8) { return "an unspecified address" }
            if inside(0xF000_0000, 4) || inside(0xC000_0000, 24) || inside(0xC612_0000, 15) { return "a reserved address" }
            return nil
        case .v6(let bytes):
            if bytes.allSatisfy({ $0 == 0 }) { return "an unspecified address" }
            if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return "a loopback address" }
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                // IPv4-mapped: judged as the IPv4 address inside.
                let embedded = UInt32(bytes[12]) << 24 | UInt32(bytes[13]) << 16 | UInt32(bytes[14]) << 8 | UInt32(bytes[15])
                return IPAddress.v4(embedded).restriction.map { "\($0) (IPv4-mapped)" }
            }
            if bytes[0..<12].allSatisfy({ $0 == 0 }) { return "a deprecated IPv4-compatible address" }
            if bytes[0] & 0xFE == 0xFC { return "a private (unique local) address" }
            if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return "a link-local address" }
            if bytes[0] == 0xFF { return "a multicast address" }
            if bytes[0] == 0x00 && bytes[1] == 0x64 && bytes[2] == 0xFF && bytes[3] == 0x9B {
                let embedded = UInt32(bytes[12]) << 24 | UInt32(bytes[13]) << 16 | UInt32(bytes[14]) << 8 | UInt32(bytes[15])
                return IPAddress.v4(embedded).restriction.map { "\($0) (NAT64)" }
            }
            return nil
        }
    }
}

/// Which hosts and addresses `fetch_url` may reach. By default: any public address; never loopback, private,
/// link-local, multicast, unspecified or reserved ones (IPv4, IPv6 and IPv4-mapped IPv6), unless the spec allows them.
public struct NetworkPolicy: Sendable, Hashable {
    /// When not empty, only these hosts (and their subdomains) may be fetched, and they may resolve to any address.
    public var allowHosts: [String]
    /// These hosts (and their subdomains) are never fetched.
    public var denyHosts: [String]
    /// Whether private, loopback and link-local addresses may be reached at all.
    public var allowPrivateNetwork: Bool

    /// Creates a policy.
    public init(allowHosts: [String] = [], denyHosts: [String] = [], allowPrivateNetwork: Bool = false) {
        self.allowHosts = allowHosts.map { $0.lowercased() }
        self.denyHosts = denyHosts.map { $0.lowercased() }
        self.allowPrivateNetwork = allowPrivateNetwork
    }

    static func matches(_ host: String, _ pattern: String) -> Bool {
        host == pattern || host.hasSuffix("." + pattern)
    }

    /// Checks a URL's host against the lists and every address it resolves to; throws a ``ToolError`` saying why not.
    ///
    /// Returns the address to connect to when the host is a name: the caller connects there and does not look the name
    /// up again, so a DNS answer that changes between the check and the connection (rebinding) cannot send the fetch
    /// to an address that was never checked. `nil` for an address literal.
    @discardableResult
    public func check(_ url: URL, resolver: HostResolver = .system) async throws -> IPAddress? {
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw ToolError("only http and https URLs can be fetched, not '\(url.absoluteString)'")
        }
        guard let rawHost = url.host, !rawHost.isEmpty else { throw ToolError("'\(url.absoluteString)' has no host") }
        let host = rawHost.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]."))
        if let denied = denyHosts.first(where: { Self.matches(host, $0) }) {
            throw ToolError("\(host) is refused (deny_hosts has \(denied))")
        }
        let named = allowHosts.contains { Self.matches(host, $0) }
        if !allowHosts.isEmpty, !named {
            throw ToolError("\(host) is not among the hosts this agent may fetch (\(allowHosts.joined(separator: ", ")))")
        }
        let literal = IPAddress(host)
        let addresses: [IPAddress]
        if let literal { addresses = [literal] } else { addresses = try await resolver.resolve(host) }
        guard let first = addresses.first else { throw ToolError("\(host) does not resolve to any address") }
        if !(named || allowPrivateNetwork) {
            for address in addresses {
                if let reason = address.restriction {
                    throw ToolError("\(host) resolves to \(address), \(reason); fetching it is refused (a spec can allow it with allow_hosts or allow_private_network)")
                }
            }
        }
        return literal == nil ? first : nil
    }

    /// The addresses a host resolves to (a literal resolves to itself), from the system resolver, looked up off the
    /// cooperative pool.
    static func systemResolve(_ host: String) async throws -> [IPAddress] {
        if let literal = IPAddress(host) { return [literal] }
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                var hints = addrinfo()
                hints.ai_family = AF_UNSPEC
                #if canImport(Glibc)
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                #else
                hints.ai_socktype = SOCK_STREAM
                #endif
                var list: UnsafeMutablePointer<addrinfo>?
                let status = getaddrinfo(host, nil, &hints, &list)
                guard status == 0 else {
                    continuation.resume(throwing: ToolError("\(host) cannot be resolved: \(String(cString: gai_strerror(status)))"))
                    return
                }
                defer { freeaddrinfo(list) }
                var addresses: [IPAddress] = []
                var entry = list
                while let current = entry {
                    if let socket = current.pointee.ai_addr {
                        if current.pointee.ai_family == AF_INET {
                            let v4 = socket.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                            addresses.append(.v4(UInt32(bigEndian: v4.s_addr)))
                        } else if current.pointee.ai_family == AF_INET6 {
                            let v6 = socket.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                            addresses.append(.v6(withUnsafeBytes(of: v6) { Array($0) }))
                        }
                    }
                    entry = current.pointee.ai_next
                }
                continuation.resume(returning: addresses)
            }
        }
    }
}

/// How `fetch_url` turns a host name into addresses: the system resolver (`getaddrinfo`), or a stand-in in tests.
public struct HostResolver: Sendable {
    /// Returns every address the name resolves to, in the order to try them.
    public var resolve: @Sendable (String) async throws -> [IPAddress]

    /// Creates a resolver from a function.
    public init(_ resolve: @escaping @Sendable (String) async throws -> [IPAddress]) {
        self.resolve = resolve
    }

    /// `getaddrinfo`, on a thread of its own.
    public static let system = HostResolver { try await NetworkPolicy.systemResolve($0) }
}
