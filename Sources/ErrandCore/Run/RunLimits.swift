import Foundation
import ResponsesAPI

/// The limits of a run; reaching one ends the run with its own status and everything done so far.
public struct RunLimits: Sendable, Hashable {
    /// The most model turns (default 10, as the peers).
    public var maxTurns: Int
    /// The most tool calls over the run.
    public var maxToolCalls: Int?
    /// The wall-clock limit of the whole run.
    public var timeout: Duration?
    /// The limit of one tool call, unless the tool sets its own.
    public var toolTimeout: Duration
    /// How many tool calls of one turn run at once.
    public var maxToolConcurrency: Int
    /// The longest tool output sent to the model; longer ones are cut with a note.
    public var maxToolOutputCharacters: Int
    /// The most tokens (input plus output, as the provider reports them) over the run.
    public var maxTotalTokens: Int?
    /// The most input tokens over the run.
    public var maxInputTokens: Int?
    /// The most output tokens (reasoning included) over the run.
    public var maxOutputTokens: Int?
    /// The most the run may spend, in USD, at the agent's price (``Agent/price``). A run whose model has no price
    /// cannot have one: ``Runner`` refuses it before the first call.
    public var maxCostUSD: Double?
    /// How many corrective turns an answer that does not fit the output schema gets before the run ends
    /// `invalid_output` (default 2).
    public var outputRetries: Int = 2
    /// How deep agents may call agents (as tools, or as guardrail judges): the run itself is depth 0 (default 3).
    public var maxAgentDepth: Int = 3
    /// How many times the conversation may be handed from one agent to another (default 8).
    public var maxHandoffs: Int = 8

    /// Creates limits.
    public init(
        maxTurns: Int = 10, maxToolCalls: Int? = nil, timeout: Duration? = nil, toolTimeout: Duration = .seconds(60),
        maxToolConcurrency: Int = 8, maxToolOutputCharacters: Int = 100_000, maxTotalTokens: Int? = nil, maxInputTokens: Int? = nil,
        maxOutputTokens: Int? = nil, maxCostUSD: Double? = nil
    ) {
        self.maxTotalTokens = maxTotalTokens
        self.maxInputTokens = maxInputTokens
        self.maxOutputTokens = maxOutputTokens
        self.maxCostUSD = maxCostUSD
        self.maxTurns = maxTurns
        self.maxToolCalls = maxToolCalls
        self.timeout = timeout
        self.toolTimeout = toolTimeout
        self.maxToolConcurrency = maxToolConcurrency
        self.maxToolOutputCharacters = maxToolOutputCharacters
    }
}

extension RunLimits {
    /// Whether any token or cost budget is set.
    public var hasBudget: Bool { maxTotalTokens != nil || maxInputTokens != nil || maxOutputTokens != nil || maxCostUSD != nil }
}
