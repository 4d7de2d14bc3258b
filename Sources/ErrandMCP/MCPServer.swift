import ErrandCore
import ErrandProcess
import Foundation
import Logging
import MCP
import ResponsesAPI
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How to reach one MCP server (a program started over stdio, or a remote Streamable HTTP endpoint), and how to use it.
public struct MCPServerConfiguration: Sendable, Hashable {
    /// Where the server is.
    public enum Endpoint: Sendable, Hashable {
        /// A program errand starts (a resolved path, its arguments, its whole environment, the folder it starts in),
        /// spoken to over its stdin and stdout.
        case stdio(executable: String, arguments: [String], environment: [String: String], workingDirectory: URL)
        /// A remote server's Streamable HTTP endpoint; `headers` go on every request (credentials, typically).
        case streamableHTTP(url: URL, headers: [String: String])
    }

    /// The server's name in the spec: its tools are registered as `NAME__TOOL`.
    public var name: String
    /// Where the server is.
    public var endpoint: Endpoint
    /// Only these tools are offered to the model (nil: all of them).
    public var allowTools: [String]?
    /// The limit of one call.
    public var callTimeout: Duration
    /// The limit of starting (or connecting), initialising and listing tools.
    public var startTimeout: Duration
    /// Whether the run goes on without this server's tools when it cannot start.
    public var isOptional: Bool
    /// Whether its tools are safe to call twice, so that a call a crash interrupted is run again on resume (the spec
    /// entry's `"idempotent": true`; MCP tools are not, by default).
    public var idempotent: Bool
    /// The most bytes of a result the model gets; the rest is cut, with a note (the spec entry's `max_output_bytes`).
    public var maxOutputBytes = 256 << 10
    /// Variables the spec substitutes into a remote server's headers or URL that were not set: named when the server
    /// refuses the credentials.
    public var unsetVariables: [String] = []

    /// The variables a server inherits from errand's environment, as the MCP SDKs' stdio clients do; anything else
    /// (API keys among it) reaches a server only when the spec's `env` names it.
    public static let inheritedEnvironment = ["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ"]

    /// A server errand starts over stdio; `environment` is added to the inherited variables of `parentEnvironment`.
    public init(
        name: String, executable: String, arguments: [String] = [], environment: [String: String] = [:],
        parentEnvironment: [String: String] = ProcessInfo.processInfo.environment, workingDirectory: URL,
        allowTools: [String]? = nil, callTimeout: Duration = .seconds(60), startTimeout: Duration = .seconds(30), isOptional: Bool = false,
        idempotent: Bool = false
    ) {
        var merged: [String: String] = [:]
        for key in Self.inheritedEnvironment { if let value = parentEnvironment[key] { merged[key] = value } }
        merged.merge(environment) { $1 }
        self.init(
            name: name, endpoint: .stdio(executable: executable, arguments: arguments, environment: merged, workingDirectory: workingDirectory),
            allowTools: allowTools, callTimeout: callTimeout, startTimeout: startTimeout, isOptional: isOptional, idempotent: idempotent)
    }

    /// A remote server at a Streamable HTTP endpoint.
    public init(
        name: String, url: URL, headers: [String: String] = [:], allowTools: [String]? = nil, callTimeout: Duration = .seconds(60),
        startTimeout: Duration = .seconds(30), isOptional: Bool = false, idempotent: Bool = false
    ) {
        self.init(
            name: name, endpoint: .streamableHTTP(url: url, headers: headers), allowTools: allowTools, callTimeout: callTimeout,
            startTimeout: startTimeout, isOptional: isOptional, idempotent: idempotent)
    }

    /// A server at `endpoint`.
    public init(
        name: String, endpoint: Endpoint, allowTools: [String]? = nil, callTimeout: Duration = .seconds(60), startTimeout: Duration = .seconds(30),
        isOptional: Bool = false, idempotent: Bool = false
    ) {
        self.name = name
        self.endpoint = endpoint
        self.allowTools = allowTools
        self.callTimeout = callTimeout
        self.startTimeout = startTimeout
        self.isOptional = isOptional
        self.idempotent = idempotent
    }

