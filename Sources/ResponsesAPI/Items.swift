import Foundation

// MARK: - Output content

/// A text part of an assistant message (`output_text`).
public struct OutputText: Codable, Sendable, Hashable {
    /// The text.
    public var text: String
    /// Citations and file references attached to the text, as sent.
    public var annotations: [JSONValue]
    /// Log probabilities, when asked for with `include`.
    public var logprobs: [JSONValue]?

    /// Creates a text part.
    public init(text: String, annotations: [JSONValue] = [], logprobs: [JSONValue]? = nil) {
        self.text = text
        self.annotations = annotations
        self.logprobs = logprobs
    }

    enum CodingKeys: String, CodingKey { case type, text, annotations, logprobs }

    /// Decodes a part; missing `annotations` (older servers) reads as none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        text = try container.decodeIfPresent(String.self, forKey: .text) ?? ""
        annotations = try container.decodeIfPresent([JSONValue].self, forKey: .annotations) ?? []
        logprobs = try container.decodeIfPresent([JSONValue].self, forKey: .logprobs)
    }

    /// Encodes the part with its `type`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("output_text", forKey: .type)
        try container.encode(text, forKey: .text)
        try container.encode(annotations, forKey: .annotations)
        try container.encodeIfPresent(logprobs, forKey: .logprobs)
    }
}

/// One part of an assistant message's content.
public enum OutputContent: Sendable, Hashable {
    /// Text (`output_text`).
    case text(OutputText)
    /// A refusal (`refusal`).
    case refusal(String)
    /// Reasoning text (`reasoning_text`), as some servers put into content parts.
    case reasoningText(String)
    /// A part of a type this library does not know, kept as sent.
    case unknown(type: String, raw: JSONValue)

    /// The text of a text part, else `nil`.
    public var text: String? {
        if case .text(let part) = self { return part.text }
        return nil
    }
}

extension OutputContent: Codable {
    enum CodingKeys: String, CodingKey { case type, text, refusal }

    /// Decodes a part by its `type`; an unknown type is kept raw.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decodeIfPresent(String.self, forKey: .type) ?? "output_text"
        switch type {
        case "output_text", "text":
            self = .text(try OutputText(from: decoder))
        case "refusal":
            self = .refusal(try container.decodeIfPresent(String.self, forKey: .refusal) ?? "")
        case "reasoning_text":
            self = .reasoningText(try container.decodeIfPresent(String.self, forKey: .text) ?? "")
        default:
            self = .unknown(type: type, raw: try JSONValue(from: decoder))
        }
    }

    /// Encodes the part as the wire shape.
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .text(let part): try part.encode(to: encoder)
        case .refusal(let refusal):
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode("refusal", forKey: .type)
            try container.encode(refusal, forKey: .refusal)
        case .reasoningText(let text):
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode("reasoning_text", forKey: .type)
            try container.encode(text, forKey: .text)
        case .unknown(_, let raw): try raw.encode(to: encoder)
        }
    }
}

// MARK: - Output items

/// An assistant message in a response's output (`message`).
public struct OutputMessage: Codable, Sendable, Hashable {
    /// The item id (`msg_…` on OpenAI; any string elsewhere).
    public var id: String?
    /// The role; `assistant` for output.
    public var role: String
    /// `in_progress`, `completed` or `incomplete`.
    public var status: String?
    /// The content parts.
    public var content: [OutputContent]
    /// `commentary` or `final_answer` on models that label their messages.
    public var phase: String?

    /// Creates an assistant message.
    public init(id: String? = nil, role: String = "assistant", status: String? = "completed", content: [OutputContent], phase: String? = nil) {
        self.id = id
        self.role = role
        self.status = status
        self.content = content
        self.phase = phase
    }

    /// The concatenated text parts.
    public var text: String { content.compactMap(\.text).joined() }

    enum CodingKeys: String, CodingKey { case type, id, role, status, content, phase }

