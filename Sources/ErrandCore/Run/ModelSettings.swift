import Foundation
import ResponsesAPI

/// Model settings sent every turn, each under the name the API gives it.
public struct ModelSettings: Sendable, Hashable {
    /// Sampling temperature.
    public var temperature: Double?
    /// Nucleus sampling.
    public var topP: Double?
    /// The cap on output tokens per turn.
    public var maxOutputTokens: Int?
    /// Reasoning settings.
    public var reasoning: ReasoningOptions?
    /// Text format (structured output) and verbosity.
    public var text: TextOptions?
    /// Whether the provider stores responses; `false` makes a stateless run ask for encrypted reasoning.
    public var store: Bool?
    /// Metadata sent with every request.
    public var metadata: [String: String]?
    /// Extra output to include.
    public var include: [String]?
    /// Whether each turn runs in background mode (`background: true`): polled, or streamed and resumed when the
    /// stream breaks; cancelled on the server when the run stops early.
    public var background: Bool?
    /// A key that groups requests for prompt caching (`prompt_cache_key`).
    public var promptCacheKey: String?
    /// A stable, hashed id of the end user, for the provider's abuse detection (`safety_identifier`).
    public var safetyIdentifier: String?
    /// The processing tier (`service_tier`): `auto`, `default`, `flex`, `priority`, …
    public var serviceTier: String?
    /// What the provider does when the context overflows (`truncation`): `auto` or `disabled`.
    public var truncation: String?
    /// The cap on the provider's own (hosted) tool calls per response (`max_tool_calls`); local tool calls are capped by
    /// ``RunLimits/maxToolCalls``.
    public var maxToolCalls: Int?
    /// How many most likely tokens to return with their log probabilities (`top_logprobs`, 0–20).
    public var topLogprobs: Int?
    /// Server-side context management (`context_management`), sent as given.
    public var contextManagement: JSONValue?
    /// Any other request fields, merged into the body last: a top-level key here replaces the one Errand would send.
    public var extra: [String: JSONValue]

    /// Creates settings.
    public init(
        temperature: Double? = nil, topP: Double? = nil, maxOutputTokens: Int? = nil, reasoning: ReasoningOptions? = nil,
        text: TextOptions? = nil, store: Bool? = nil, metadata: [String: String]? = nil, include: [String]? = nil,
        background: Bool? = nil, promptCacheKey: String? = nil, safetyIdentifier: String? = nil, serviceTier: String? = nil,
        truncation: String? = nil, maxToolCalls: Int? = nil, topLogprobs: Int? = nil, contextManagement: JSONValue? = nil,
        extra: [String: JSONValue] = [:]
    ) {
        self.temperature = temperature
        self.topP = topP
        self.maxOutputTokens = maxOutputTokens
        self.reasoning = reasoning
        self.text = text
        self.store = store
        self.metadata = metadata
        self.include = include
        self.background = background
        self.promptCacheKey = promptCacheKey
        self.safetyIdentifier = safetyIdentifier
        self.serviceTier = serviceTier
        self.truncation = truncation
        self.maxToolCalls = maxToolCalls
        self.topLogprobs = topLogprobs
        self.contextManagement = contextManagement
        self.extra = extra
    }

    /// A request carrying these settings (every other field unset).
    public var request: CreateResponseRequest {
        CreateResponseRequest(
            maxOutputTokens: maxOutputTokens, maxToolCalls: maxToolCalls, store: store, background: background, temperature: temperature,
            topP: topP, topLogprobs: topLogprobs, reasoning: reasoning, text: text, truncation: truncation, metadata: metadata,
            include: include, serviceTier: serviceTier, safetyIdentifier: safetyIdentifier, promptCacheKey: promptCacheKey,
            contextManagement: contextManagement, extra: extra)
    }
}