    /// Where the server is, in words: its command, or its URL (never its headers).
    public var location: String {
        switch endpoint {
        case .stdio(let executable, let arguments, _, _): ([executable] + arguments).joined(separator: " ")
        case .streamableHTTP(let url, _): url.absoluteString
        }
    }

    /// Whether it is a remote server.
    public var isRemote: Bool {
        if case .streamableHTTP = endpoint { return true }
        return false
    }
}

/// An MCP server that could not be started, initialised or asked for its tools. Shaped as the other errors of Errand
/// (``ResponsesAPI/ResponsesError``, ``ErrandCore/CoreError``): a kind that can grow, a one-line message naming the
/// server, the lower-level error when there is one, and the end of what the server wrote to stderr.
public struct MCPStartError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case spawn = "could not be started", noAnswer = "did not answer", exited = "exited", allowTools = "does not offer the allowed tools"
            case cancelled = "cancelled", unreachable = "could not be reached", refused = "refused the credentials", handshake = "failed the handshake"
        }
        private let base: Base

        /// Its command could not be started.
        public static let spawn = Kind(base: .spawn)
        /// It did not answer `initialize` and `tools/list` within its start-up timeout.
        public static let noAnswer = Kind(base: .noAnswer)
        /// It exited, or failed the handshake.
        public static let exited = Kind(base: .exited)
        /// `allow_tools` names tools it does not offer.
        public static let allowTools = Kind(base: .allowTools)
        /// The run was cancelled while it started.
        public static let cancelled = Kind(base: .cancelled)
        /// A remote server: nothing answered at its URL.
        public static let unreachable = Kind(base: .unreachable)
        /// A remote server refused the credentials (HTTP 401 or 403).
        public static let refused = Kind(base: .refused)
        /// A remote server answered, but not as an MCP server, or failed initialisation.
        public static let handshake = Kind(base: .handshake)

        /// The kind in words.
        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var kind: Kind
    /// The server's name.
    public var server: String
    /// What went wrong, in one line.
    public var message: String
    /// The end of what the server wrote to stderr.
    public var stderrTail: String
    /// The lower-level error, when there is one.
    public var underlying: (any Error)?

    /// Creates an error.
    public init(_ kind: Kind, server: String, _ message: String, stderrTail: String = "", underlying: (any Error)? = nil) {
        self.kind = kind
        self.server = server
        self.message = message
        self.stderrTail = stderrTail
        self.underlying = underlying
    }

    /// Whether the server is a remote one (there is no stderr to show).
    public var isRemote = false

    /// The message, naming the server, and the end of its stderr.
    public var description: String {
        if isRemote { return "MCP server '\(server)' could not be used: \(message)" }
        let tail = stderrTail.trimmingCharacters(in: .whitespacesAndNewlines)
        return "MCP server '\(server)' did not start: \(message)" + (tail.isEmpty ? " (it wrote nothing to stderr)" : "; its stderr ends with:\n\(tail)")
    }
}

/// A tool an MCP server offers.
public struct MCPToolInfo: Sendable, Hashable {
    /// The name on the server.
    public var name: String
    public var description: String?
    /// The input schema as the server gave it.
    public var inputSchema: JSONValue
}

/// One MCP server in use: a child process in a process group of its own, spoken to over its stdin and stdout, or a
/// remote server's Streamable HTTP session; either way through the SDK's client. A child's stderr is kept (the last
/// 8 KB) for error messages. ``stop()`` ends it (the child stopped, the remote session ended with DELETE), however the
/// run ends.
public final class MCPServer: Sendable {
    /// The configuration it was started with.
    public let configuration: MCPServerConfiguration
    /// The child's process id (nil for a remote server).
    public let processID: pid_t?
    /// The tools it offers (after `allow_tools`).
    public let tools: [MCPToolInfo]
    /// The server's name and version, as it says in `initialize`.
    public let serverInfo: String

