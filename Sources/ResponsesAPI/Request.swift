import Foundation

/// A tool the model may use: a function the client runs, or any provider-hosted tool passed through as given.
public enum ResponseTool: Sendable, Hashable {
    /// A function tool: `{type: "function", name, description, parameters, strict}`.
    case function(FunctionTool)
    /// Any other tool object (`web_search`, `file_search`, `mcp`, `code_interpreter`, …), sent unchanged.
    case hosted(JSONValue)

    /// The tool's name for a function tool, else its `type`.
    public var name: String {
        switch self {
        case .function(let tool): tool.name
        case .hosted(let raw): raw["type"]?.stringValue ?? "hosted"
        }
    }
}

/// A function tool definition.
public struct FunctionTool: Codable, Sendable, Hashable {
    /// The function's name (`^[a-zA-Z0-9_-]{1,64}$` on OpenAI).
    public var name: String
    /// What the function does, for the model.
    public var description: String?
    /// The JSON Schema of the arguments object.
    public var parameters: JSONValue?
    /// Whether the provider must hold arguments to the schema (OpenAI's strict mode).
    public var strict: Bool?

    /// Creates a function tool.
    public init(name: String, description: String? = nil, parameters: JSONValue? = nil, strict: Bool? = nil) {
        self.name = name
        self.description = description
        self.parameters = parameters
        self.strict = strict
    }

    enum CodingKeys: String, CodingKey { case type, name, description, parameters, strict }

    /// Decodes a function tool.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        description = try container.decodeIfPresent(String.self, forKey: .description)
        parameters = try container.decodeIfPresent(JSONValue.self, forKey: .parameters)
        strict = try container.decodeIfPresent(Bool.self, forKey: .strict)
    }

    /// Encodes the tool with `type: function`; `parameters` and `strict` are always present (the spec requires them, nullable).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("function", forKey: .type)
        try container.encode(name, forKey: .name)
        try container.encodeIfPresent(description, forKey: .description)
        try container.encode(parameters ?? .null, forKey: .parameters)
        try container.encode(strict.map(JSONValue.bool) ?? .null, forKey: .strict)
    }
}

extension ResponseTool: Codable {
    /// Decodes a tool: function tools are typed, the rest kept as sent.
    public init(from decoder: any Decoder) throws {
        let raw = try JSONValue(from: decoder)
        if raw["type"]?.stringValue == "function", let tool = try? raw.decode(as: FunctionTool.self) {
            self = .function(tool)
        } else {
            self = .hosted(raw)
        }
    }

    /// Encodes the tool in its wire shape.
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .function(let tool): try tool.encode(to: encoder)
        case .hosted(let raw): try raw.encode(to: encoder)
        }
    }
}

/// How the model should choose tools (`tool_choice`).
public enum ToolChoice: Sendable, Hashable {
    /// `"none"`: answer without tools.
    case none
    /// `"auto"`: the model decides.
    case auto
    /// `"required"`: call at least one tool.
    case required
    /// `{type: "function", name}`: call this function.
    case function(name: String)
    /// `{type: "allowed_tools", mode, tools}`: restrict to these tools; `mode` is `auto` or `required`.
    case allowedTools(mode: String, tools: [JSONValue])
    /// `{type: "mcp", server_label, name?}`: call a tool of this hosted MCP server.
    case mcp(serverLabel: String, name: String?)
    /// `{type: "custom", name}`: call this custom tool.
    case custom(name: String)
    /// `{type: "web_search_preview" | "file_search" | …}`: use this hosted tool.
    case hosted(type: String)
    /// Any other form, sent as given.
    case raw(JSONValue)
}

extension ToolChoice: Codable {
    /// Decodes every documented form; anything else is kept raw.
    public init(from decoder: any Decoder) throws {
        let raw = try JSONValue(from: decoder)
        switch raw {
        case "none": self = .none
        case "auto": self = .auto
        case "required": self = .required
        case .object(let object):
            let type = object["type"]?.stringValue
            switch type {
            case "function":
                if let name = object["name"]?.stringValue { self = .function(name: name) } else { self = .raw(raw) }
            case "allowed_tools":
                self = .allowedTools(mode: object["mode"]?.stringValue ?? "auto", tools: object["tools"]?.arrayValue ?? [])
            case "mcp":
                self = .mcp(serverLabel: object["server_label"]?.stringValue ?? "", name: object["name"]?.stringValue)
            case "custom":
                if let name = object["name"]?.stringValue { self = .custom(name: name) } else { self = .raw(raw) }
            case let type? where object.count == 1:
                self = .hosted(type: type)
            default:
                self = .raw(raw)
            }
        default:
            self = .raw(raw)
        }
    }

