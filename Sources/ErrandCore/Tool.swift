import Foundation
import Logging
import ResponsesAPI
import Synchronization

/// What a tool gives back to the model: text, or structured JSON (sent as its compact text).
public enum ToolOutput: Sendable, Hashable, ExpressibleByStringLiteral {
    /// Text.
    case text(String)
    /// Structured JSON.
    case json(JSONValue)

    /// Text output.
    public init(stringLiteral value: String) { self = .text(value) }

    /// The text sent as the `function_call_output`.
    public var text: String {
        switch self {
        case .text(let text): text
        case .json(let json): json.jsonString
        }
    }
}

/// The folder a run's tools may read (and, when writable, write); nothing outside it.
public struct Workspace: Sendable, Hashable {
    /// The root, with symlinks resolved.
    public let root: URL
    /// Whether tools may write.
    public let isWritable: Bool

    /// A workspace at `root` (which must exist and be a directory).
    public init(root: URL, writable: Bool = false) throws(CoreError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CoreError(.workspace, "the workspace \(root.path) is not a directory")
        }
        self.root = root.resolvingSymlinksInPath().standardizedFileURL
        self.isWritable = writable
    }
}

/// What a running tool can know and use: the run, the call, the workspace, a logger, and cancellation.
public struct ToolContext: Sendable {
    /// The run's id.
    public let runID: String
    /// The call's id (`call_id`).
    public let callID: String
    /// The run's workspace, when it has one.
    public let workspace: Workspace?
    /// A logger with the run and call in its metadata.
    public let logger: Logger
    private let notes: ToolNotes

    /// Creates a context.
    public init(runID: String, callID: String, workspace: Workspace?, logger: Logger) {
        self.runID = runID
        self.callID = callID
        self.workspace = workspace
        self.logger = logger
        self.notes = ToolNotes()
    }

    /// Keeps a note about this call in the journal (not sent to the model), e.g. a command's stderr.
    public func note(_ text: String) { notes.append(text) }

    /// The notes kept so far.
    public var keptNotes: [String] { notes.all }

    /// Whether the run was cancelled or the call timed out; long tools should check and stop.
    public var isCancelled: Bool { Task.isCancelled }

    /// Throws `CancellationError` when the run was cancelled or the call timed out.
    public func checkCancellation() throws { try Task.checkCancellation() }

    /// The workspace, or an error the model can read when the run has none.
    public func requireWorkspace() throws -> Workspace {
        guard let workspace else { throw ToolError("this run has no workspace") }
        return workspace
    }
}

/// The notes of one call, shared by the copies of its context.
final class ToolNotes: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ text: String) { storage.withLock { $0.append(text) } }
    var all: [String] { storage.withLock { $0 } }
}

/// An error a tool throws to tell the model what went wrong; its message becomes the call's output.
public struct ToolError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, for the model.
    public var message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// A tool the model can call, in the spirit of FoundationModels' `Tool`: a name, a description, a parameter schema,
/// typed arguments and an async `call`.
///
/// ```swift
/// struct Weather: Tool {
///     struct Arguments: Decodable { var city: String }
///     let name = "get_weather"
///     let description = "The weather in a city."
///     let parameters = JSONSchema.object(["city": .string("The city")])
///     func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput { "Sunny in \(arguments.city)" }
/// }
/// ```
public protocol Tool: Sendable {
    /// The decoded arguments.
    associatedtype Arguments: Decodable
    /// The name the model calls (`^[a-zA-Z0-9_-]{1,64}$`).
    var name: String { get }
    /// What the tool does, for the model.
    var description: String { get }
    /// The schema of the arguments object.
    var parameters: JSONSchema { get }
    /// Whether the schema is sent in strict mode (default true).
    var isStrict: Bool { get }
    /// A timeout for this tool, overriding the run's per-tool timeout.
    var timeout: Duration? { get }
    /// Whether running the same call twice does no harm (reading a file, fetching a page): a call a crash interrupted
    /// is then run again on resume. False by default: the model is told instead that the call may or may not have
    /// taken effect.
    var isIdempotent: Bool { get }
    /// Runs the tool.
    func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput
}

extension Tool {
    /// Strict by default.
    public var isStrict: Bool { true }
    /// The run's per-tool timeout by default.
    public var timeout: Duration? { nil }
    /// Not safe to repeat by default.
    public var isIdempotent: Bool { false }
}

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
                throw ToolArgumentsError(message: Self.explain(error))
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

/// Arguments that do not fit the tool's parameters.
struct ToolArgumentsError: Error {
    var message: String
}

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
