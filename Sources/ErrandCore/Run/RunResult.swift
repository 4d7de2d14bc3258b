import Foundation
import ResponsesAPI

/// How a run ended and everything it did.
public struct RunResult: Sendable, Hashable {
    /// How a run ended.
    public enum Status: String, Sendable, Hashable, Codable, CaseIterable {
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
        /// A token or cost budget was reached, or the next turn would have passed it (`incompleteReason` names it).
        case budgetExceeded = "budget_exceeded"
        /// The final answer did not fit the output schema, even after its corrective turns (`error` has the problems).
        case invalidOutput = "invalid_output"
        /// An input or output guardrail tripped, or could not run (`error` names it and its reason).
        case guardrailTripped = "guardrail_tripped"

        /// Whether a resume goes on with a run that ended so: one stopped early (cancelled, out of time, a failed
        /// call that may have been transient, a budget reached: resumed with a larger one) is taken up again; one that
        /// completed or hit a turn or call limit is not.
        public var canResume: Bool { self == .cancelled || self == .timedOut || self == .failed || self == .budgetExceeded }
    }

    /// The run's id.
    public var runID: String
    /// How the run ended.
    public var status: Status
    /// The final answer's text (empty unless completed).
    public var finalText: String
    /// The final answer's JSON value, when the agent has an output schema and the answer fits it.
    public var output: JSONValue?
    /// Every output item of every turn, in order.
    public var items: [OutputItem]
    /// Every tool call with its outcome.
    public var toolCalls: [ToolCallRecord]
    /// Token usage summed over the turns (and compaction calls).
    public var usage: Usage
    /// What the run cost in USD at the agent's price; nil when the model has no price (unknown, not free).
    public var costUSD: Double?
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

    /// Creates a result.
    public init(
        runID: String, status: Status, finalText: String = "", items: [OutputItem] = [], toolCalls: [ToolCallRecord] = [], usage: Usage = Usage(),
        lastResponseID: String? = nil, turns: Int = 0, error: String? = nil, incompleteReason: String? = nil, journal: URL? = nil,
        costUSD: Double? = nil, output: JSONValue? = nil
    ) {
        self.costUSD = costUSD
        self.output = output
        self.runID = runID
        self.status = status
        self.finalText = finalText
        self.items = items
        self.toolCalls = toolCalls
        self.usage = usage
        self.lastResponseID = lastResponseID
        self.turns = turns
        self.error = error
        self.incompleteReason = incompleteReason
        self.journal = journal
    }
}
