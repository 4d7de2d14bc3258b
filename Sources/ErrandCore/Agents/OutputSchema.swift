import Foundation
import ResponsesAPI

/// The shape a run's final answer must have: a JSON Schema, sent as `text.format` (`json_schema`) and always checked
/// here, whatever the provider did with it. An answer that does not fit gets a corrective turn carrying the problems
/// (``RunLimits/outputRetries``), then the run ends `invalid_output`.
///
/// ```swift
/// agent.outputSchema = OutputSchema(name: "review", .object(["verdict": .string(enum: ["ok", "changes"]), "notes": .string()]))
/// let review = try await runner.run(agent, input: "Review notes.txt", as: Review.self).output
/// ```
public struct OutputSchema: Sendable, Hashable {
    /// The format's name (`^[a-zA-Z0-9_-]{1,64}$`).
    public var name: String
    /// The JSON Schema of the answer.
    public var schema: JSONValue
    /// What the answer is, for the model.
    public var description: String?
    /// Whether the schema is sent as strict; nil: strict when the schema allows it (every object closed with
    /// `additionalProperties: false` and every property required), as OpenAI's strict mode demands.
    public var strict: Bool?

    /// A schema given as JSON.
    public init(name: String = "output", schema: JSONValue, description: String? = nil, strict: Bool? = nil) {
        self.name = name
        self.schema = schema
        self.description = description
        self.strict = strict
    }

    /// A schema built with ``JSONSchema``, in its strict form.
    public init(name: String = "output", _ schema: JSONSchema, description: String? = nil) {
        self.init(name: name, schema: schema.jsonValue(strict: true), description: description, strict: true)
    }

    /// The verdict a judge agent gives a guardrail: `{"pass": boolean, "reason": string}`.
    public static let verdict = OutputSchema(
        name: "verdict",
        schema: [
            "type": "object", "additionalProperties": false, "required": ["pass", "reason"],
            "properties": ["pass": ["type": "boolean"], "reason": ["type": "string"]],
        ],
        description: "Whether the text passes the check, and why.", strict: true)

    /// Whether the schema goes as strict.
    public var isStrict: Bool { strict ?? Self.allowsStrict(schema) }

    /// The `text.format` sent to the model.
    public var format: TextOptions.Format { .jsonSchema(name: name, schema: schema, description: description, strict: isStrict) }

    /// Whether `schema` meets strict mode's rules: every object has `additionalProperties: false` and lists every
    /// property in `required`, down through properties, items and alternatives.
    public static func allowsStrict(_ schema: JSONValue) -> Bool {
        guard case .object(let rules) = schema else { return true }
        if let properties = rules["properties"]?.objectValue {
            let required = Set(rules["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            guard rules["additionalProperties"] == false, required == Set(properties.keys) else { return false }
            guard properties.values.allSatisfy(allowsStrict) else { return false }
        } else if rules["type"] == "object" || rules["type"]?.arrayValue?.contains("object") == true {
            guard rules["additionalProperties"] == false else { return false }
        }
        if let items = rules["items"], !allowsStrict(items) { return false }
        for key in ["anyOf", "oneOf"] {
            if let forms = rules[key]?.arrayValue, !forms.allSatisfy(allowsStrict) { return false }
        }
        return true
    }

    /// Why an answer was refused: the problems, in words the model can act on.
    public struct Rejection: Error, Sendable, Hashable, CustomStringConvertible {
        /// What is wrong.
        public var problems: [String]
        /// The problems in one line.
        public var description: String { problems.joined(separator: "; ") }
    }

    /// The answer's JSON value when `text` holds JSON that fits the schema. Liberal in what it reads: surrounding
    /// white space, a Markdown code fence (```` ```json ````) and prose around one JSON object or array are tolerated;
    /// what is inside must parse and fit.
    public func read(_ text: String) -> Result<JSONValue, Rejection> {
        guard let value = Self.json(in: text) else {
            let shown = OneLine.squash(text, limit: 120)
            return .failure(Rejection(problems: [text.isEmpty ? "the answer is empty, not JSON" : "the answer is not valid JSON: \(shown)"]))
        }
        let problems = SchemaValidator.problems(value, schema: schema)
        return problems.isEmpty ? .success(value) : .failure(Rejection(problems: problems.map { $0.replacingOccurrences(of: "the arguments", with: "the answer") }))
    }

    /// The JSON value in an answer: the whole text, else the inside of its one code fence, else the text from its first
    /// `{` or `[` to the matching last `}` or `]`.
    static func json(in text: String) -> JSONValue? {
        func parse<S: StringProtocol>(_ candidate: S) -> JSONValue? {
            let trimmed = candidate.trimmingCharacters(in: .whitespacesAndNewlines)
            guard trimmed.first == "{" || trimmed.first == "[" || trimmed.first == "\"" || trimmed == "null" || trimmed == "true"
                || trimmed == "false" || trimmed.first.map({ $0.isNumber || $0 == "-" }) == true
            else { return nil }
            return try? JSONDecoder().decode(JSONValue.self, from: Data(trimmed.utf8))
        }
        if let whole = parse(text) { return whole }
        if let open = text.range(of: "```") {
            var body = text[open.upperBound...]
            if let newline = body.firstIndex(of: "\n") { body = body[body.index(after: newline)...] }
            if let close = body.range(of: "```"), let fenced = parse(body[..<close.lowerBound]) { return fenced }
        }
        for (opening, closing) in [("{", "}"), ("[", "]")] {
            if let first = text.firstIndex(where: { String($0) == opening }), let last = text.lastIndex(where: { String($0) == closing }), first < last,
                let inner = parse(text[first...last])
            {
                return inner
            }
        }
        return nil
    }

    /// The message a corrective turn sends after a refused answer.
    /// The schema itself is in it (when short enough): a provider that ignores `text.format` never showed it to the model.
    func correction(_ rejection: Rejection, attempt: Int, of retries: Int) -> String {
        let text = schema.jsonString
        let shown = text.count <= 4000 ? " The schema is: \(text)" : ""
        return """
            Your answer does not match the required JSON schema "\(name)": \(rejection.description). \
            Answer again with only a JSON value that matches the schema, with no other text and no Markdown fence \
            (attempt \(attempt) of \(retries)).\(shown)
            """
    }
}
