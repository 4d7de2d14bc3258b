import Foundation
import ResponsesAPI

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