    /// The wire form.
    public var jsonValue: JSONValue {
        switch self {
        case .none: "none"
        case .auto: "auto"
        case .required: "required"
        case .function(let name): ["type": "function", "name": .string(name)]
        case .allowedTools(let mode, let tools): ["type": "allowed_tools", "mode": .string(mode), "tools": .array(tools)]
        case .mcp(let label, let name):
            name.map { ["type": "mcp", "server_label": .string(label), "name": .string($0)] } ?? ["type": "mcp", "server_label": .string(label)]
        case .custom(let name): ["type": "custom", "name": .string(name)]
        case .hosted(let type): ["type": .string(type)]
        case .raw(let raw): raw
        }
    }

    /// Encodes the wire form.
    public func encode(to encoder: any Encoder) throws { try jsonValue.encode(to: encoder) }
}

/// Reasoning settings (`reasoning`).
public struct ReasoningOptions: Codable, Sendable, Hashable {
    /// `none`, `minimal`, `low`, `medium`, `high`, `xhigh`, `max`.
    public var effort: String?
    /// `auto`, `concise` or `detailed`.
    public var summary: String?

    /// Creates reasoning settings.
    public init(effort: String? = nil, summary: String? = nil) {
        self.effort = effort
        self.summary = summary
    }
}

/// Text output settings (`text`): the format and verbosity.
public struct TextOptions: Codable, Sendable, Hashable {
    /// The output format.
    public enum Format: Sendable, Hashable {
        /// Plain text.
        case text
        /// Any JSON object.
        case jsonObject
        /// JSON that follows `schema` (flat shape, unlike Chat Completions).
        case jsonSchema(name: String, schema: JSONValue, description: String? = nil, strict: Bool? = nil)
        /// Any other format, sent as given.
        case raw(JSONValue)
    }

    /// The output format.
    public var format: Format?
    /// `low`, `medium` or `high`.
    public var verbosity: String?

    /// Creates text settings.
    public init(format: Format? = nil, verbosity: String? = nil) {
        self.format = format
        self.verbosity = verbosity
    }
}

extension TextOptions.Format: Codable {
    /// The wire form.
    public var jsonValue: JSONValue {
        switch self {
        case .text: return ["type": "text"]
        case .jsonObject: return ["type": "json_object"]
        case .jsonSchema(let name, let schema, let description, let strict):
            var object: [String: JSONValue] = ["type": "json_schema", "name": .string(name), "schema": schema]
            if let description { object["description"] = .string(description) }
            if let strict { object["strict"] = .bool(strict) }
            return .object(object)
        case .raw(let raw): return raw
        }
    }

    /// Decodes a format.
    public init(from decoder: any Decoder) throws {
        let raw = try JSONValue(from: decoder)
        switch raw["type"]?.stringValue {
        case "text": self = .text
        case "json_object": self = .jsonObject
        case "json_schema":
            if let name = raw["name"]?.stringValue, let schema = raw["schema"] {
                self = .jsonSchema(name: name, schema: schema, description: raw["description"]?.stringValue, strict: raw["strict"]?.boolValue)
            } else {
                self = .raw(raw)
            }
        default: self = .raw(raw)
        }
    }

    /// Encodes the wire form.
    public func encode(to encoder: any Encoder) throws { try jsonValue.encode(to: encoder) }
}

/// A request's `input`: a string or a list of items.
public enum ResponseInput: Sendable, Hashable {
    /// A single user message as plain text.
    case text(String)
    /// A list of items.
    case items([InputItem])
}

extension ResponseInput: Codable {
    /// Decodes a string or a list.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .text(text)
        } else {
            self = .items(try container.decode([InputItem].self))
        }
    }

    /// Encodes a string or a list.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .text(let text): try container.encode(text)
        case .items(let items): try container.encode(items)
        }
    }
}

extension ResponseInput: ExpressibleByStringLiteral {
    /// A text input.
    public init(stringLiteral value: String) { self = .text(value) }
}

