import ErrandCore
import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO

/// What went wrong with the queue or its database, in words a person can act on (never with a password).
public struct QueueError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure it is.
    public enum Kind: Sendable, Hashable {
        /// The `--database` URL cannot be read.
        case invalidURL
        /// The server cannot be reached, or the connection was lost: worth a retry.
        case connection
        /// The server refused the user or password.
        case authentication
        /// The schema is missing, older or newer than this errand.
        case schema
        /// No such task, batch or run.
        case notFound
        /// A request that cannot be done (a cancel of a finished task, a changed task submitted again).
        case refused
        /// The worker's lease on a task is gone: another worker has it, or it expired.
        case leaseLost
        /// Anything else the server said.
        case database
    }

    /// What kind of failure it is.
    public var kind: Kind
    /// The message.
    public var message: String

    /// Creates an error.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// Where the database is: a `postgres://` or `postgresql://` URL as libpq reads it (user, password, host, port,
/// database, `sslmode`). Its description leaves the password out.
public struct DatabaseURL: Sendable, CustomStringConvertible {
    /// How the connection uses TLS.
    public enum TLSMode: String, Sendable {
        /// Plain TCP (the default for a loopback host).
        case disable
        /// TLS when the server offers it (the default otherwise, as in libpq).
        case prefer
        /// TLS or no connection, with the server's certificate checked.
        case require
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    /// Reads a URL such as `postgresql://errand:secret@db.internal:5432/errand?sslmode=require`.
    public init(_ text: String) throws(QueueError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let components = URLComponents(string: trimmed), let scheme = components.scheme?.lowercased() else {
            throw QueueError(.invalidURL, "the database URL is not a URL; expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE")
        }
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw QueueError(.invalidURL, "the database URL's scheme is '\(scheme)'; expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE")
        }
        guard let host = components.host, !host.isEmpty else {
            throw QueueError(.invalidURL, "the database URL names no host; expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.user = components.user.flatMap { $0.removingPercentEncoding ?? $0 } ?? ProcessInfo.processInfo.environment["USER"] ?? "postgres"
        self.password = components.password.flatMap { $0.removingPercentEncoding ?? $0 }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self.database = path.isEmpty ? self.user : (path.removingPercentEncoding ?? path)
        let loopback = ["localhost", "127.0.0.1", "::1", "[::1]"].contains(host.lowercased())
        var tls: TLSMode = loopback ? .disable : .prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                switch item.value ?? "" {
                case "disable", "allow": tls = .disable
                case "prefer": tls = .prefer
                case "require", "verify-ca", "verify-full": tls = .require
                case let other: throw QueueError(.invalidURL, "the database URL's sslmode '\(other)' is not one of disable, prefer, require, verify-ca, verify-full")
                }
            case "application_name", "connect_timeout":
                continue
            default:
                throw QueueError(.invalidURL, "the database URL's parameter '\(item.name)' is not supported (sslmode is)")
            }
        }
        self.tls = tls
    }

    /// The URL without its password.
    public var description: String {
        "postgresql://\(user)@\(host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host):\(port)/\(database)"
    }

    /// The client's configuration.
    func configuration(maxConnections: Int) -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS
        switch self.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tls)
        configuration.options.maximumConnections = max(2, maxConnections)
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }
}

/// A pool of connections to the queue's database, running for the lifetime of ``with(_:maxConnections:logger:_:)``'s
/// body. Every statement goes through ``run(_:_:)``, which turns the driver's errors into ``QueueError``s that name
/// what failed and never the password.
public final class QueueDatabase: Sendable {
    /// Where the database is.
    public let url: DatabaseURL
    let client: PostgresClient
    let logger: Logger

    private init(url: DatabaseURL, client: PostgresClient, logger: Logger) {
        self.url = url
        self.client = client
        self.logger = logger
    }