    private let client: Client
    private let link: Link

    /// How the server is reached.
    private enum Link: Sendable {
        case child(ServerProcess)
        case remote(StreamableHTTPTransport)
    }

    private init(configuration: MCPServerConfiguration, client: Client, link: Link, tools: [MCPToolInfo], serverInfo: String) {
        self.configuration = configuration
        self.client = client
        self.link = link
        if case .child(let child) = link { processID = child.pid } else { processID = nil }
        self.tools = tools
        self.serverInfo = serverInfo
    }

    /// Starts the server (or opens the remote session), initialises it and lists its tools, within the start-up
    /// timeout; on failure the process is stopped (the session ended) and the error names the server and why.
    public static func start(_ configuration: MCPServerConfiguration, logger: Logger) async throws -> MCPServer {
        var serverLogger = logger
        serverLogger[metadataKey: "mcp_server"] = "\(configuration.name)"
        switch configuration.endpoint {
        case .stdio(let executable, let arguments, let environment, let workingDirectory):
            let child: ServerProcess
            do {
                child = try await ServerProcess.spawn(executable: executable, arguments: arguments, environment: environment, workingDirectory: workingDirectory)
            } catch {
                throw MCPStartError(.spawn, server: configuration.name, "\(error)", underlying: error)
            }
            let client = Client(name: "errand", version: "0.1")
            let transport = PipeTransport(child: child.child, logger: serverLogger) {
                // The server closed its stdout (it exited or crashed): pending calls fail now instead of waiting.
                Task { await client.disconnect() }
            }
            child.onExit { Task { await client.disconnect() } }
            do {
                let (info, tools) = try await handshake(client, transport, configuration, stderrTail: { child.stderrTail })
                return MCPServer(configuration: configuration, client: client, link: .child(child), tools: tools, serverInfo: info)
            } catch {
                await client.disconnect()
                await child.stop()
                if let error = error as? MCPStartError { throw error }
                let (kind, reason): (MCPStartError.Kind, String)
                switch error {
                case is DeadlineExceeded:
                    kind = .noAnswer
                    reason = "no answer to initialize and tools/list within \(configuration.startTimeout) (check that its command starts an MCP server on stdio, or raise start_timeout_seconds if it is slow to start)"
                case is CancellationError:
                    kind = .cancelled
                    reason = "the run was cancelled while it started"
                default:
                    kind = .exited
                    reason = child.exitDescription.map { "it exited (\($0)); run its command by hand to see why" } ?? Self.describe(error)
                }
                throw MCPStartError(kind, server: configuration.name, reason, stderrTail: child.stderrTail, underlying: error)
            }
        case .streamableHTTP(let url, let headers):
            let client = Client(name: "errand", version: "0.1")
            let transport = StreamableHTTPTransport(
                url: url, headers: headers, requestTimeout: max(configuration.callTimeout, configuration.startTimeout), logger: serverLogger)
            do {
                let (info, tools) = try await handshake(client, transport, configuration, stderrTail: { "" })
                return MCPServer(configuration: configuration, client: client, link: .remote(transport), tools: tools, serverInfo: info)
            } catch {
                await client.disconnect()
                var failure: MCPStartError
                if let error = error as? MCPStartError {
                    failure = error
                } else {
                    let kind: MCPStartError.Kind
                    let reason: String
                    switch error {
                    case is DeadlineExceeded:
                        kind = .noAnswer
                        reason = "\(url.absoluteString) did not answer initialize and tools/list within \(configuration.startTimeout) (raise start_timeout_seconds if it is slow)"
                    case is CancellationError:
                        kind = .cancelled
                        reason = "the run was cancelled while it connected"
                    case let error as MCPHTTPError:
                        switch error.kind {
                        case .unreachable: kind = .unreachable
                        case .refused: kind = .refused
                        default: kind = .handshake
                        }
                        let unset = configuration.unsetVariables
                        reason = error.message + (error.kind == .refused && !unset.isEmpty
                            ? " (\(unset.joined(separator: ", ")) \(unset.count == 1 ? "was" : "were") not set in errand's environment)" : "")
                    default:
                        kind = .handshake
                        reason = "\(url.absoluteString): \(Self.describe(error))"
                    }
                    failure = MCPStartError(kind, server: configuration.name, reason, underlying: error)
                }
                failure.isRemote = true
                throw failure
            }
        }
    }