/// The body of `POST /responses` (`CreateResponse`). Every field is optional; `extra` carries fields this type does not name.
public struct CreateResponseRequest: Sendable, Hashable {
    /// The model id.
    public var model: String?
    /// The input: a string or items.
    public var input: ResponseInput?
    /// System (developer) instructions. Not inherited through `previous_response_id`: send them every turn.
    public var instructions: String?
    /// Tools the model may call.
    public var tools: [ResponseTool]?
    /// How the model chooses tools.
    public var toolChoice: ToolChoice?
    /// Whether the model may ask for several tool calls at once.
    public var parallelToolCalls: Bool?
    /// The cap on generated tokens, reasoning included. Sent as `max_tokens` to providers that ask for it.
    public var maxOutputTokens: Int?
    /// The cap on built-in tool calls per response.
    public var maxToolCalls: Int?
    /// Chains to a stored response (server-side state).
    public var previousResponseID: String?
    /// A conversation id; cannot be combined with `previousResponseID`.
    public var conversation: String?
    /// Whether the provider stores the response (default true on OpenAI).
    public var store: Bool?
    /// Whether to answer as a server-sent event stream; set by the client's `stream` call.
    public var stream: Bool?
    /// Stream options, e.g. `{"include_obfuscation": false}`.
    public var streamOptions: JSONValue?
    /// Run asynchronously; poll until done.
    public var background: Bool?
    /// Sampling temperature, 0–2.
    public var temperature: Double?
    /// Nucleus sampling, 0–1.
    public var topP: Double?
    /// How many top log probabilities to return, 0–20.
    public var topLogprobs: Int?
    /// Reasoning settings.
    public var reasoning: ReasoningOptions?
    /// Text format and verbosity.
    public var text: TextOptions?
    /// `auto` or `disabled`.
    public var truncation: String?
    /// Up to 16 string pairs.
    public var metadata: [String: String]?
    /// Extra output to include, e.g. `reasoning.encrypted_content`.
    public var include: [String]?
    /// A stored prompt template.
    public var prompt: JSONValue?
    /// The service tier.
    public var serviceTier: String?
    /// A stable id for abuse detection.
    public var safetyIdentifier: String?
    /// A key for prompt caching.
    public var promptCacheKey: String?
    /// Server-side context management, e.g. `[{"type": "compaction", "compact_threshold": 200000}]`, sent as given.
    public var contextManagement: JSONValue?
    /// Any other body fields, sent as given (they override named fields of the same key).
    public var extra: [String: JSONValue]

    /// Creates a request.
    public init(
        model: String? = nil,
        input: ResponseInput? = nil,
        instructions: String? = nil,
        tools: [ResponseTool]? = nil,
        toolChoice: ToolChoice? = nil,
        parallelToolCalls: Bool? = nil,
        maxOutputTokens: Int? = nil,
        maxToolCalls: Int? = nil,
        previousResponseID: String? = nil,
        conversation: String? = nil,
        store: Bool? = nil,
        stream: Bool? = nil,
        streamOptions: JSONValue? = nil,
        background: Bool? = nil,
        temperature: Double? = nil,
        topP: Double? = nil,
        topLogprobs: Int? = nil,
        reasoning: ReasoningOptions? = nil,
        text: TextOptions? = nil,
        truncation: String? = nil,
        metadata: [String: String]? = nil,
        include: [String]? = nil,
        prompt: JSONValue? = nil,
        serviceTier: String? = nil,
        safetyIdentifier: String? = nil,
        promptCacheKey: String? = nil,
        contextManagement: JSONValue? = nil,
        extra: [String: JSONValue] = [:]
    ) {
        self.model = model
        self.input = input
        self.instructions = instructions
        self.tools = tools
        self.toolChoice = toolChoice
        self.parallelToolCalls = parallelToolCalls
        self.maxOutputTokens = maxOutputTokens
        self.maxToolCalls = maxToolCalls
        self.previousResponseID = previousResponseID
        self.conversation = conversation
        self.store = store
        self.stream = stream
        self.streamOptions = streamOptions
        self.background = background
        self.temperature = temperature
        self.topP = topP
        self.topLogprobs = topLogprobs
        self.reasoning = reasoning
        self.text = text
        self.truncation = truncation
        self.metadata = metadata
        self.include = include
        self.prompt = prompt
        self.serviceTier = serviceTier
        self.safetyIdentifier = safetyIdentifier
        self.promptCacheKey = promptCacheKey
        self.contextManagement = contextManagement
        self.extra = extra
    }

