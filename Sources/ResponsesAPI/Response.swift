import Foundation

/// A response's status. Open: a status this library does not know is kept as its string.
public struct ResponseStatus: RawRepresentable, Codable, Sendable, Hashable, CustomStringConvertible {
    /// The status as sent.
    public var rawValue: String
    /// Creates a status from its string.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The model finished.
    public static let completed = ResponseStatus(rawValue: "completed")
    /// The model failed; see `Response.error`.
    public static let failed = ResponseStatus(rawValue: "failed")
    /// Generation is under way.
    public static let inProgress = ResponseStatus(rawValue: "in_progress")
    /// Cancelled (background responses).
    public static let cancelled = ResponseStatus(rawValue: "cancelled")
    /// Waiting to start (background responses).
    public static let queued = ResponseStatus(rawValue: "queued")
    /// Stopped early; see `Response.incompleteDetails`.
    public static let incomplete = ResponseStatus(rawValue: "incomplete")

    /// Whether no further change will happen: not `queued` and not `in_progress`.
    public var isTerminal: Bool { self != .queued && self != .inProgress }
    /// The status string.
    public var description: String { rawValue }

    /// Decodes the status string.
    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    /// Encodes the status string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// The error of a failed response (`response.error`): `code` is an open string (e.g. `insufficient_quota`).
public struct ResponseFailure: Codable, Sendable, Hashable {
    /// The error code.
    public var code: String?
    /// What went wrong.
    public var message: String

    /// Creates a failure.
    public init(code: String?, message: String) {
        self.code = code
        self.message = message
    }

    enum CodingKeys: String, CodingKey { case code, message }

    /// Decodes a failure; a missing message reads as empty.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        code = try? container.decodeIfPresent(String.self, forKey: .code)
        message = try container.decodeIfPresent(String.self, forKey: .message) ?? ""
    }
}

/// Why a response stopped early.
public struct IncompleteDetails: Codable, Sendable, Hashable {
    /// `max_output_tokens` or `content_filter`.
    public var reason: String?

    /// Creates details.
    public init(reason: String?) { self.reason = reason }
}

/// Token counts for one response. Also reads Chat Completions' names (`prompt_tokens`, `completion_tokens`) from lenient servers.
public struct Usage: Codable, Sendable, Hashable {
    /// Input tokens.
    public var inputTokens: Int
    /// Output tokens, reasoning included.
    public var outputTokens: Int
    /// Input plus output.
    public var totalTokens: Int
    /// Input tokens served from the prompt cache.
    public var cachedTokens: Int
    /// Output tokens spent on reasoning.
    public var reasoningTokens: Int

    /// Creates counts; `totalTokens` defaults to input plus output.
    public init(inputTokens: Int = 0, outputTokens: Int = 0, totalTokens: Int? = nil, cachedTokens: Int = 0, reasoningTokens: Int = 0) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.totalTokens = totalTokens ?? inputTokens + outputTokens
        self.cachedTokens = cachedTokens
        self.reasoningTokens = reasoningTokens
    }

    /// The sum of two counts, field by field.
    public static func + (lhs: Usage, rhs: Usage) -> Usage {
        Usage(
            inputTokens: lhs.inputTokens + rhs.inputTokens, outputTokens: lhs.outputTokens + rhs.outputTokens,
            totalTokens: lhs.totalTokens + rhs.totalTokens, cachedTokens: lhs.cachedTokens + rhs.cachedTokens,
            reasoningTokens: lhs.reasoningTokens + rhs.reasoningTokens)
    }

    enum CodingKeys: String, CodingKey {
        case inputTokens = "input_tokens", outputTokens = "output_tokens", totalTokens = "total_tokens"
        case inputTokensDetails = "input_tokens_details", outputTokensDetails = "output_tokens_details"
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens"
    }

    private struct InputDetails: Codable { var cached_tokens: Int? }
    private struct OutputDetails: Codable { var reasoning_tokens: Int? }

    /// Decodes counts; any missing count is zero.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        inputTokens = try container.decodeIfPresent(Int.self, forKey: .inputTokens)
            ?? container.decodeIfPresent(Int.self, forKey: .promptTokens) ?? 0
        outputTokens = try container.decodeIfPresent(Int.self, forKey: .outputTokens)
            ?? container.decodeIfPresent(Int.self, forKey: .completionTokens) ?? 0
        totalTokens = try container.decodeIfPresent(Int.self, forKey: .totalTokens) ?? inputTokens + outputTokens
        cachedTokens = (try? container.decodeIfPresent(InputDetails.self, forKey: .inputTokensDetails))??.cached_tokens ?? 0
        reasoningTokens = (try? container.decodeIfPresent(OutputDetails.self, forKey: .outputTokensDetails))??.reasoning_tokens ?? 0
    }

    /// Encodes counts in the Responses API shape.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(inputTokens, forKey: .inputTokens)
        try container.encode(InputDetails(cached_tokens: cachedTokens), forKey: .inputTokensDetails)
        try container.encode(outputTokens, forKey: .outputTokens)
        try container.encode(OutputDetails(reasoning_tokens: reasoningTokens), forKey: .outputTokensDetails)
        try container.encode(totalTokens, forKey: .totalTokens)
    }
}

