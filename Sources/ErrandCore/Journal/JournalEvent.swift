import Foundation
import ResponsesAPI

/// One step of a run, as its journal records it. The journal is the run: ``RunState/apply(_:)`` folds these events into
/// the run's state, live and on resume alike.
///
/// On the wire each event is one JSON object with a `type` discriminator, the run's id and the time, and its fields
/// (`snake_case`). Journals written before these types existed still decode (`tool_call` is read as `tool_finished`).
public enum JournalEvent: Sendable, Hashable {
    /// The run began: the agent as it was (model, instructions, tools), the input and how it chooses tools.
    case runStarted(RunStarted)
    /// A request went to the model.
    case requestSent(RequestSent)
    /// The server named the background response working on the turn in flight.
    case backgroundResponse(BackgroundResponse)
    /// The model's response arrived.
    case responseReceived(ResponseReceived)
    /// A tool call is about to run.
    case toolStarted(ToolStarted)
    /// A tool call ended (or was found interrupted by a crash), with its output.
    case toolFinished(ToolCallRecord)
    /// The provider ran one of its own tools.
    case hostedCall(HostedCall)
    /// A hosted MCP server's approval request was answered.
    case approval(Approval)
    /// The provider refused `previous_response_id`; the turn is sent again with the history replayed.
    case stateFallback(StateFallback)
    /// A model connection was opened (WebSocket mode: the run's first, or one replacing a connection that closed),
    /// or the run settled on HTTP; and how the next request carries the conversation on it.
    case connection(Connection)
    /// The conversation was compacted to fit the context window: on the server (an item in a response, or
    /// `POST /responses/compact`) or here (old tool outputs dropped, a summary).
    case compaction(Compaction)
    /// A finished run was continued with more input (`errand run --continue`).
    case inputAdded(InputAdded)
    /// The final answer did not fit the output schema: the next turn carries the problems and asks again.
    case outputRejected(OutputRejected)
    /// An input or output guardrail gave its verdict (or could not run).
    case guardrail(GuardrailChecked)
    /// The conversation was handed to another agent, which answers from the next turn on.
    case handoff(Handoff)
    /// The model call failed.
    case failure(RunFailure)
    /// The run was resumed from its journal.
    case runResumed(RunResumed)
    /// The run ended.
    case runFinished(RunFinished)

    /// The `type` on the wire.
    public var type: String {
        switch self {
        case .runStarted: "run_started"
        case .requestSent: "request"
        case .backgroundResponse: "background_response"
        case .responseReceived: "response"
        case .toolStarted: "tool_started"
        case .toolFinished: "tool_finished"
        case .hostedCall: "hosted_tool_call"
        case .approval: "approval"
        case .stateFallback: "state_fallback"
        case .connection: "connection"
        case .compaction: "compaction"
        case .inputAdded: "input_added"
        case .outputRejected: "output_rejected"
        case .guardrail: "guardrail"
        case .handoff: "handoff"
        case .failure: "error"
        case .runResumed: "run_resumed"
        case .runFinished: "run_finished"
        }
    }

    /// The turn the event belongs to, when it has one.
    public var turn: Int? {
        switch self {
        case .requestSent(let e): e.turn
        case .backgroundResponse(let e): e.turn
        case .responseReceived(let e): e.turn
        case .toolStarted(let e): e.turn
        case .toolFinished(let e): e.turn
        case .hostedCall(let e): e.turn
        case .approval(let e): e.turn
        case .stateFallback(let e): e.turn
        case .connection(let e): e.turn
        case .compaction(let e): e.turn
        case .failure(let e): e.turn
        case .runResumed(let e): e.turn
        case .runFinished(let e): e.turns
        case .outputRejected(let e): e.turn
        case .guardrail(let e): e.turn
        case .handoff(let e): e.turn
        case .runStarted, .inputAdded: nil
        }
    }

    // MARK: Payloads

