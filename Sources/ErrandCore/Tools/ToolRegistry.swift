import Foundation
import ResponsesAPI

/// The tools of an agent, by unique name, in the order they were registered.
public struct ToolRegistry: Sendable {
    private var tools: [RegisteredTool] = []
    private var index: [String: Int] = [:]

    /// An empty registry.
    public init() {}

    /// Registers a typed tool; throws if the name is taken or invalid.
    public mutating func register<T: Tool>(_ tool: T) throws(CoreError) {
        try add(RegisteredTool(tool))
    }

    /// Registers a tool with a raw JSON Schema and JSON arguments; throws if the name is taken or invalid.
    public mutating func register(
        name: String, description: String, parameters: JSONValue, strict: Bool = false, timeout: Duration? = nil, idempotent: Bool = false,
        _ handler: @escaping @Sendable (JSONValue, ToolContext) async throws -> ToolOutput
    ) throws(CoreError) {
        try add(RegisteredTool(
            name: name, description: description, parameters: parameters, strict: strict, timeout: timeout, idempotent: idempotent, invoke: handler))
    }

    /// Registers a tool with a ``JSONSchema`` and JSON arguments; throws if the name is taken or invalid.
    public mutating func register(
        name: String, description: String, parameters: JSONSchema, strict: Bool = true, timeout: Duration? = nil, idempotent: Bool = false,
        _ handler: @escaping @Sendable (JSONValue, ToolContext) async throws -> ToolOutput
    ) throws(CoreError) {
        try register(
            name: name, description: description, parameters: parameters.jsonValue(strict: strict), strict: strict, timeout: timeout,
            idempotent: idempotent, handler)
    }

    /// Registers an already erased tool; throws if the name is taken or invalid.
    public mutating func add(_ tool: RegisteredTool) throws(CoreError) {
        let valid = !tool.name.isEmpty && tool.name.count <= 64
            && tool.name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || $0 == "_" || $0 == "-" }
        guard valid else { throw CoreError(.registry, "invalid tool name '\(tool.name)': use 1 to 64 letters, digits, '_' or '-'") }
        guard index[tool.name] == nil else { throw CoreError(.registry, "two tools are named '\(tool.name)'") }
        index[tool.name] = tools.count
        tools.append(tool)
    }

    /// The tool with this name.
    public subscript(name: String) -> RegisteredTool? { index[name].map { tools[$0] } }

    /// All tools, in registration order.
    public var all: [RegisteredTool] { tools }

    /// The names, in registration order.
    public var names: [String] { tools.map(\.name) }

    /// Whether there are no tools.
    public var isEmpty: Bool { tools.isEmpty }

    /// The request's `tools` array.
    public var definitions: [ResponseTool] { tools.map(\.definition) }
}
