import Foundation
import ResponsesAPI

/// Reads a function call's arguments as liberally as can be done without guessing, so that a model or a server that
/// does not enforce strict mode still gets its call run:
///
/// - an empty string, or `null`, is `{}` (a tool with no required parameters needs nothing more);
/// - an object encoded twice (a JSON string whose text is an object) is that object;
/// - a property the tool declared optional, which strict mode lists as required but nullable, may be left out: it is
///   read as `null`. A required property that does not accept `null` is still missing, and the schema check says so.
///
/// Arguments sent as a JSON object instead of a string are made a string when the call is decoded (``FunctionCall``).
public enum ToolArguments {
    /// Why arguments could not be read.
    public enum Problem: Error, Sendable, Hashable {
        /// The text is not JSON.
        case notJSON(String)
        /// The JSON is not an object.
        case notAnObject(String)

        /// The message for the model.
        public func message(tool: String) -> String {
            switch self {
            case .notJSON(let text):
                "the arguments of \(tool) are not valid JSON (\(text)). Send one JSON object that matches the tool's parameters."
            case .notAnObject(let text):
                "the arguments of \(tool) must be a JSON object, not \(text)."
            }
        }
    }

    /// The arguments as a JSON object, with omitted nullable properties filled in as `null`.
    public static func parse(_ text: String, schema: JSONValue) -> Result<JSONValue, Problem> {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        var value: JSONValue
        if trimmed.isEmpty {
            value = [:]
        } else {
            do {
                value = try JSONValue(parsing: trimmed)
            } catch {
                return .failure(.notJSON(String(trimmed.prefix(200))))
            }
        }
        if case .string(let inner) = value, let object = try? JSONValue(parsing: inner), case .object = object {
            value = object
        }
        if case .null = value { value = [:] }
        guard case .object = value else { return .failure(.notAnObject(String(trimmed.prefix(200)))) }
        return .success(SchemaValidator.fillingOmittedNullables(value, schema: schema))
    }
}