    /// `run_started`.
    public struct RunStarted: Codable, Sendable, Hashable {
        /// The agent's name.
        public var agent: String
        /// The model id.
        public var model: String
        /// The state mode asked for: `auto`, `stateful` or `stateless`.
        public var mode: StateMode
        /// The instructions, re-sent every turn.
        public var instructions: String?
        /// The tools as the model saw them (function and hosted).
        public var tools: [ResponseTool]?
        /// The input items.
        public var input: [InputItem]
        /// The first turn's `tool_choice`.
        public var toolChoice: ToolChoice?
        /// Whether a forcing `tool_choice` becomes `auto` after the first tool turn.
        public var resetToolChoice: Bool?
        /// A digest of the model, instructions and tools, to tell whether a resumed run has the same agent.
        public var fingerprint: String?
        /// The run that started this one (an agent used as a tool, or a guardrail's judge), when there is one.
        public var parentRunID: String?
        /// The parent's call (its unique `call_id`) or check this run answers.
        public var parentCallID: String?

        /// Creates the payload.
        public init(
            agent: String, model: String, mode: StateMode, instructions: String?, tools: [ResponseTool]?, input: [InputItem],
            toolChoice: ToolChoice?, resetToolChoice: Bool?, fingerprint: String?, parentRunID: String? = nil, parentCallID: String? = nil
        ) {
            self.parentRunID = parentRunID
            self.parentCallID = parentCallID
            self.agent = agent
            self.model = model
            self.mode = mode
            self.instructions = instructions
            self.tools = tools
            self.input = input
            self.toolChoice = toolChoice
            self.resetToolChoice = resetToolChoice
            self.fingerprint = fingerprint
        }

        enum CodingKeys: String, CodingKey {
            case agent, model, mode, instructions, tools, input, toolChoice = "tool_choice", resetToolChoice = "reset_tool_choice"
            case fingerprint, parentRunID = "parent_run_id", parentCallID = "parent_call_id"
        }