    /// The name under which the output-token cap is sent.
    public enum MaxTokensField: String, Sendable, Hashable, Codable, CaseIterable {
        /// `max_output_tokens`, as the spec names it.
        case maxOutputTokens = "max_output_tokens"
        /// `max_tokens`, as some compatible providers document it.
        case maxTokens = "max_tokens"
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, input, instructions, tools, toolChoice = "tool_choice", parallelToolCalls = "parallel_tool_calls"
        case maxOutputTokens = "max_output_tokens", maxToolCalls = "max_tool_calls", previousResponseID = "previous_response_id"
        case conversation, store, stream, streamOptions = "stream_options", background, temperature, topP = "top_p"
        case topLogprobs = "top_logprobs", reasoning, text, truncation, metadata, include, prompt, serviceTier = "service_tier"
        case safetyIdentifier = "safety_identifier", promptCacheKey = "prompt_cache_key", contextManagement = "context_management"
    }

    /// The body as JSON, with the token cap under `maxTokensField`.
    public func body(maxTokensField: MaxTokensField = .maxOutputTokens) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: encodedBody(maxTokensField: maxTokensField))
    }

    /// The body as JSON bytes, with the token cap under `maxTokensField`, in one encoding pass.
    public func encodedBody(maxTokensField: MaxTokensField = .maxOutputTokens) throws -> Data {
        try Self.bodyEncoder(maxTokensField).encode(self)
    }

    /// The body with `tools` given already encoded (`encodedTools`, the JSON array of ``tools``): a run sends the same
    /// tools every turn, and their schemas are most of the work of encoding a request.
    func encodedBody(maxTokensField: MaxTokensField, encodedTools: Data) throws -> Data {
        var rest = self
        rest.tools = nil
        let body = try Self.bodyEncoder(maxTokensField).encode(rest)
        guard body.first == UInt8(ascii: "{") else { return try encodedBody(maxTokensField: maxTokensField) }
        var joined = Data(capacity: body.count + encodedTools.count + 10)
        joined.append(contentsOf: #"{"tools":"#.utf8)
        joined.append(encodedTools)
        if body.count > 2 { joined.append(UInt8(ascii: ",")) }
        joined.append(body.dropFirst())
        return joined
    }

    /// The JSON array of `tools`, as ``encodedBody(maxTokensField:encodedTools:)`` takes it.
    static func encodedTools(_ tools: [ResponseTool]) throws -> Data {
        try bodyEncoder(.maxOutputTokens).encode(tools)
    }

    private static func bodyEncoder(_ maxTokensField: MaxTokensField) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        encoder.userInfo[maxTokensFieldKey] = maxTokensField
        return encoder
    }

    /// The encoder's `userInfo` key that names the token cap's field.
    static let maxTokensFieldKey = CodingUserInfoKey(rawValue: "errand.maxTokensField")!
}