    /// Initialises the server and lists its tools (every page), within the start-up timeout, and applies `allow_tools`.
    private static func handshake(
        _ client: Client, _ transport: any Transport, _ configuration: MCPServerConfiguration, stderrTail: () -> String
    ) async throws -> (String, [MCPToolInfo]) {
        let (info, tools) = try await withDeadline(configuration.startTimeout) {
            let result = try await client.connect(transport: transport)
            var tools: [MCP.Tool] = []
            var cursor: String?
            repeat {
                let page = try await client.listTools(cursor: cursor)
                tools += page.tools
                cursor = page.nextCursor
            } while cursor != nil && tools.count < 10_000
            return ("\(result.serverInfo.name) \(result.serverInfo.version)", tools)
        }
        var offered = tools.map { MCPToolInfo(name: $0.name, description: $0.description, inputSchema: JSONValue(mcp: $0.inputSchema)) }
        if let allowed = configuration.allowTools {
            let names = Set(offered.map(\.name))
            let missing = allowed.filter { !names.contains($0) }
            if !missing.isEmpty {
                throw MCPStartError(
                    .allowTools, server: configuration.name,
                    "allow_tools names \(missing.joined(separator: ", ")), which it does not offer (it offers \(offered.map(\.name).joined(separator: ", ")))",
                    stderrTail: stderrTail())
            }
            offered = offered.filter { allowed.contains($0.name) }
        }
        return (info, offered)
    }

    /// Calls a tool; an error result, a protocol error, a crash or a timeout is a ``ToolError`` whose text the model can
    /// act on.
    public func call(_ tool: String, arguments: JSONValue) async throws -> String {
        var parameters: [String: MCP.Value] = [:]
        if case .object(let members) = arguments { for (key, value) in members { parameters[key] = value.mcpValue } }
        let context: RequestContext<CallTool.Result>
        do {
            context = try await client.callTool(name: tool, arguments: parameters)
        } catch {
            throw await failure(of: tool, error)
        }
        let client = self.client
        let result: CallTool.Result
        do {
            result = try await withTaskCancellationHandler {
                try await context.value
            } onCancel: {
                // Abandoned (timeout or cancelled run): tell the server, which also ends the SDK's wait.
                Task { try? await client.cancelRequest(context.requestID, reason: "errand stopped waiting") }
            }
        } catch {
            throw await failure(of: tool, error)
        }
        let text = Self.capped(Self.text(of: result), at: configuration.maxOutputBytes)
        if result.isError == true {
            throw ToolError("\(configuration.name) \(tool) returned an error: \(text.isEmpty ? "(no message)" : text)")
        }
        return text
    }

    private func failure(of tool: String, _ error: any Error) async -> any Error {
        if error is CancellationError { return error }
        guard case .child(let child) = link else {
            return ToolError("the MCP server '\(configuration.name)' could not run \(tool): \(Self.describe(error))")
        }
        // A call can fail because the server died: say so, with what it last wrote.
        await child.waitBriefly()
        if let exit = child.exitDescription {
            let tail = child.stderrTail.trimmingCharacters(in: .whitespacesAndNewlines)
            return ToolError("the MCP server '\(configuration.name)' stopped during the \(tool) call (\(exit))" + (tail.isEmpty ? "" : "; its stderr ends with: \(tail.suffix(600))"))
        }
        return ToolError("the MCP server '\(configuration.name)' could not run \(tool): \(Self.describe(error))")
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? MCPError { return error.errorDescription ?? "\(error)" }
        if let error = error as? MCPHTTPError { return error.message }
        return "\(error)"
    }