        /// Decodes the payload, tolerating journals written before it had every field.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            agent = try container.decodeIfPresent(String.self, forKey: .agent) ?? "agent"
            model = try container.decodeIfPresent(String.self, forKey: .model) ?? ""
            mode = (try? container.decodeIfPresent(StateMode.self, forKey: .mode)) ?? .auto
            instructions = try container.decodeIfPresent(String.self, forKey: .instructions)
            tools = try container.decodeIfPresent([ResponseTool].self, forKey: .tools)
            input = try container.decodeIfPresent([InputItem].self, forKey: .input) ?? []
            toolChoice = try container.decodeIfPresent(ToolChoice.self, forKey: .toolChoice)
            resetToolChoice = try container.decodeIfPresent(Bool.self, forKey: .resetToolChoice)
            fingerprint = try container.decodeIfPresent(String.self, forKey: .fingerprint)
            parentRunID = try container.decodeIfPresent(String.self, forKey: .parentRunID)
            parentCallID = try container.decodeIfPresent(String.self, forKey: .parentCallID)
        }
    }

    /// `request`: what changes from turn to turn (the instructions and tools are in `run_started`).
    public struct RequestSent: Codable, Sendable, Hashable {
        /// The turn.
        public var turn: Int
        /// Whether the history was replayed (`stateless`) or the turn chained with `previous_response_id`.
        public var stateless: Bool
        /// The response the request chained to.
        public var previousResponseID: String?
        /// The input of a chained request (a replayed one sends the whole history, which the journal already has).
        public var input: [InputItem]?
        /// The body without its input, instructions and tools.
        public var request: CreateResponseRequest?
        /// Whether this one request replayed the history (on a new WebSocket connection that does not hold the last
        /// response) in a run that otherwise chains: its input is the history, which the journal already has.
        public var replayed: Bool

        /// Creates the payload.
        public init(
            turn: Int, stateless: Bool, previousResponseID: String?, input: [InputItem]?, request: CreateResponseRequest?, replayed: Bool = false
        ) {
            self.replayed = replayed
            self.turn = turn
            self.stateless = stateless
            self.previousResponseID = previousResponseID
            self.input = input
            self.request = request
        }

        enum CodingKeys: String, CodingKey { case turn, mode, previousResponseID = "previous_response_id", input, request, replayed }

        /// Decodes the payload, tolerating journals written before it had every field.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            turn = try container.decodeIfPresent(Int.self, forKey: .turn) ?? 1
            stateless = try container.decodeIfPresent(String.self, forKey: .mode) == "stateless"
            previousResponseID = try container.decodeIfPresent(String.self, forKey: .previousResponseID)
            input = try container.decodeIfPresent([InputItem].self, forKey: .input)
            request = try container.decodeIfPresent(CreateResponseRequest.self, forKey: .request)
            replayed = try container.decodeIfPresent(Bool.self, forKey: .replayed) ?? false
        }

        /// Encodes the payload under its wire names.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(turn, forKey: .turn)
            try container.encode(stateless ? "stateless" : "stateful", forKey: .mode)
            try container.encodeIfPresent(previousResponseID, forKey: .previousResponseID)
            try container.encodeIfPresent(input, forKey: .input)
            try container.encodeIfPresent(request, forKey: .request)
            if replayed { try container.encode(true, forKey: .replayed) }
        }
    }

    /// `background_response`.
    public struct BackgroundResponse: Codable, Sendable, Hashable {
        /// The turn.
        public var turn: Int
        /// The background response's id.
        public var responseID: String
        /// Creates the payload.
        public init(turn: Int, responseID: String) {
            self.turn = turn
            self.responseID = responseID
        }
        enum CodingKeys: String, CodingKey { case turn, responseID = "response_id" }
    }

    /// `response`.
    public struct ResponseReceived: Codable, Sendable, Hashable {
        /// The turn.
        public var turn: Int
        /// The response, without what the provider echoes of the request.
        public var response: Response
        /// What the response cost in USD at the agent's price, when the price and the usage are known.
        public var costUSD: Double?
        /// Creates the payload.
        public init(turn: Int, response: Response, costUSD: Double? = nil) {
            self.turn = turn
            self.response = response
            self.costUSD = costUSD
        }
        enum CodingKeys: String, CodingKey { case turn, response, costUSD = "cost_usd" }
    }

    /// `tool_started`.
    public struct ToolStarted: Codable, Sendable, Hashable {
        /// The turn.
        public var turn: Int
        /// The call's `call_id`, as the server gave it.
        public var callID: String
        /// The id the call goes by in requests, when it differs from ``callID`` (see ``ToolCallRecord/wireCallID``).
        public var wireCallID: String?
        /// The tool's name.
        public var name: String
        /// The arguments as the model wrote them.
        public var arguments: String
        /// Creates the payload.
        public init(turn: Int, callID: String, name: String, arguments: String, wireCallID: String? = nil) {
            self.turn = turn
            self.callID = callID
            self.wireCallID = wireCallID
            self.name = name
            self.arguments = arguments
        }
        enum CodingKeys: String, CodingKey { case turn, callID = "call_id", wireCallID = "wire_call_id", name, arguments }
    }

    /// `hosted_tool_call`.
    public struct HostedCall: Codable, Sendable, Hashable {
        /// The turn.
        public var turn: Int
        /// The output item's id.
        public var callID: String?
        /// The item type, e.g. `web_search_call`.
        public var name: String
        /// A one-line account (``HostedToolCall/summary``).
        public var message: String?
        /// Creates the payload.
        public init(turn: Int, callID: String?, name: String, message: String?) {
            self.turn = turn
            self.callID = callID
            self.name = name
            self.message = message
        }
        enum CodingKeys: String, CodingKey { case turn, callID = "call_id", name, message }
    }

    /// `approval`.
    public struct Approval: Codable, Sendable, Hashable {
        /// The turn.
        public var turn: Int
        /// The approval request's id.
        public var callID: String?
        /// What was asked, in one line.
        public var summary: String?
        /// The `mcp_approval_response` sent back.
        public var reply: InputItem
        /// Whether the call was approved.
        public var approved: Bool

        /// Creates the payload.
        public init(turn: Int, callID: String?, summary: String?, reply: InputItem, approved: Bool) {
            self.turn = turn
            self.callID = callID
            self.summary = summary
            self.reply = reply
            self.approved = approved
        }

        enum CodingKeys: String, CodingKey { case turn, callID = "call_id", name, input, approved, message }

        /// Decodes the payload, tolerating journals written before it had every field.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            turn = try container.decodeIfPresent(Int.self, forKey: .turn) ?? 0
            callID = try container.decodeIfPresent(String.self, forKey: .callID)
            summary = try container.decodeIfPresent(String.self, forKey: .name)
            let replies = try container.decodeIfPresent([InputItem].self, forKey: .input) ?? []
            reply = replies.first ?? .raw([:])
            approved = try container.decodeIfPresent(Bool.self, forKey: .approved)
                ?? (try container.decodeIfPresent(String.self, forKey: .message) == "approved")
        }

        /// Encodes the payload under its wire names.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(turn, forKey: .turn)
            try container.encodeIfPresent(callID, forKey: .callID)
            try container.encodeIfPresent(summary, forKey: .name)
            try container.encode([reply], forKey: .input)
            try container.encode(approved, forKey: .approved)
        }
    }

    /// `state_fallback`.
    public struct StateFallback: Codable, Sendable, Hashable {
        /// The turn.
        public var turn: Int
        /// Why, for people.
        public var reason: String
        /// The status the provider refused the chain with.
        public var httpStatus: Int?
        /// Whether only this turn replays the history (a WebSocket connection that did not hold the response): later
        /// turns chain on the connection again. Otherwise the run replays from now on.
        public var onlyThisTurn: Bool
        /// Creates the payload.
        public init(turn: Int, reason: String, httpStatus: Int?, onlyThisTurn: Bool = false) {
            self.turn = turn
            self.reason = reason
            self.httpStatus = httpStatus
            self.onlyThisTurn = onlyThisTurn
        }
        enum CodingKeys: String, CodingKey { case turn, reason = "message", httpStatus = "http_status", onlyThisTurn = "only_this_turn" }

        /// Decodes the payload (journals written before `only_this_turn` replay from then on).
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            turn = try container.decode(Int.self, forKey: .turn)
            reason = try container.decode(String.self, forKey: .reason)
            httpStatus = try container.decodeIfPresent(Int.self, forKey: .httpStatus)
            onlyThisTurn = try container.decodeIfPresent(Bool.self, forKey: .onlyThisTurn) ?? false
        }

        /// Encodes the payload; `only_this_turn` only when set.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(turn, forKey: .turn)
            try container.encode(reason, forKey: .reason)
            try container.encodeIfPresent(httpStatus, forKey: .httpStatus)
            if onlyThisTurn { try container.encode(true, forKey: .onlyThisTurn) }
        }
    }

    /// `connection`.
    public struct Connection: Codable, Sendable, Hashable {
        /// The turn whose request goes on it.
        public var turn: Int
        /// `websocket`, or `http` when the run settled on HTTP (`--transport auto` and a server without the mode).
        public var transport: ResponsesTransportKind
        /// Where it connects (WebSocket only).
        public var url: String?
        /// The client's number for the connection (the first is 1), to tell a reused one.
        public var number: Int?
        /// Why it was opened: the run's first turn, a reused connection, or what ended the one before.
        public var reason: String
        /// How the next request carries the conversation on it: `start` (nothing to carry), `chain` (only the new input,
        /// `previous_response_id` of a response the server stores or the connection holds) or `replay` (the history).
        public var next: String?

        /// Creates the payload.
        public init(turn: Int, transport: ResponsesTransportKind, url: String?, number: Int?, reason: String, next: String?) {
            self.turn = turn
            self.transport = transport
            self.url = url
            self.number = number
            self.reason = reason
            self.next = next
        }

        enum CodingKeys: String, CodingKey { case turn, transport, url, number = "connection", reason = "message", next }
    }

    /// `compaction`.
    public struct Compaction: Codable, Sendable, Hashable {
        /// How the conversation was compacted.
        public enum Method: String, Codable, Sendable, Hashable {
            /// The provider compacted inside a response (`context_management`); the response's `compaction` item stands
            /// for what came before it.
            case server
            /// `POST /responses/compact`: its output replaces the history.
            case serverCompact = "server_compact"
            /// Old tool outputs were replaced by short notes.
            case prune
            /// Old tool outputs were dropped and the model summarised the older turns.
            case summary
        }

        /// Why the conversation was compacted.
        public enum Reason: String, Codable, Sendable, Hashable {
            /// The next request would have passed the threshold.
            case threshold
            /// The provider refused the request as too long; it goes again once.
            case overflow
            /// The provider compacted on its own, inside a response.
            case server
        }

        /// The turn the compaction came before (or, for `server`, the turn whose response carried it).
        public var turn: Int
        /// How.
        public var method: Method
        /// Why.
        public var reason: Reason
        /// The estimated tokens of the conversation before and after.
        public var tokensBefore: Int
        public var tokensAfter: Int
        /// The context window the run works with, when known (a provider that names it in a refusal sets it).
        public var window: Int?
        /// What was kept, for people, e.g. "the summary and the last 4 turns (13 items); 21 tool outputs dropped".
        public var kept: String
        /// The history that replaces the run's (replayed on the next request); nil for `server`, where the response's
        /// own items are the history.
        public var history: [InputItem]?
        /// What a compaction call cost (the summary turn, `POST /responses/compact`).
        public var usage: Usage?
        /// What that cost in USD, when priced.
        public var costUSD: Double?

        /// Creates the payload.
        public init(
            turn: Int, method: Method, reason: Reason, tokensBefore: Int, tokensAfter: Int, window: Int?, kept: String,
            history: [InputItem]?, usage: Usage? = nil, costUSD: Double? = nil
        ) {
            self.turn = turn
            self.method = method
            self.reason = reason
            self.tokensBefore = tokensBefore
            self.tokensAfter = tokensAfter
            self.window = window
            self.kept = kept
            self.history = history
            self.usage = usage
            self.costUSD = costUSD
        }

        enum CodingKeys: String, CodingKey {
            case turn, method, reason, tokensBefore = "tokens_before", tokensAfter = "tokens_after", window, kept = "message", history, usage
            case costUSD = "cost_usd"
        }
    }

    /// `input_added`.
    public struct InputAdded: Codable, Sendable, Hashable {
        /// The input items.
        public var input: [InputItem]
        /// Creates the payload.
        public init(input: [InputItem]) { self.input = input }
    }

    /// `error`: the model call failed.
    public struct RunFailure: Codable, Sendable, Hashable {
        /// The turn.
        public var turn: Int
        /// What happened, for people.
        public var message: String
        /// The HTTP status of the failure, when there was one.
        public var httpStatus: Int?
        /// What a broken stream had delivered.
        public var response: Response?
        /// Creates the payload.
        public init(turn: Int, message: String, httpStatus: Int?, response: Response?) {
            self.turn = turn
            self.message = message
            self.httpStatus = httpStatus
            self.response = response
        }
        enum CodingKeys: String, CodingKey { case turn, message, httpStatus = "http_status", response }
    }

    /// `run_resumed`.
    public struct RunResumed: Codable, Sendable, Hashable {
        /// The turn.
        public var turn: Int
        /// Creates the payload.
        public init(turn: Int) { self.turn = turn }
    }

    /// `run_finished`.
    public struct RunFinished: Codable, Sendable, Hashable {
        /// How the run ended.
        public var status: RunResult.Status
        /// The final answer's text.
        public var finalText: String
        /// Token usage over the run.
        public var usage: Usage?
        /// The last response's id.
        public var lastResponseID: String?
        /// Model turns.
        public var turns: Int
        /// Tool calls over the run.
        public var toolCallCount: Int?
        /// Why the run did not complete, for people.
        public var message: String?
        /// Why the final answer is incomplete, when it is (or the budget a `budget_exceeded` run reached).
        public var incompleteReason: String?
        /// What the run cost in USD, when every turn's price was known.
        public var costUSD: Double?
        /// The final answer's JSON value, when the agent has an output schema and the answer fits it.
        public var output: JSONValue?

        /// Creates the payload.
        public init(
            status: RunResult.Status, finalText: String, usage: Usage?, lastResponseID: String?, turns: Int, toolCallCount: Int?,
            message: String?, incompleteReason: String?, costUSD: Double? = nil, output: JSONValue? = nil
        ) {
            self.output = output
            self.costUSD = costUSD
            self.status = status
            self.finalText = finalText
            self.usage = usage
            self.lastResponseID = lastResponseID
            self.turns = turns
            self.toolCallCount = toolCallCount
            self.message = message
            self.incompleteReason = incompleteReason
        }

        enum CodingKeys: String, CodingKey {
            case status, finalText = "final_text", usage, lastResponseID = "last_response_id", turns = "turn"
            case toolCallCount = "tool_call_count", message, incompleteReason = "incomplete_reason", costUSD = "cost_usd", output
        }

        /// Decodes the payload, tolerating journals written before it had every field.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            status = (try? container.decodeIfPresent(RunResult.Status.self, forKey: .status)) ?? .failed
            finalText = try container.decodeIfPresent(String.self, forKey: .finalText) ?? ""
            usage = try container.decodeIfPresent(Usage.self, forKey: .usage)
            lastResponseID = try container.decodeIfPresent(String.self, forKey: .lastResponseID)
            turns = try container.decodeIfPresent(Int.self, forKey: .turns) ?? 0
            toolCallCount = try container.decodeIfPresent(Int.self, forKey: .toolCallCount)
            message = try container.decodeIfPresent(String.self, forKey: .message)
            incompleteReason = try container.decodeIfPresent(String.self, forKey: .incompleteReason)
            costUSD = try container.decodeIfPresent(Double.self, forKey: .costUSD)
            output = try container.decodeIfPresent(JSONValue.self, forKey: .output)
        }
    }

    /// `output_rejected`.
    public struct OutputRejected: Codable, Sendable, Hashable {
        /// The turn whose answer was refused.
        public var turn: Int
        /// What is wrong with it.
        public var problems: [String]
        /// Which corrective turn this asks for (the first is 1).
        public var attempt: Int
        /// The message the next turn sends.
        public var message: String

        /// Creates the payload.
        public init(turn: Int, problems: [String], attempt: Int, message: String) {
            self.turn = turn
            self.problems = problems
            self.attempt = attempt
            self.message = message
        }
    }

    /// `guardrail`.
    public struct GuardrailChecked: Codable, Sendable, Hashable {
        /// The turn: 0 for an input check made before the first response, else the turn whose answer was checked.
        public var turn: Int
        /// `input` (the task) or `output` (the final answer).
        public var kind: Guardrail.Kind
        /// The check's name.
        public var name: String
        /// Whether it passed.
        public var passed: Bool
        /// Why it tripped (the check's reason), or why it passed when it says.
        public var reason: String?
        /// Why the check could not run (it crashed, timed out or could not start): such a check fails closed.
        public var error: String?
        /// How long it took, in seconds.
        public var duration: Double
        /// The judge's run, for a check made by an agent.
        public var subRun: SubRunRecord?

        /// Creates the payload.
        public init(
            turn: Int, kind: Guardrail.Kind, name: String, passed: Bool, reason: String?, error: String? = nil, duration: Double,
            subRun: SubRunRecord? = nil
        ) {
            self.turn = turn
            self.kind = kind
            self.name = name
            self.passed = passed
            self.reason = reason
            self.error = error
            self.duration = duration
            self.subRun = subRun
        }

        enum CodingKeys: String, CodingKey {
            case turn, kind, name, passed, reason, error, duration = "duration_seconds", subRun = "sub_run"
        }
    }

    /// `handoff`.
    public struct Handoff: Codable, Sendable, Hashable {
        /// The turn whose response asked for it.
        public var turn: Int
        /// The `transfer_to_…` call.
        public var callID: String
        /// The agent that handed the conversation on.
        public var from: String
        /// The agent that has it now.
        public var to: String
        /// The new agent's model.
        public var model: String
        /// The new agent's first `tool_choice`.
        public var toolChoice: ToolChoice?
        /// The `transfer_to_…` call's answer: the handoff and the call's end are one line.
        public var record: ToolCallRecord?

        /// Creates the payload.
        public init(turn: Int, callID: String, from: String, to: String, model: String, toolChoice: ToolChoice?, record: ToolCallRecord? = nil) {
            self.record = record
            self.turn = turn
            self.callID = callID
            self.from = from
            self.to = to
            self.model = model
            self.toolChoice = toolChoice
        }

        enum CodingKeys: String, CodingKey { case turn, callID = "call_id", from, to, model, toolChoice = "tool_choice", record = "call" }
    }
}