extension CreateResponseRequest: Codable {
    /// Decodes a request body; keys this type does not name go to `extra` (`max_tokens` is read as `maxOutputTokens`).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        model = try container.decodeIfPresent(String.self, forKey: .model)
        input = try container.decodeIfPresent(ResponseInput.self, forKey: .input)
        instructions = try container.decodeIfPresent(String.self, forKey: .instructions)
        tools = try container.decodeIfPresent([ResponseTool].self, forKey: .tools)
        toolChoice = try container.decodeIfPresent(ToolChoice.self, forKey: .toolChoice)
        parallelToolCalls = try container.decodeIfPresent(Bool.self, forKey: .parallelToolCalls)
        maxOutputTokens = try container.decodeIfPresent(Int.self, forKey: .maxOutputTokens)
        maxToolCalls = try container.decodeIfPresent(Int.self, forKey: .maxToolCalls)
        previousResponseID = try container.decodeIfPresent(String.self, forKey: .previousResponseID)
        if let id = try? container.decodeIfPresent(String.self, forKey: .conversation) {
            conversation = id
        } else {
            conversation = try container.decodeIfPresent(JSONValue.self, forKey: .conversation)?["id"]?.stringValue
        }
        store = try container.decodeIfPresent(Bool.self, forKey: .store)
        stream = try container.decodeIfPresent(Bool.self, forKey: .stream)
        streamOptions = try container.decodeIfPresent(JSONValue.self, forKey: .streamOptions)
        background = try container.decodeIfPresent(Bool.self, forKey: .background)
        temperature = try container.decodeIfPresent(Double.self, forKey: .temperature)
        topP = try container.decodeIfPresent(Double.self, forKey: .topP)
        topLogprobs = try container.decodeIfPresent(Int.self, forKey: .topLogprobs)
        reasoning = try container.decodeIfPresent(ReasoningOptions.self, forKey: .reasoning)
        text = try container.decodeIfPresent(TextOptions.self, forKey: .text)
        truncation = try container.decodeIfPresent(String.self, forKey: .truncation)
        metadata = try container.decodeIfPresent([String: String].self, forKey: .metadata)
        include = try container.decodeIfPresent([String].self, forKey: .include)
        prompt = try container.decodeIfPresent(JSONValue.self, forKey: .prompt)
        serviceTier = try container.decodeIfPresent(String.self, forKey: .serviceTier)
        safetyIdentifier = try container.decodeIfPresent(String.self, forKey: .safetyIdentifier)
        promptCacheKey = try container.decodeIfPresent(String.self, forKey: .promptCacheKey)
        contextManagement = try container.decodeIfPresent(JSONValue.self, forKey: .contextManagement)
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        let all = try decoder.container(keyedBy: AnyCodingKey.self)
        var extra: [String: JSONValue] = [:]
        for key in all.allKeys where !known.contains(key.stringValue) {
            extra[key.stringValue] = try all.decode(JSONValue.self, forKey: key)
        }
        if maxOutputTokens == nil, let cap = extra.removeValue(forKey: "max_tokens")?.intValue {
            maxOutputTokens = cap
        }
        self.extra = extra
    }

    /// Encodes the fields that are set; `extra` goes last and wins.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(model, forKey: .model)
        try container.encodeIfPresent(input, forKey: .input)
        try container.encodeIfPresent(instructions, forKey: .instructions)
        try container.encodeIfPresent(tools, forKey: .tools)
        try container.encodeIfPresent(toolChoice, forKey: .toolChoice)
        try container.encodeIfPresent(parallelToolCalls, forKey: .parallelToolCalls)
        if let maxOutputTokens {
            if encoder.userInfo[Self.maxTokensFieldKey] as? MaxTokensField == .maxTokens {
                var renamed = encoder.container(keyedBy: AnyCodingKey.self)
                try renamed.encode(maxOutputTokens, forKey: AnyCodingKey("max_tokens"))
            } else {
                try container.encode(maxOutputTokens, forKey: .maxOutputTokens)
            }
        }
        try container.encodeIfPresent(maxToolCalls, forKey: .maxToolCalls)
        try container.encodeIfPresent(previousResponseID, forKey: .previousResponseID)
        try container.encodeIfPresent(conversation, forKey: .conversation)
        try container.encodeIfPresent(store, forKey: .store)
        try container.encodeIfPresent(stream, forKey: .stream)
        try container.encodeIfPresent(streamOptions, forKey: .streamOptions)
        try container.encodeIfPresent(background, forKey: .background)
        try container.encodeIfPresent(temperature, forKey: .temperature)
        try container.encodeIfPresent(topP, forKey: .topP)
        try container.encodeIfPresent(topLogprobs, forKey: .topLogprobs)
        try container.encodeIfPresent(reasoning, forKey: .reasoning)
        try container.encodeIfPresent(text, forKey: .text)
        try container.encodeIfPresent(truncation, forKey: .truncation)
        try container.encodeIfPresent(metadata, forKey: .metadata)
        try container.encodeIfPresent(include, forKey: .include)
        try container.encodeIfPresent(prompt, forKey: .prompt)
        try container.encodeIfPresent(serviceTier, forKey: .serviceTier)
        try container.encodeIfPresent(safetyIdentifier, forKey: .safetyIdentifier)
        try container.encodeIfPresent(promptCacheKey, forKey: .promptCacheKey)
        try container.encodeIfPresent(contextManagement, forKey: .contextManagement)
        if !extra.isEmpty {
            var all = encoder.container(keyedBy: AnyCodingKey.self)
            for (key, value) in extra { try all.encode(value, forKey: AnyCodingKey(key)) }
        }
    }
}