    /// Decodes a message; `content` may be a plain string on lenient servers.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decodeIfPresent(String.self, forKey: .id)
        role = try container.decodeIfPresent(String.self, forKey: .role) ?? "assistant"
        status = try container.decodeIfPresent(String.self, forKey: .status)
        phase = try container.decodeIfPresent(String.self, forKey: .phase)
        if let text = try? container.decode(String.self, forKey: .content) {
            content = [.text(OutputText(text: text))]
        } else {
            content = try container.decodeIfPresent([OutputContent].self, forKey: .content) ?? []
        }
    }

    /// Encodes the message with its `type`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("message", forKey: .type)
        try container.encodeIfPresent(id, forKey: .id)
        try container.encode(role, forKey: .role)
        try container.encodeIfPresent(status, forKey: .status)
        try container.encode(content, forKey: .content)
        try container.encodeIfPresent(phase, forKey: .phase)
    }
}

/// A call of a function tool the model asks the client to run (`function_call`).
public struct FunctionCall: Codable, Sendable, Hashable {
    /// The item id (`fc_…` on OpenAI).
    public var id: String?
    /// The id that the matching `function_call_output` must carry.
    public var callID: String
    /// The function's name.
    public var name: String
    /// The arguments as a JSON string, as the model wrote them (not always valid JSON).
    public var arguments: String
    /// `in_progress`, `completed` or `incomplete`.
    public var status: String?

    /// Creates a function call.
    public init(id: String? = nil, callID: String, name: String, arguments: String, status: String? = "completed") {
        self.id = id
        self.callID = callID
        self.name = name
        self.arguments = arguments
        self.status = status
    }

    enum CodingKeys: String, CodingKey { case type, id, callID = "call_id", name, arguments, status }

    /// Decodes a call; arguments sent as a JSON object (off-spec) are re-encoded as a string, and a missing `call_id` falls back to `id`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decodeIfPresent(String.self, forKey: .id)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
        status = try container.decodeIfPresent(String.self, forKey: .status)
        if let text = try? container.decode(String.self, forKey: .arguments) {
            arguments = text
        } else if let value = try container.decodeIfPresent(JSONValue.self, forKey: .arguments) {
            arguments = value.jsonString
        } else {
            arguments = ""
        }
        callID = try container.decodeIfPresent(String.self, forKey: .callID) ?? id ?? ""
    }

    /// Encodes the call with its `type`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("function_call", forKey: .type)
        try container.encodeIfPresent(id, forKey: .id)
        try container.encode(callID, forKey: .callID)
        try container.encode(name, forKey: .name)
        try container.encode(arguments, forKey: .arguments)
        try container.encodeIfPresent(status, forKey: .status)
    }
}

/// The model's reasoning (`reasoning`): a summary, reasoning text on some servers, and encrypted content for stateless replay.
public struct ReasoningItem: Codable, Sendable, Hashable {
    /// The item id (`rs_…`).
    public var id: String?
    /// Summary texts (`summary_text` parts).
    public var summary: [String]
    /// Reasoning texts (`reasoning_text` parts: LM Studio, DeepSeek).
    public var content: [String]?
    /// Opaque reasoning to send back when the provider keeps no state.
    public var encryptedContent: String?
    /// The item's status.
    public var status: String?

    /// Creates a reasoning item.
    public init(id: String? = nil, summary: [String] = [], content: [String]? = nil, encryptedContent: String? = nil, status: String? = nil) {
        self.id = id
        self.summary = summary
        self.content = content
        self.encryptedContent = encryptedContent
        self.status = status
    }

    enum CodingKeys: String, CodingKey { case type, id, summary, content, encryptedContent = "encrypted_content", status }
    private struct TextPart: Codable { var type: String?; var text: String? }

