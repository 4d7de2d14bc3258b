import Foundation
import ResponsesAPI

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