    /// `text` cut to at most `limit` bytes (at a character's start), with a note of how much was cut, as command tools'
    /// output is.
    static func capped(_ text: String, at limit: Int) -> String {
        let utf8 = text.utf8
        guard utf8.count > limit else { return text }
        var end = utf8.index(utf8.startIndex, offsetBy: limit)
        while end > utf8.startIndex, UTF8.isContinuation(utf8[end]) { end = utf8.index(before: end) }
        let kept = String(text[..<end])
        return kept + "\n[output cut: \(utf8.count - kept.utf8.count) more bytes not shown]"
    }

    /// The call's content as text: text as is, a short note for images, audio and resources, and the structured
    /// content as JSON when there is nothing else.
    static func text(of result: CallTool.Result) -> String {
        var parts: [String] = []
        for item in result.content {
            switch item {
            case .text(let text, _, _):
                parts.append(text)
            case .image(let data, let mimeType, _, _):
                parts.append("[image: \(mimeType), \(data.count * 3 / 4) bytes, not shown]")
            case .audio(let data, let mimeType, _, _):
                parts.append("[audio: \(mimeType), \(data.count * 3 / 4) bytes, not shown]")
            case .resource(let resource, _, _):
                if let text = resource.text {
                    parts.append("[resource \(resource.uri)]\n\(text)")
                } else {
                    parts.append("[resource \(resource.uri)\(resource.mimeType.map { ", \($0)" } ?? ""), binary, not shown]")
                }
            case .resourceLink(let uri, let name, _, let description, let mimeType, _):
                parts.append("[resource link: \(name) \(uri)\(mimeType.map { " (\($0))" } ?? "")\(description.map { " - \($0)" } ?? "")]")
            }
        }
        if parts.isEmpty, let structured = result.structuredContent {
            parts.append(JSONValue(mcp: structured).jsonString)
        }
        return parts.joined(separator: "\n")
    }

    /// Ends the server. A child: the client disconnects and its stdin closes (a stdio server exits on that), then
    /// SIGTERM and at last SIGKILL go to its process group; the process is reaped. A remote server: the session ends
    /// with DELETE. Safe to call more than once.
    public func stop() async {
        await client.disconnect()
        if case .child(let child) = link { await child.stop() }
    }

    /// Whether the child process has exited and been reaped (false for a remote server).
    public var hasExited: Bool {
        if case .child(let child) = link { return child.exitDescription != nil }
        return false
    }

    /// Kills a child's process group at once, without the orderly stop (a process about to exit; a remote session is
    /// left for the server to expire).
    public func kill() {
        if case .child(let child) = link { child.child.kill() }
    }

    /// The remote session's transport (nil for a child).
    public var remoteTransport: StreamableHTTPTransport? {
        if case .remote(let transport) = link { return transport }
        return nil
    }
}

extension JSONValue {
    /// An MCP value as JSON (the SDK reads `data:` URL strings as data; they go back to strings).
    init(mcp value: MCP.Value) {
        switch value {
        case .null: self = .null
        case .bool(let bool): self = .bool(bool)
        case .int(let int): self = .number(Double(int))
        case .double(let double): self = .number(double)
        case .string(let string): self = .string(string)
        case .data(let mimeType, let data): self = .string("data:\(mimeType ?? "application/octet-stream");base64,\(data.base64EncodedString())")
        case .array(let array): self = .array(array.map(JSONValue.init(mcp:)))
        case .object(let object): self = .object(object.mapValues(JSONValue.init(mcp:)))
        }
    }

    /// This JSON as an MCP value.
    var mcpValue: MCP.Value {
        switch self {
        case .null: .null
        case .bool(let bool): .bool(bool)
        case .number(let number):
            number.rounded() == number && abs(number) < 9.0e15 ? .int(Int(number)) : .double(number)
        case .string(let string): .string(string)
        case .array(let array): .array(array.map(\.mcpValue))
        case .object(let object): .object(object.mapValues(\.mcpValue))
        }
    }
}