    /// Decodes a reasoning item, reading only the text of its parts.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decodeIfPresent(String.self, forKey: .id)
        summary = (try container.decodeIfPresent([TextPart].self, forKey: .summary) ?? []).map { $0.text ?? "" }
        content = try container.decodeIfPresent([TextPart].self, forKey: .content)?.map { $0.text ?? "" }
        encryptedContent = try container.decodeIfPresent(String.self, forKey: .encryptedContent)
        status = try container.decodeIfPresent(String.self, forKey: .status)
    }

    /// Encodes the item in the wire shape (`summary_text` and `reasoning_text` parts).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("reasoning", forKey: .type)
        try container.encodeIfPresent(id, forKey: .id)
        try container.encode(summary.map { TextPart(type: "summary_text", text: $0) }, forKey: .summary)
        try container.encodeIfPresent(content?.map { TextPart(type: "reasoning_text", text: $0) }, forKey: .content)
        try container.encodeIfPresent(encryptedContent, forKey: .encryptedContent)
        try container.encodeIfPresent(status, forKey: .status)
    }
}

/// A call the provider ran itself (web search, file search, code interpreter, MCP, …): its type, id and status, and the whole item as sent.
public struct HostedToolCall: Sendable, Hashable {
    /// The item type, e.g. `web_search_call` or `mcp_call`.
    public var type: String
    /// The item id.
    public var id: String?
    /// The item's status, when it has one.
    public var status: String?
    /// The whole item as sent, so that it can be replayed unchanged.
    public var raw: JSONValue

    /// Reads a hosted call from its JSON.
    public init(raw: JSONValue) {
        self.raw = raw
        self.type = raw["type"]?.stringValue ?? ""
        self.id = raw["id"]?.stringValue
        self.status = raw["status"]?.stringValue
    }

    /// A member of the item, e.g. `server_label`, `name`, `arguments`, `action`.
    public subscript(key: String) -> JSONValue? { raw[key] }
}

/// One item of a response's `output`, discriminated by `type`.
public enum OutputItem: Sendable, Hashable {
    /// An assistant message. A bare `{"type":"text","text":…}` item (off-spec) is read as one.
    case message(OutputMessage)
    /// A function call for the client to run.
    case functionCall(FunctionCall)
    /// Reasoning.
    case reasoning(ReasoningItem)
    /// A tool the provider ran or asks about: `web_search_call`, `file_search_call`, `computer_call`, `code_interpreter_call`,
    /// `image_generation_call`, `local_shell_call`, `shell_call`, `mcp_call`, `mcp_list_tools`, `mcp_approval_request`, `custom_tool_call`, …
    case hostedToolCall(HostedToolCall)
    /// An item of a type this library does not know, kept as sent.
    case unknown(type: String, raw: JSONValue)

    /// The item types read as ``hostedToolCall(_:)``.
    public static let hostedToolCallTypes: Set<String> = [
        "web_search_call", "file_search_call", "computer_call", "code_interpreter_call", "image_generation_call",
        "local_shell_call", "shell_call", "shell_call_output", "apply_patch_call", "mcp_call", "mcp_list_tools",
        "mcp_approval_request", "custom_tool_call",
    ]

    /// The item's `type` on the wire.
    public var type: String {
        switch self {
        case .message: "message"
        case .functionCall: "function_call"
        case .reasoning: "reasoning"
        case .hostedToolCall(let call): call.type
        case .unknown(let type, _): type
        }
    }

    /// The item's id, when it has one.
    public var id: String? {
        switch self {
        case .message(let message): message.id
        case .functionCall(let call): call.id
        case .reasoning(let reasoning): reasoning.id
        case .hostedToolCall(let call): call.id
        case .unknown(_, let raw): raw["id"]?.stringValue
        }
    }
}

extension OutputItem: Codable {
    enum CodingKeys: String, CodingKey { case type, text }

    /// Decodes an item by its `type`; unknown types are kept raw and never throw.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decodeIfPresent(String.self, forKey: .type)
        switch type {
        case "message", nil:
            self = .message(try OutputMessage(from: decoder))
        case "text", "output_text":
            let text = try container.decodeIfPresent(String.self, forKey: .text) ?? ""
            self = .message(OutputMessage(content: [.text(OutputText(text: text))]))
        case "function_call":
            self = .functionCall(try FunctionCall(from: decoder))
        case "reasoning":
            self = .reasoning(try ReasoningItem(from: decoder))
        case let type? where Self.hostedToolCallTypes.contains(type):
            self = .hostedToolCall(HostedToolCall(raw: try JSONValue(from: decoder)))
        case let type?:
            self = .unknown(type: type, raw: try JSONValue(from: decoder))
        }
    }

    /// Encodes the item in its wire shape.
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .message(let message): try message.encode(to: encoder)
        case .functionCall(let call): try call.encode(to: encoder)
        case .reasoning(let reasoning): try reasoning.encode(to: encoder)
        case .hostedToolCall(let call): try call.raw.encode(to: encoder)
        case .unknown(_, let raw): try raw.encode(to: encoder)
        }
    }
}