    /// Connects (checking that the server answers, within `connectTimeout`), runs `body`, and closes the pool.
    public static func with<Result: Sendable>(
        _ url: DatabaseURL, maxConnections: Int = 8, connectTimeout: Duration = .seconds(15), logger: Logger = Logger(label: "errand.queue"),
        _ body: @Sendable (QueueDatabase) async throws -> Result
    ) async throws -> Result {
        let client = PostgresClient(configuration: url.configuration(maxConnections: maxConnections), backgroundLogger: Logger(label: "errand.postgres", factory: { _ in SwiftLogNoOpLogHandler() }))
        let database = QueueDatabase(url: url, client: client, logger: logger)
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            try await database.checkReachable(within: connectTimeout)
            let result = try await body(database)
            group.cancelAll()
            return result
        }
    }

    /// Fails with a clear message when the server cannot be reached or refuses us (one connection of its own, which
    /// fails at once with the real reason, where the pool would keep retrying), instead of waiting for a connection.
    private func checkReachable(within limit: Duration) async throws(QueueError) {
        let (url, logger) = (self.url, Logger(label: "errand.postgres", factory: { _ in SwiftLogNoOpLogHandler() }))
        let outcome = await withTaskGroup(of: Result<Void, QueueError>?.self) { group in
            group.addTask {
                do {
                    let tls: PostgresConnection.Configuration.TLS
                    switch url.tls {
                    case .disable: tls = .disable
                    case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
                    case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                    }
                    let configuration = PostgresConnection.Configuration(
                        host: url.host, port: url.port, username: url.user, password: url.password, database: url.database, tls: tls)
                    let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
                    try? await connection.close()
                    return .success(())
                } catch {
                    return .failure(self.describe(error, doing: "connecting"))
                }
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        switch outcome {
        case .success: return
        case .failure(let error): throw error
        case nil: throw QueueError(.connection, "cannot connect to \(url) within \(limit): is the server running and reachable?")
        }
    }

    /// How long one statement or transaction may take before it is given up as a connection that stopped answering.
    static let statementLimit: Duration = .seconds(15)

    /// Runs `operation` with the pool's client, describing any failure as doing `what`. An operation that does not
    /// answer within ``statementLimit`` (a connection the server dropped without a word) is cancelled and fails as a
    /// lost connection, so that the caller's retry takes over instead of waiting forever.
    package func run<R: Sendable>(_ what: String, _ operation: @escaping @Sendable (PostgresClient) async throws -> R) async throws(QueueError) -> R {
        let client = self.client
        do {
            return try await withDeadline(Self.statementLimit) { try await operation(client) }
        } catch {
            throw failure(error, doing: what)
        }
    }

    /// Runs `operation` in one transaction, under the same limit.
    func transaction<R: Sendable>(_ what: String, _ operation: @escaping @Sendable (PostgresConnection) async throws -> R) async throws(QueueError) -> R {
        let (client, logger) = (self.client, self.logger)
        do {
            return try await withDeadline(Self.statementLimit) {
                try await client.withTransaction(logger: logger) { connection in try await operation(connection) }
            }
        } catch {
            throw failure(error, doing: what)
        }
    }

    /// A statement's failure: its time limit, or the driver's error in words (a ``QueueError`` thrown inside stays as it is).
    private func failure(_ error: any Error, doing what: String) -> QueueError {
        if error is DeadlineExceeded {
            return QueueError(.connection, "the database did not answer within \(Self.statementLimit) while \(what)")
        }
        return describe(error, doing: what)
    }

    /// A connection failure in words: the driver's text names the system's error deep inside.
    static func cause(_ text: String) -> String {
        let lower = text.lowercased()
        if lower.contains("connection refused") { return "connection refused (is PostgreSQL running there, on that port?)" }
        if lower.contains("name resolution") || lower.contains("nodename nor servname") || lower.contains("name or service not known")
            || lower.contains("no address") {
            return "the host name does not resolve"
        }
        if lower.contains("timed out") || lower.contains("timeout") { return "the connection timed out" }
        if lower.contains("connection reset") { return "the connection was reset" }
        return text
    }

    /// The driver's error in words, with its kind.
    func describe(_ error: any Error, doing what: String) -> QueueError {
        if let error = error as? QueueError { return error }
        if let error = error as? PostgresTransactionError {
            return describe(error.closureError ?? error.commitError ?? error.beginError ?? error.rollbackError ?? CancellationError(), doing: what)
        }
        var result: QueueError
        if let error = error as? PSQLError {
            switch error.code {
            case .server:
                let state = error.serverInfo?[.sqlState] ?? ""
                let message = error.serverInfo?[.message] ?? "an error"
                let detail = error.serverInfo?[.detail].map { " (\($0))" } ?? ""
                switch state {
                case "28P01", "28000":
                    result = QueueError(.authentication, "the database at \(url) refused user '\(url.user)': \(message); check the user and password in the URL")
                case "3D000":
                    result = QueueError(.connection, "\(message) at \(url.host):\(url.port); create it (createdb \(url.database)) or name another in the URL")
                case "42P01", "42703", "42883":
                    result = QueueError(.schema, "the queue's schema is missing or incomplete in \(url) (\(message)); run: errand queue init --database URL")
                case "57P01", "57P02", "57P03", "08000", "08003", "08006":
                    result = QueueError(.connection, "the database connection was lost while \(what): \(message)")
                default:
                    result = QueueError(.database, "the database refused \(what): \(message)\(detail) [SQLSTATE \(state)]")
                }
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed:
                result = QueueError(.connection, "cannot reach the database at \(url) while \(what): \(Self.cause(error.underlying.map { "\($0)" } ?? "\(error.code)"))")
            case .queryCancelled:
                result = QueueError(.connection, "the database cancelled a query while \(what)")
            default:
                result = QueueError(.database, "the database driver failed while \(what): \(error.code)\(error.underlying.map { " (\($0))" } ?? "")")
            }
        } else if error is CancellationError {
            result = QueueError(.connection, "\(what) was cancelled")
        } else {
            result = QueueError(.connection, "cannot reach the database at \(url) while \(what): \(Self.cause("\(error)"))")
        }
        if let password = url.password, password.count >= 3 {
            result.message = result.message.replacingOccurrences(of: password, with: "[redacted]")
        }
        return result
    }
}
