import Foundation
import ResponsesAPI

/// How a run carries the conversation from turn to turn.
public enum StateMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// Chain with `previous_response_id`; if the provider refuses the chain, replay the history once and stay stateless.
    case auto
    /// Always chain with `previous_response_id`.
    case stateful
    /// Replay the whole history every turn (with `store: false`, reasoning travels as `encrypted_content`).
    case stateless
}

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

    /// Creates limits.
    public init(
        maxTurns: Int = 10, maxToolCalls: Int? = nil, timeout: Duration? = nil, toolTimeout: Duration = .seconds(60),
        maxToolConcurrency: Int = 8, maxToolOutputCharacters: Int = 100_000
    ) {
        self.maxTurns = maxTurns
        self.maxToolCalls = maxToolCalls
        self.timeout = timeout
        self.toolTimeout = toolTimeout
        self.maxToolConcurrency = maxToolConcurrency
        self.maxToolOutputCharacters = maxToolOutputCharacters
    }
}

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
    }
}

/// One tool call of a run and how it ended.
public struct ToolCallRecord: Sendable, Hashable, Codable {
    /// The turn that asked for it.
    public var turn: Int
    /// The call's `call_id`.
    public var callID: String
    /// The tool's name.
    public var name: String
    /// The arguments as the model wrote them.
    public var arguments: String
    /// The output sent back to the model (the error message, for a failed call).
    public var output: String
    /// Whether the call failed (bad arguments, unknown tool, error, timeout).
    public var isError: Bool
    /// How long it took, in seconds.
    public var duration: Double
    /// Notes the tool kept for the journal (e.g. a command's stderr), not sent to the model.
    public var notes: [String]?

    /// Creates a record.
    public init(turn: Int, callID: String, name: String, arguments: String, output: String, isError: Bool, duration: Double, notes: [String]? = nil) {
        self.turn = turn
        self.callID = callID
        self.name = name
        self.arguments = arguments
        self.output = output
        self.isError = isError
        self.duration = duration
        self.notes = notes
    }

    enum CodingKeys: String, CodingKey {
        case turn, callID = "call_id", name, arguments, output, ok, isError = "is_error", duration = "duration_seconds", notes
    }

    /// Decodes a record; `ok` (or, in journals written before it, `is_error`) says whether the call succeeded.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        turn = try container.decodeIfPresent(Int.self, forKey: .turn) ?? 0
        callID = try container.decode(String.self, forKey: .callID)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
        arguments = try container.decodeIfPresent(String.self, forKey: .arguments) ?? ""
        output = try container.decodeIfPresent(String.self, forKey: .output) ?? ""
        if let ok = try container.decodeIfPresent(Bool.self, forKey: .ok) {
            isError = !ok
        } else {
            isError = try container.decodeIfPresent(Bool.self, forKey: .isError) ?? false
        }
        duration = try container.decodeIfPresent(Double.self, forKey: .duration) ?? 0
        notes = try container.decodeIfPresent([String].self, forKey: .notes)
    }

    /// The one shape of a tool-call record, in journals, `--json` and `--events` alike: `turn`, `call_id`, `name`,
    /// `arguments`, `output`, `ok`, `duration_seconds` (to the millisecond) and `notes` when there are any.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(turn, forKey: .turn)
        try container.encode(callID, forKey: .callID)
        try container.encode(name, forKey: .name)
        try container.encode(arguments, forKey: .arguments)
        try container.encode(output, forKey: .output)
        try container.encode(!isError, forKey: .ok)
        try container.encode((duration * 1000).rounded() / 1000, forKey: .duration)
        try container.encodeIfPresent(notes, forKey: .notes)
    }
}

/// How a run ended and everything it did.
public struct RunResult: Sendable, Hashable {
    /// How a run ended.
    public enum Status: String, Sendable, Hashable, Codable {
        /// The model answered without asking for tools.
        case completed
        /// The turn limit was reached.
        case maxTurns = "max_turns"
        /// The tool call limit was reached.
        case maxToolCalls = "max_tool_calls"
        /// The run's time limit passed.
        case timedOut = "timed_out"
        /// The run was cancelled.
        case cancelled
        /// The provider failed (see `error`).
        case failed

        /// Whether a resume goes on with a run that ended so: one stopped early (cancelled, out of time, a failed
        /// call that may have been transient) is taken up again; one that completed or hit a turn or call limit is not.
        public var canResume: Bool { self == .cancelled || self == .timedOut || self == .failed }
    }

    /// The run's id.
    public var runID: String
    /// How the run ended.
    public var status: Status
    /// The final answer's text (empty unless completed).
    public var finalText: String
    /// Every output item of every turn, in order.
    public var items: [OutputItem]
    /// Every tool call with its outcome.
    public var toolCalls: [ToolCallRecord]
    /// Token usage summed over the turns.
    public var usage: Usage
    /// The last response's id.
    public var lastResponseID: String?
    /// How many model turns ran.
    public var turns: Int
    /// Why the run did not complete, for people.
    public var error: String?
    /// Why the final answer is incomplete (`max_output_tokens`, `content_filter`), when it is.
    public var incompleteReason: String?
    /// The journal file, when the run kept one.
    public var journal: URL?
}

/// What happens during a run, as it happens.
public enum RunEvent: Sendable {
    /// The run started.
    case runStarted(runID: String, agent: String)
    /// A model turn started.
    case turnStarted(turn: Int, stateless: Bool)
    /// Streamed answer text.
    case textDelta(String)
    /// A tool call is about to run.
    case toolCallStarted(turn: Int, callID: String, name: String, arguments: String)
    /// A tool call finished, with its output or error.
    case toolCallFinished(ToolCallRecord)
    /// A model turn finished.
    case turnFinished(turn: Int, responseID: String, usage: Usage?)
    /// The provider ran one of its own tools (`web_search_call`, `mcp_call`, `mcp_list_tools`, …).
    case hostedToolCall(turn: Int, call: HostedToolCall)
    /// A hosted MCP server asked for approval (`mcp_approval_request`), and the answer sent back.
    case hostedApproval(turn: Int, request: HostedToolCall, approved: Bool)
    /// The provider refused `previous_response_id`; the run replays the history from now on.
    case stateFallback(reason: String)
    /// The run finished.
    case runFinished(RunResult)
}
