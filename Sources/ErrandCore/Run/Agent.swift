import Foundation
import ResponsesAPI

/// What a run needs besides the client: the model, its instructions, its tools and how to run them.
public struct Agent: Sendable {
    /// A name for logs and journals.
    public var name: String
    /// The model id.
    public var model: String
    /// Instructions, re-sent every turn (they are not inherited through `previous_response_id`).
    public var instructions: String?
    /// The tools the model may call.
    public var tools: ToolRegistry
    /// How the model must choose tools on the first turn.
    public var toolChoice: ToolChoice?
    /// Whether the model may ask for several calls at once.
    public var parallelToolCalls: Bool?
    /// Whether a forcing `tool_choice` (`required`, a named function) becomes `auto` after the first tool turn.
    public var resetToolChoiceAfterToolUse: Bool
    /// Settings sent every turn.
    public var settings: ModelSettings
    /// The run's limits.
    public var limits: RunLimits
    /// How state is carried between turns.
    public var state: StateMode
    /// Whether turns stream (text deltas as events) or use one JSON call each.
    public var streaming: Bool
    /// The folder tools work in.
    public var workspace: Workspace?
    /// Tools the provider runs itself (`{"type": "web_search"}`, a hosted `{"type": "mcp", …}`), sent in `tools` as given
    /// after the function tools. Their output items are shown and journaled, never run here.
    public var hostedTools: [JSONValue]
    /// Answers a hosted MCP server's `mcp_approval_request` (true: approve). Without one, every request is refused.
    public var approveHostedCall: (@Sendable (HostedToolCall) async -> Bool)?
    /// What the model costs, for the run's cost and its cost budget: the built-in table's price for ``model`` unless
    /// set (nil: unknown, so no cost budget).
    public var price: ModelPrice?
    /// How the run keeps within the model's context window (compaction).
    public var context = ContextPolicy()
    /// What the agent is for: the description of its tool when used as one, and of its handoff.
    public var description: String?
    /// The agents this one may hand the conversation to (`transfer_to_<name>` tools).
    public var handoffs: [Handoff] = []
    /// The shape the final answer must have; the parsed answer is ``RunResult/output``.
    public var outputSchema: OutputSchema?
    /// Checks on the task and the final answer.
    public var guardrails = Guardrails()
    /// How the run's journal is written (durability, tool output kept, secrets redacted). The provider's API key is
    /// always among the redacted secrets.
    public var journalPolicy = JournalPolicy()

    /// Creates an agent.
    public init(
        name: String = "agent", model: String, instructions: String? = nil, tools: ToolRegistry = ToolRegistry(),
        toolChoice: ToolChoice? = nil, parallelToolCalls: Bool? = nil, resetToolChoiceAfterToolUse: Bool = true,
        settings: ModelSettings = ModelSettings(), limits: RunLimits = RunLimits(), state: StateMode = .auto, streaming: Bool = true,
        workspace: Workspace? = nil, hostedTools: [JSONValue] = [], approveHostedCall: (@Sendable (HostedToolCall) async -> Bool)? = nil
    ) {
        self.name = name
        self.model = model
        self.instructions = instructions
        self.tools = tools
        self.toolChoice = toolChoice
        self.parallelToolCalls = parallelToolCalls
        self.resetToolChoiceAfterToolUse = resetToolChoiceAfterToolUse
        self.settings = settings
        self.limits = limits
        self.state = state
        self.streaming = streaming
        self.workspace = workspace
        self.hostedTools = hostedTools
        self.approveHostedCall = approveHostedCall
        self.price = ModelCatalog.builtIn.price(for: model)
    }

    /// The context window the run works with: the policy's, else the built-in table's for the model.
    public var contextWindow: Int? { context.window ?? ModelCatalog.builtIn.contextWindow(for: model) }

    /// Every tool the model sees, as sent: the function tools, the handoffs, then the hosted tools.
    public var toolDefinitions: [ResponseTool] {
        tools.definitions + handoffs.map(\.definition) + hostedTools.map(ResponseTool.hosted)
    }

    /// Refuses a cost budget for a model with no price, before anything runs.
    public func checkBudget() throws(CoreError) {
        if let limit = limits.maxCostUSD, price == nil {
            throw CoreError(.pricing, ModelCatalog.noPrice(for: model, budget: "a cost budget (\(USD.format(limit)))"))
        }
    }
}