// MARK: - Input items

/// A part of an input message's content.
public enum InputContent: Sendable, Hashable {
    /// Text (`input_text`).
    case text(String)
    /// An image by URL (including `data:` URLs) or file id (`input_image`).
    case image(url: String?, fileID: String? = nil, detail: String? = nil)
    /// A file by id, inline data or URL (`input_file`).
    case file(fileID: String? = nil, fileData: String? = nil, fileURL: String? = nil, filename: String? = nil)
    /// Any other part, sent as given.
    case raw(JSONValue)
}

extension InputContent: Codable {
    enum CodingKeys: String, CodingKey {
        case type, text, imageURL = "image_url", fileID = "file_id", detail, fileData = "file_data", fileURL = "file_url", filename
    }

    /// Decodes a part by its `type`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decodeIfPresent(String.self, forKey: .type) {
        case "input_text", "text", "output_text":
            self = .text(try container.decodeIfPresent(String.self, forKey: .text) ?? "")
        case "input_image":
            self = .image(
                url: try container.decodeIfPresent(String.self, forKey: .imageURL),
                fileID: try container.decodeIfPresent(String.self, forKey: .fileID),
                detail: try container.decodeIfPresent(String.self, forKey: .detail))
        case "input_file":
            self = .file(
                fileID: try container.decodeIfPresent(String.self, forKey: .fileID),
                fileData: try container.decodeIfPresent(String.self, forKey: .fileData),
                fileURL: try container.decodeIfPresent(String.self, forKey: .fileURL),
                filename: try container.decodeIfPresent(String.self, forKey: .filename))
        default:
            self = .raw(try JSONValue(from: decoder))
        }
    }

    /// Encodes the part in its wire shape.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .text(let text):
            try container.encode("input_text", forKey: .type)
            try container.encode(text, forKey: .text)
        case .image(let url, let fileID, let detail):
            try container.encode("input_image", forKey: .type)
            try container.encodeIfPresent(url, forKey: .imageURL)
            try container.encodeIfPresent(fileID, forKey: .fileID)
            try container.encode(detail ?? "auto", forKey: .detail)
        case .file(let fileID, let fileData, let fileURL, let filename):
            try container.encode("input_file", forKey: .type)
            try container.encodeIfPresent(fileID, forKey: .fileID)
            try container.encodeIfPresent(fileData, forKey: .fileData)
            try container.encodeIfPresent(fileURL, forKey: .fileURL)
            try container.encodeIfPresent(filename, forKey: .filename)
        case .raw(let raw):
            try raw.encode(to: encoder)
        }
    }
}

/// A message in the input: `{role, content}` with content as a string or a list of parts.
public struct InputMessage: Codable, Sendable, Hashable {
    /// Message content: plain text or parts.
    public enum Content: Codable, Sendable, Hashable {
        /// Plain text.
        case text(String)
        /// Content parts.
        case parts([InputContent])

