import ErrandTesting
import Foundation
import Logging
import ResponsesAPI
import Synchronization

/// Client settings with waits made short, so retry and resume tests run fast without skipping any rule.
func fastConfiguration(maxRetries: Int = 2, idleTimeout: Duration = .seconds(10)) -> ResponsesClientConfiguration {
    .loopbackTests(maxRetries: maxRetries, idleTimeout: idleTimeout)
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

/// A loopback port that refuses connections while the returned descriptor is open.
func reserveRefusingPort() throws -> (port: Int, descriptor: Int32) { try FaultyListener.reserveRefusingPort() }