extension CodingUserInfoKey {
    /// Whether decoded responses keep what the server echoes of the request (`instructions`, and the fields outside
    /// the response's own that go to ``Response/extra``); `true` unless set to `false`. The run loop does without them.
    public static let responseEchoes = CodingUserInfoKey(rawValue: "errand.responseEchoes")!
}

/// A response (`object: "response"`). Decoding is lenient: `created` or `created_at`, any id, unknown fields kept in `extra`.
public struct Response: Sendable, Hashable {
    /// The response id (`resp_…` on OpenAI; a UUID or anything else elsewhere).
    public var id: String
    /// Unix time of creation (`created_at`, or `created` on some providers).
    public var createdAt: Double?
    /// Unix time of completion.
    public var completedAt: Double?
    /// The status; `completed` when a server sends none.
    public var status: ResponseStatus
    /// The error of a failed response.
    public var error: ResponseFailure?
    /// Why the response is incomplete.
    public var incompleteDetails: IncompleteDetails?
    /// The output items.
    public var output: [OutputItem]
    /// The model that answered.
    public var model: String?
    /// The instructions as echoed (a string or items).
    public var instructions: JSONValue?
    /// The chained previous response.
    public var previousResponseID: String?
    /// Whether the provider stored the response.
    public var store: Bool?
    /// Whether this is a background response.
    public var background: Bool?
    /// Token usage, when reported.
    public var usage: Usage?
    /// Metadata as echoed.
    public var metadata: [String: String]?
    /// The conversation id, when the response belongs to one.
    public var conversationID: String?
    /// Every other field as sent (`tools`, `temperature`, `billing`, `timings`, …).
    public var extra: [String: JSONValue]

    /// Creates a response.
    public init(
        id: String, createdAt: Double? = nil, completedAt: Double? = nil, status: ResponseStatus = .completed,
        error: ResponseFailure? = nil, incompleteDetails: IncompleteDetails? = nil, output: [OutputItem] = [],
        model: String? = nil, instructions: JSONValue? = nil, previousResponseID: String? = nil, store: Bool? = nil,
        background: Bool? = nil, usage: Usage? = nil, metadata: [String: String]? = nil, conversationID: String? = nil,
        extra: [String: JSONValue] = [:]
    ) {
        self.id = id
        self.createdAt = createdAt
        self.completedAt = completedAt
        self.status = status
        self.error = error
        self.incompleteDetails = incompleteDetails
        self.output = output
        self.model = model
        self.instructions = instructions
        self.previousResponseID = previousResponseID
        self.store = store
        self.background = background
        self.usage = usage
        self.metadata = metadata
        self.conversationID = conversationID
        self.extra = extra
    }

    /// The concatenated `output_text` parts of the assistant messages, as the official SDKs compute `output_text`.
    public var outputText: String {
        var text = ""
        for case .message(let message) in output where message.role == "assistant" {
            for case .text(let part) in message.content { text += part.text }
        }
        return text
    }

    /// The function calls the model asks the client to run, in output order.
    public var functionCalls: [FunctionCall] {
        output.compactMap { if case .functionCall(let call) = $0 { call } else { nil } }
    }

    /// The refusal text, if the model refused.
    public var refusal: String? {
        for case .message(let message) in output {
            for case .refusal(let refusal) in message.content { return refusal }
        }
        return nil
    }
}