        /// Decodes a string or a list of parts.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .text(text)
            } else {
                self = .parts(try container.decode([InputContent].self))
            }
        }

        /// Encodes a string or a list of parts.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .text(let text): try container.encode(text)
            case .parts(let parts): try container.encode(parts)
            }
        }
    }

    /// `user`, `assistant`, `system` or `developer`.
    public var role: String
    /// The content.
    public var content: Content

    /// Creates a message.
    public init(role: String, content: Content) {
        self.role = role
        self.content = content
    }

    /// A user message with plain text.
    public static func user(_ text: String) -> InputMessage { InputMessage(role: "user", content: .text(text)) }
    /// A developer message with plain text.
    public static func developer(_ text: String) -> InputMessage { InputMessage(role: "developer", content: .text(text)) }
    /// A system message with plain text.
    public static func system(_ text: String) -> InputMessage { InputMessage(role: "system", content: .text(text)) }
    /// An assistant message with plain text (for replaying history).
    public static func assistant(_ text: String) -> InputMessage { InputMessage(role: "assistant", content: .text(text)) }

    enum CodingKeys: String, CodingKey { case type, role, content }

    /// Decodes a message; a missing role reads as `user`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        role = try container.decodeIfPresent(String.self, forKey: .role) ?? "user"
        content = try container.decodeIfPresent(Content.self, forKey: .content) ?? .text("")
    }

    /// Encodes the message with `type: message`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("message", forKey: .type)
        try container.encode(role, forKey: .role)
        try container.encode(content, forKey: .content)
    }
}

/// The result of a function call, sent back to the model (`function_call_output`).
public struct FunctionCallOutput: Codable, Sendable, Hashable {
    /// The `call_id` of the call this answers.
    public var callID: String
    /// The output: text, or content parts.
    public var output: InputMessage.Content

    /// Creates a text output.
    public init(callID: String, output: String) {
        self.callID = callID
        self.output = .text(output)
    }

    /// Creates an output of content parts.
    public init(callID: String, parts: [InputContent]) {
        self.callID = callID
        self.output = .parts(parts)
    }

    enum CodingKeys: String, CodingKey { case type, callID = "call_id", output }

    /// Decodes an output.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        callID = try container.decode(String.self, forKey: .callID)
        output = try container.decode(InputMessage.Content.self, forKey: .output)
    }

    /// Encodes the output with its `type`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("function_call_output", forKey: .type)
        try container.encode(callID, forKey: .callID)
        try container.encode(output, forKey: .output)
    }
}

/// One item of a request's `input`.
public enum InputItem: Sendable, Hashable {
    /// A message from the user, developer, system or (replayed) assistant.
    case message(InputMessage)
    /// A function call's result.
    case functionCallOutput(FunctionCallOutput)
    /// A reference to a stored item by id (`item_reference`).
    case itemReference(id: String)
    /// An earlier output item replayed as input (assistant message, function call, reasoning, hosted calls).
    case output(OutputItem)
    /// Any other item, sent as given.
    case raw(JSONValue)

    /// A user message with plain text.
    public static func user(_ text: String) -> InputItem { .message(.user(text)) }
}

extension InputItem: Codable {
    enum CodingKeys: String, CodingKey { case type, role, id }

    /// Decodes an item by its `type` (absent for easy messages).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decodeIfPresent(String.self, forKey: .type)
        let role = try container.decodeIfPresent(String.self, forKey: .role)
        switch type {
        case nil where role != nil, "message" where role != "assistant" || !Self.hasOutputContent(decoder):
            self = .message(try InputMessage(from: decoder))
        case "function_call_output":
            self = .functionCallOutput(try FunctionCallOutput(from: decoder))
        case "item_reference":
            self = .itemReference(id: try container.decode(String.self, forKey: .id))
        case nil:
            self = .raw(try JSONValue(from: decoder))
        default:
            self = .output(try OutputItem(from: decoder))
        }
    }

    private static func hasOutputContent(_ decoder: any Decoder) -> Bool {
        guard let raw = try? JSONValue(from: decoder), let parts = raw["content"]?.arrayValue else { return false }
        return parts.contains { $0["type"]?.stringValue == "output_text" || $0["type"]?.stringValue == "refusal" }
    }

    /// Encodes the item in its wire shape.
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .message(let message): try message.encode(to: encoder)
        case .functionCallOutput(let output): try output.encode(to: encoder)
        case .itemReference(let id):
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode("item_reference", forKey: .type)
            try container.encode(id, forKey: .id)
        case .output(let item): try item.encode(to: encoder)
        case .raw(let raw): try raw.encode(to: encoder)
        }
    }
}
