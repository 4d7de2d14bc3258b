import Foundation

/// A list of input items written by a person (`errand respond --input FILE`, `errand run --input FILE`) that does not
/// have the shape the API's `input` takes. Each problem names the item, the field and what was expected, e.g.
/// `input[2].content[0].image_url: missing; an input_image part needs image_url or file_id`.
public struct InputItemsError: Error, Sendable, CustomStringConvertible {
    /// One problem per line, each with its JSON path.
    public var problems: [String]

    /// Every problem, one per line.
    public var description: String { problems.joined(separator: "\n") }
}

extension ResponseInput {
    /// Reads an `input` given as JSON: a string, or an array of input items exactly as the API's `input` takes them
    /// (messages with roles, `function_call` / `function_call_output` pairs, `input_text` / `input_image` /
    /// `input_file` parts, item references, earlier output items). The items are checked and then sent exactly as
    /// given; an item type this library does not know is sent as it is when it has a `type`.
    ///
    /// Strict, because it is what will be sent: a message needs a known `role` and content; a part needs its fields;
    /// a `function_call_output` must answer a `function_call` that comes before it.
    public static func validated(_ json: JSONValue) throws(InputItemsError) -> ResponseInput {
        switch json {
        case .string(let text):
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw InputItemsError(problems: ["input: the text is empty"])
            }
            return .text(text)
        case .array(let items):
            var checker = InputChecker()
            for (index, item) in items.enumerated() { checker.item(item, at: "input[\(index)]") }
            if items.isEmpty { checker.problems.append("input: the list is empty; give at least one item") }
            guard checker.problems.isEmpty else { throw InputItemsError(problems: checker.problems) }
            return .items(items.map(InputItem.raw))
        default:
            throw InputItemsError(problems: [
                "input: expected an array of input items (or a string), not \(json.kindDescription); e.g. [{\"role\": \"user\", \"content\": \"Hello\"}]"
            ])
        }
    }
}

/// The checks behind ``ResponseInput/validated(_:)``.
struct InputChecker {
    var problems: [String] = []
    private var calls: Set<String> = []

    static let roles = ["user", "assistant", "system", "developer"]
    static let inputParts = ["input_text", "input_image", "input_file", "input_audio"]

    mutating func item(_ item: JSONValue, at path: String) {
        guard case .object(let members) = item else {
            problems.append("\(path): expected an object, not \(item.kindDescription)")
            return
        }
        let type = members["type"]
        if let type, type.stringValue == nil {
            problems.append("\(path).type: expected a string, not \(type.kindDescription)")
            return
        }
        switch type?.stringValue {
        case nil, "message":
            message(members, at: path)
        case "function_call":
            string(members, "call_id", at: path, for: "a function_call")
            string(members, "name", at: path, for: "a function_call")
            if let arguments = members["arguments"] {
                if arguments.stringValue == nil {
                    problems.append("\(path).arguments: expected the arguments as a JSON string (e.g. \"{\\\"city\\\": \\\"Paris\\\"}\"), not \(arguments.kindDescription)")
                }
            } else {
                problems.append("\(path).arguments: missing; a function_call needs its arguments as a JSON string (\"{}\" for none)")
            }
            if let id = members["call_id"]?.stringValue { calls.insert(id) }
        case "function_call_output":
            if let id = string(members, "call_id", at: path, for: "a function_call_output"), !calls.contains(id) {
                problems.append("\(path).call_id: no function_call with call_id '\(id)' comes before it; give the call, then its output")
            }
            switch members["output"] {
            case nil: problems.append("\(path).output: missing; a function_call_output needs its output (a string)")
            case .string?: break
            case .array(let parts)?:
                for (index, part) in parts.enumerated() { self.part(part, at: "\(path).output[\(index)]", role: "user") }
            case let other?: problems.append("\(path).output: expected a string or a list of content parts, not \(other.kindDescription)")
            }
        case "item_reference":
            string(members, "id", at: path, for: "an item_reference")
        case "reasoning":
            if let summary = members["summary"], summary.arrayValue == nil {
                problems.append("\(path).summary: expected a list of summary parts, not \(summary.kindDescription)")
            }
        case let other?:
            if other.isEmpty { problems.append("\(path).type: must not be empty") }
        }
    }

    private mutating func message(_ members: [String: JSONValue], at path: String) {
        guard let role = string(members, "role", at: path, for: "a message") else { return }
        guard Self.roles.contains(role) else {
            problems.append("\(path).role: '\(role)' is not a role; use one of \(Self.roles.joined(separator: ", "))")
            return
        }
        switch members["content"] {
        case nil:
            problems.append("\(path).content: missing; a message needs its content, a string or a list of parts")
        case .string?:
            break
        case .array(let parts)?:
            if parts.isEmpty { problems.append("\(path).content: the list of parts is empty") }
            for (index, part) in parts.enumerated() { self.part(part, at: "\(path).content[\(index)]", role: role) }
        case let other?:
            problems.append("\(path).content: expected a string or a list of parts, not \(other.kindDescription)")
        }
    }

    private mutating func part(_ part: JSONValue, at path: String, role: String) {
        guard case .object(let members) = part else {
            problems.append("\(path): expected a content part object, not \(part.kindDescription)")
            return
        }
        guard let type = string(members, "type", at: path, for: "a content part") else { return }
        switch type {
        case "input_text", "output_text":
            if type == "output_text", role != "assistant" {
                problems.append("\(path).type: output_text is for assistant messages; a \(role) message takes input_text")
            }
            string(members, "text", at: path, for: "an \(type) part")
        case "refusal":
            string(members, "refusal", at: path, for: "a refusal part")
        case "input_image":
            if members["image_url"]?.stringValue == nil, members["file_id"]?.stringValue == nil {
                problems.append("\(path).image_url: missing; an input_image part needs image_url (a URL or a data: URL) or file_id")
            }
            if let detail = members["detail"], !["low", "high", "auto", "original"].contains(detail.stringValue ?? "") {
                problems.append("\(path).detail: expected low, high or auto, not \(detail.kindDescription)")
            }
        case "input_file":
            if members["file_id"]?.stringValue == nil, members["file_data"]?.stringValue == nil, members["file_url"]?.stringValue == nil {
                problems.append("\(path).file_id: missing; an input_file part needs file_id, file_data (with filename) or file_url")
            }
            if members["file_data"] != nil, members["filename"]?.stringValue == nil {
                problems.append("\(path).filename: missing; an input_file part with file_data needs its filename")
            }
        case "input_audio":
            break
        default:
            problems.append(
                "\(path).type: '\(type)' is not a content part; use \((Self.inputParts + ["output_text", "refusal"]).joined(separator: ", "))")
        }
    }

    /// The string member `key`, reporting it when missing or of another kind.
    @discardableResult
    private mutating func string(_ members: [String: JSONValue], _ key: String, at path: String, for what: String) -> String? {
        switch members[key] {
        case nil, .null?:
            problems.append("\(path).\(key): missing; \(what) needs \(key)")
            return nil
        case .string(let text)?:
            return text
        case let other?:
            problems.append("\(path).\(key): expected a string, not \(other.kindDescription)")
            return nil
        }
    }
}
