import ErrandCore
import Foundation
import Logging
import ResponsesAPI

/// The MCP servers of a run: started together, their tools registered as `NAME__TOOL`, stopped together.
///
/// ```swift
/// let servers = try await MCPServers.start(configurations, logger: logger)
/// defer { Task { await servers.stop() } }   // or: await servers.stop() on every path
/// try servers.register(into: &registry)
/// ```
public final class MCPServers: Sendable {
    /// The servers that started.
    public let servers: [MCPServer]
    /// One line per optional server that did not start (the run goes on without its tools).
    public let skipped: [String]

    init(servers: [MCPServer], skipped: [String]) {
        self.servers = servers
        self.skipped = skipped
    }

    /// No servers.
    public static let none = MCPServers(servers: [], skipped: [])

    /// Starts every server at once. When a required one fails, the others are stopped and its ``MCPStartError`` is
    /// thrown (before any model call); an optional one that fails is left out and listed in ``skipped``.
    public static func start(_ configurations: [MCPServerConfiguration], logger: Logger) async throws -> MCPServers {
        guard !configurations.isEmpty else { return .none }
        let outcomes = await withTaskGroup(of: (Int, Result<MCPServer, any Error>).self) { group in
            for (index, configuration) in configurations.enumerated() {
                group.addTask {
                    do {
                        return (index, .success(try await MCPServer.start(configuration, logger: logger)))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var results: [(Int, Result<MCPServer, any Error>)] = []
            for await outcome in group { results.append(outcome) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
        var started: [MCPServer] = []
        var skipped: [String] = []
        var failure: (any Error)?
        for (configuration, outcome) in zip(configurations, outcomes) {
            switch outcome {
            case .success(let server):
                started.append(server)
            case .failure(let error) where configuration.isOptional:
                skipped.append("\(error) (optional: going on without its tools)")
                logger.warning("optional MCP server did not start", metadata: ["server": "\(configuration.name)", "error": "\(error)"])
            case .failure(let error):
                failure = failure ?? error
            }
        }
        if let failure {
            for server in started { await server.stop() }
            throw failure
        }
        return MCPServers(servers: started, skipped: skipped)
    }

    /// Starts the servers, runs `body` with them, and stops them however `body` ends (returns, throws, or is
    /// cancelled): their lifetime is the scope.
    public static func with<Result: Sendable>(
        _ configurations: [MCPServerConfiguration], logger: Logger, isolation: isolated (any Actor)? = #isolation,
        _ body: (MCPServers) async throws -> Result
    ) async throws -> Result {
        let servers = try await start(configurations, logger: logger)
        do {
            let result = try await body(servers)
            await servers.stop()
            return result
        } catch {
            await servers.stop()
            throw error
        }
    }

    /// Stops every server (in parallel); returns when all are reaped.
    public func stop() async {
        await withTaskGroup(of: Void.self) { group in
            for server in servers { group.addTask { await server.stop() } }
        }
    }

    /// Kills every server's process group at once (for a process about to exit without stopping them in order).
    public func kill() {
        for server in servers { server.kill() }
    }

    /// The process ids of the servers errand started (remote servers have none).
    public var processIDs: [pid_t] { servers.compactMap(\.processID) }

    /// Every server's tools, as the model sees them.
    public var tools: [RegisteredTool] { servers.flatMap(Self.tools(of:)) }

    /// Adds every server's tools to `registry`.
    public func register(into registry: inout ToolRegistry) throws(CoreError) {
        for tool in tools { try registry.add(tool) }
    }

    /// `NAME__TOOL`, with characters the Responses API does not allow in a function name replaced by `_`, at most 64.
    public static func qualifiedName(server: String, tool: String) -> String {
        let cleaned = String(String.UnicodeScalarView(tool.unicodeScalars.map { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || scalar == "_" || scalar == "-") ? scalar : "_"
        }))
        return String("\(server)__\(cleaned)".prefix(64))
    }

    /// A server's tools as the model sees them.
    public static func tools(of server: MCPServer) -> [RegisteredTool] {
        server.tools.map { tool in
            let (parameters, strict) = StrictSchema.convert(tool.inputSchema)
            let name = tool.name
            return RegisteredTool(
                name: qualifiedName(server: server.configuration.name, tool: tool.name),
                description: tool.description ?? "\(tool.name) (from the MCP server \(server.configuration.name))",
                parameters: parameters, strict: strict, timeout: server.configuration.callTimeout, idempotent: server.configuration.idempotent
            ) { arguments, _ in
                .text(try await server.call(name, arguments: StrictSchema.dropNulls(arguments, schema: tool.inputSchema)))
            }
        }
    }
}

/// Makes an MCP tool's input schema strict (OpenAI's structured-output rules) when that keeps its meaning, and leaves
/// it as given otherwise.
enum StrictSchema {
    /// Keywords strict mode accepts; a schema using any other (`oneOf`, `allOf`, `not`, `if`, `patternProperties`,
    /// `default`, …) stays non-strict.
    static let supported: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "enum", "description", "title", "anyOf", "const",
        "$schema",
    ]

    /// The schema to send and whether it is strict. An object's optional properties become required-but-nullable (the
    /// model sends `null`, which ``dropNulls(_:schema:)`` removes again before the server sees it).
    static func convert(_ schema: JSONValue) -> (JSONValue, Bool) {
        guard case .object = schema, schema["type"] == "object", let strict = strictify(schema) else {
            return (schema, false)
        }
        return (strict, true)
    }

    private static func strictify(_ schema: JSONValue) -> JSONValue? {
        guard case .object(var members) = schema else { return nil }
        guard members.keys.allSatisfy(supported.contains) else { return nil }
        members.removeValue(forKey: "$schema")
        if let items = members["items"] {
            guard let strict = strictify(items) else { return nil }
            members["items"] = strict
        }
        if case .array(let options)? = members["anyOf"] {
            let strict = options.compactMap(strictify)
            guard strict.count == options.count else { return nil }
            members["anyOf"] = .array(strict)
        }
        guard members["type"] == "object" || members["properties"] != nil else { return .object(members) }
        // An object whose keys are free (a map) cannot be strict.
        if let additional = members["additionalProperties"], additional != false { return nil }
        let properties = members["properties"]?.objectValue ?? [:]
        let required = Set(members["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        var converted: [String: JSONValue] = [:]
        for (key, value) in properties {
            guard var strict = strictify(value) else { return nil }
            if !required.contains(key) {
                guard case .object(var inner) = strict, let type = inner["type"] else { return nil }
                switch type {
                case .string(let name): inner["type"] = .array([.string(name), "null"])
                case .array(let names) where !names.contains("null"): inner["type"] = .array(names + ["null"])
                default: break
                }
                if case .array(let values)? = inner["enum"], !values.contains(.null) { inner["enum"] = .array(values + [.null]) }
                strict = .object(inner)
            }
            converted[key] = strict
        }
        members["properties"] = .object(converted)
        members["required"] = .array(converted.keys.sorted().map(JSONValue.string))
        members["additionalProperties"] = false
        members["type"] = "object"
        return .object(members)
    }

    /// The arguments without the `null`s strict mode made the model send for properties the server's schema leaves
    /// optional.
    static func dropNulls(_ arguments: JSONValue, schema: JSONValue) -> JSONValue {
        guard case .object(let members) = arguments else { return arguments }
        let required = Set(schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        let properties = schema["properties"]?.objectValue ?? [:]
        var kept: [String: JSONValue] = [:]
        for (key, value) in members {
            if value == .null, !required.contains(key) { continue }
            kept[key] = properties[key].map { dropNulls(value, schema: $0) } ?? value
        }
        return .object(kept)
    }
}
