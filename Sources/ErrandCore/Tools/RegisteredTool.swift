import Foundation
import ResponsesAPI

/// A registered tool, its type erased: the definition sent to the model and how to invoke it with JSON arguments.
public struct RegisteredTool: Sendable {
    /// The tool's name.
    public let name: String
    /// The tool's description.
    public let description: String
    /// The parameter schema as sent.
    public let parameters: JSONValue
    /// Whether the schema is strict.
    public let isStrict: Bool
    /// The tool's own timeout, if any.
    public let timeout: Duration?
    /// Whether a call a crash interrupted may be run again on resume (see ``Tool/isIdempotent``).
    public let isIdempotent: Bool
    let invoke: @Sendable (JSONValue, ToolContext) async throws -> ToolOutput
    /// Whether the tool runs an agent (``Agent/asTool(name:description:parameters:)``): cancelled, its call is waited
    /// for while the child run winds down and journals its end, rather than abandoned.
    package var runsAgent = false

    /// Creates a tool from a closure that takes JSON arguments.
    public init(
        name: String, description: String, parameters: JSONValue, strict: Bool = true, timeout: Duration? = nil,
        idempotent: Bool = false, invoke: @escaping @Sendable (JSONValue, ToolContext) async throws -> ToolOutput
    ) {
        self.name = name
        self.description = description
        self.parameters = parameters
        self.isStrict = strict
        self.timeout = timeout
        self.isIdempotent = idempotent
        self.invoke = invoke
    }

    /// This tool, marked safe (or not) to run again after a crash interrupted a call.
    public func idempotent(_ value: Bool = true) -> RegisteredTool {
        RegisteredTool(name: name, description: description, parameters: parameters, strict: isStrict, timeout: timeout, idempotent: value, invoke: invoke)
    }

    /// Wraps a typed tool: JSON arguments are decoded into its `Arguments`.
    public init<T: Tool>(_ tool: T) {
        let decoder = JSONDecoder()
        self.init(
            name: tool.name, description: tool.description, parameters: tool.parameters.jsonValue(strict: tool.isStrict),
            strict: tool.isStrict, timeout: tool.timeout, idempotent: tool.isIdempotent
        ) { arguments, context in
            let decoded: T.Arguments
            do {
                decoded = try decoder.decode(T.Arguments.self, from: JSONEncoder().encode(arguments))
            } catch let error as DecodingError {
                throw ToolError(.invalidArguments, Self.explain(error), underlying: error)
            }
            return try await tool.call(arguments: decoded, context: context)
        }
    }

    /// Calls the tool with JSON arguments (not checked against the schema: the runner does that first).
    public func call(arguments: JSONValue, context: ToolContext) async throws -> ToolOutput {
        try await invoke(arguments, context)
    }

    /// The definition sent in the request's `tools`.
    public var definition: ResponseTool {
        .function(FunctionTool(name: name, description: description, parameters: parameters, strict: isStrict))
    }

    static func explain(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing required field '\(path(context.codingPath + [key]))'"
        case .typeMismatch(let type, let context): return "field '\(path(context.codingPath))' must be \(type), \(context.debugDescription)"
        case .valueNotFound(let type, let context): return "field '\(path(context.codingPath))' must be a \(type), not null"
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return "the arguments do not fit the tool's parameters (a number too large, or a value of the wrong kind)"
        case .dataCorrupted(let context): return "field '\(path(context.codingPath))' is invalid: \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
