import Foundation
import ResponsesAPI

/// A rule-based stand-in for a model, for tests that send requests they do not script one by one (`errand probe`,
/// long runs): it answers from what the request asks, within what the server's ``ScriptedDialect`` does.
///
/// - A forcing `tool_choice` (a named function, `required`) is followed when the dialect says the model follows it;
///   a prompt that names a tool gets a call of it; "twice" or "both" in the prompt gets two calls of it at once.
/// - Arguments fit the tool's schema: the first enum value, `null` where allowed, "Paris" for strings, 1 for numbers.
/// - "Count from 1 to N" is answered with numbers up to the output cap (the dialect's field), `incomplete` when cut
///   (or `completed`, as llama.cpp does), with one output token per number.
/// - A structured output's schema, in the field the dialect reads (`text.format`, or llama.cpp's `response_format`), is
///   answered with JSON that fits it.
/// - Anything else is answered with the word the prompt asks for ("reply with the single word: X"), or "ok".
public enum ScriptedModel {
    /// A turn that answers whatever request arrives, in `dialect`.
    public static func turn(_ dialect: ScriptedDialect) -> ScriptedTurn {
        .respond { request in answer(request, dialect: dialect) }
    }

    /// A responder that answers every request from its whole conversation, so that the model remembers what earlier
    /// turns of a chain said ("Remember this word for later: X", then "What was the word…?").
    public static func responder(_ dialect: ScriptedDialect) -> @Sendable (ScriptedConversation) -> ScriptedTurn {
        { conversation in answer(conversation.request, dialect: dialect, history: conversation.items) }
    }

    /// The answer to `request`; `history` is the conversation it continues, when known.
    public static func answer(_ request: RecordedRequest, dialect: ScriptedDialect, history: [JSONValue] = []) -> ScriptedTurn {
        let body = request.body ?? [:]
        let prompt = lastUserText(body)
        if prompt.contains("What was the word I asked you to remember") {
            return .message(rememberedWord(history) ?? "I do not know which word you mean.")
        }
        let tools = (body["tools"]?.arrayValue ?? []).filter { $0["type"] == "function" }
        let parallel = body["parallel_tool_calls"]?.boolValue != false
        if !tools.isEmpty, let calls = calls(for: prompt, tools: tools, choice: body["tool_choice"], parallel: parallel, dialect: dialect) {
            if dialect.callsToolsAsItems { return ScriptedTurn(output: calls) }
            let text = calls.compactMap { output -> String? in
                guard case .functionCall(let name, let arguments, _) = output else { return nil }
                return "```json\n{\"name\": \"\(name)\", \"arguments\": \(arguments)}\n```"
            }.joined(separator: "\n")
            return .message(text)
        }
        let schema = dialect.structuredOutputField == "text.format"
            ? body["text"]?["format"].flatMap { $0["type"] == "json_schema" ? $0["schema"] : nil }
            : body["response_format"]?["json_schema"]?["schema"]
        if let schema { return .message(sample(schema).jsonString) }
        let cap = body[dialect.maxTokensField]?.intValue
        if let limit = countingLimit(prompt) {
            let count = min(limit, cap ?? limit)
            let text = (1...max(1, count)).map(String.init).joined(separator: " ")
            var turn = ScriptedTurn.message(text)
            let input = max(1, prompt.count / 4)
            turn.usage = Usage(inputTokens: input, outputTokens: count, totalTokens: input + count)
            if count < limit, dialect.incompleteWhenCapped {
                turn.status = "incomplete"
                turn.incompleteReason = "max_output_tokens"
            }
            return turn
        }
        return .message(requestedWord(prompt) ?? "ok")
    }

    private static func calls(
        for prompt: String, tools: [JSONValue], choice: JSONValue?, parallel: Bool, dialect: ScriptedDialect
    ) -> [ScriptedOutput]? {
        let lower = prompt.lowercased()
        let many = lower.contains("twice") || lower.contains("both")
        var chosen: JSONValue?
        if dialect.followsToolChoice, let name = choice?["name"]?.stringValue, choice?["type"] == "function" {
            chosen = tools.first { $0["name"]?.stringValue == name }
        } else if let named = tools.first(where: { lower.contains(($0["name"]?.stringValue ?? "\u{0}").lowercased()) }) {
            chosen = named
        } else if dialect.followsToolChoice, choice == "required" {
            chosen = tools.first
        }
        guard let tool = chosen, let name = tool["name"]?.stringValue else { return nil }
        let arguments = sample(tool["parameters"] ?? [:])
        let count = many && parallel ? 2 : 1
        return (0..<count).map { index in
            var arguments = arguments
            if index == 1, arguments["city"] != nil { arguments["city"] = "Tokyo" }
            return .functionCall(name: name, arguments: arguments.jsonString, callID: nil)
        }
    }

    /// A value that fits `schema`.
    static func sample(_ schema: JSONValue) -> JSONValue {
        if let values = schema["enum"]?.arrayValue, let first = values.first(where: { $0 != .null }) ?? values.first { return first }
        let types = schema["type"]?.arrayValue?.compactMap(\.stringValue) ?? schema["type"]?.stringValue.map { [$0] } ?? ["object"]
        switch types.first(where: { $0 != "null" }) ?? "null" {
        case "object":
            var object: [String: JSONValue] = [:]
            let properties = schema["properties"]?.objectValue ?? [:]
            let required = Set(schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            for (name, property) in properties where required.contains(name) {
                let nullable = property["type"]?.arrayValue?.contains("null") == true
                object[name] = nullable && property["enum"] == nil ? .null : sample(property)
            }
            return .object(object)
        case "string":
            let description = (schema["description"]?.stringValue ?? "").lowercased()
            return description.contains("zone") ? "Europe/Paris" : description.contains("path") ? "notes.txt" : "Paris"
        case "integer", "number": return 1
        case "boolean": return true
        case "array": return [sample(schema["items"] ?? [:])]
        default: return .null
        }
    }

    /// The text of the last user message of the request's input.
    static func lastUserText(_ body: JSONValue) -> String {
        if let text = body["input"]?.stringValue { return text }
        for item in (body["input"]?.arrayValue ?? []).reversed() where item["role"] == "user" {
            if let text = item["content"]?.stringValue { return text }
            return (item["content"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }.joined(separator: " ")
        }
        return ""
    }

    private static func countingLimit(_ prompt: String) -> Int? {
        guard let range = prompt.range(of: "Count from 1 to ") else { return nil }
        return Int(prompt[range.upperBound...].prefix { $0.isNumber })
    }

    /// The word an earlier user message asked to remember, from the conversation's items.
    private static func rememberedWord(_ items: [JSONValue]) -> String? {
        for item in items.reversed() where item["role"] == "user" {
            let text = item["content"]?.stringValue ?? (item["content"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }.joined(separator: " ")
            guard let range = text.range(of: "Remember this word for later: ") else { continue }
            let word = text[range.upperBound...].prefix { $0.isLetter || $0.isNumber }
            if !word.isEmpty { return String(word) }
        }
        return nil
    }

    private static func requestedWord(_ prompt: String) -> String? {
        guard let range = prompt.range(of: "single word: ") else { return nil }
        let word = prompt[range.upperBound...].prefix { $0.isLetter }
        return word.isEmpty ? nil : String(word)
    }
}