extension Response: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, object, createdAt = "created_at", created, completedAt = "completed_at", status, error
        case incompleteDetails = "incomplete_details", output, model, instructions, previousResponseID = "previous_response_id"
        case store, background, usage, metadata, conversation
    }

    private static let knownKeys = Set(CodingKeys.allCases.map(\.rawValue))

    /// Decodes a response leniently; fields of unexpected types are dropped rather than failing the whole response.
    /// With ``Foundation/CodingUserInfoKey/responseEchoes`` set to `false` in the decoder's user info, what the server
    /// echoes of the request (`instructions`, and the fields that would go to `extra`) is skipped.
    public init(from decoder: any Decoder) throws {
        try self.init(from: decoder, keepingEchoes: decoder.userInfo[.responseEchoes] as? Bool ?? true)
    }

    /// Decodes a response, with or without what the server echoes of the request: `tools`, `instructions`,
    /// `temperature`, `text` and the like are most of a response's bytes, and most of the cost of decoding it.
    init(from decoder: any Decoder, keepingEchoes: Bool) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = (try? container.decodeIfPresent(String.self, forKey: .id)) ?? ""
        createdAt = (try? container.decodeIfPresent(Double.self, forKey: .createdAt)) ?? (try? container.decodeIfPresent(Double.self, forKey: .created)) ?? nil
        completedAt = try? container.decodeIfPresent(Double.self, forKey: .completedAt)
        status = (try? container.decodeIfPresent(ResponseStatus.self, forKey: .status)) ?? .completed
        error = try? container.decodeIfPresent(ResponseFailure.self, forKey: .error)
        incompleteDetails = try? container.decodeIfPresent(IncompleteDetails.self, forKey: .incompleteDetails)
        output = try container.decodeIfPresent([OutputItem].self, forKey: .output) ?? []
        model = try? container.decodeIfPresent(String.self, forKey: .model)
        instructions = keepingEchoes ? try container.decodeIfPresent(JSONValue.self, forKey: .instructions) : nil
        previousResponseID = try? container.decodeIfPresent(String.self, forKey: .previousResponseID)
        store = try? container.decodeIfPresent(Bool.self, forKey: .store)
        background = try? container.decodeIfPresent(Bool.self, forKey: .background)
        usage = try? container.decodeIfPresent(Usage.self, forKey: .usage)
        metadata = try? container.decodeIfPresent([String: String].self, forKey: .metadata)
        let conversation = try container.decodeIfPresent(JSONValue.self, forKey: .conversation)
        conversationID = conversation?.stringValue ?? conversation?["id"]?.stringValue
        var extra: [String: JSONValue] = [:]
        if keepingEchoes {
            let all = try decoder.container(keyedBy: AnyCodingKey.self)
            for key in all.allKeys where !Self.knownKeys.contains(key.stringValue) {
                extra[key.stringValue] = try all.decode(JSONValue.self, forKey: key)
            }
        }
        self.extra = extra
    }

    /// Encodes the response in the spec's shape (`created_at`).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode("response", forKey: .object)
        try container.encodeIfPresent(createdAt, forKey: .createdAt)
        try container.encodeIfPresent(completedAt, forKey: .completedAt)
        try container.encode(status, forKey: .status)
        if let error { try container.encode(error, forKey: .error) } else { try container.encodeNil(forKey: .error) }
        if let incompleteDetails {
            try container.encode(incompleteDetails, forKey: .incompleteDetails)
        } else {
            try container.encodeNil(forKey: .incompleteDetails)
        }
        try container.encode(output, forKey: .output)
        try container.encodeIfPresent(model, forKey: .model)
        try container.encodeIfPresent(instructions, forKey: .instructions)
        try container.encodeIfPresent(previousResponseID, forKey: .previousResponseID)
        try container.encodeIfPresent(store, forKey: .store)
        try container.encodeIfPresent(background, forKey: .background)
        if let usage { try container.encode(usage, forKey: .usage) } else { try container.encodeNil(forKey: .usage) }
        try container.encodeIfPresent(metadata, forKey: .metadata)
        if let conversationID { try container.encode(["id": conversationID], forKey: .conversation) }
        if !extra.isEmpty {
            var all = encoder.container(keyedBy: AnyCodingKey.self)
            for (key, value) in extra { try all.encode(value, forKey: AnyCodingKey(key)) }
        }
    }
}

/// A page of a response's input items (`GET /responses/{id}/input_items`).
public struct InputItemList: Codable, Sendable, Hashable {
    /// The items.
    public var data: [JSONValue]
    /// The first item's id.
    public var firstID: String?
    /// The last item's id.
    public var lastID: String?
    /// Whether more pages follow.
    public var hasMore: Bool

    enum CodingKeys: String, CodingKey { case data, firstID = "first_id", lastID = "last_id", hasMore = "has_more" }

    /// Decodes a page.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        data = try container.decodeIfPresent([JSONValue].self, forKey: .data) ?? []
        firstID = try container.decodeIfPresent(String.self, forKey: .firstID)
        lastID = try container.decodeIfPresent(String.self, forKey: .lastID)
        hasMore = try container.decodeIfPresent(Bool.self, forKey: .hasMore) ?? false
    }
}
