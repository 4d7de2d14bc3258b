import Foundation
import ResponsesAPI

/// One tool call of a run and how it ended.
public struct ToolCallRecord: Sendable, Hashable, Codable {
    /// The turn that asked for it.
    public var turn: Int
    /// The call's `call_id`, as the server gave it (and as the tool saw it).
    public var callID: String
    /// The id the call and its output carry in requests, when it differs from ``callID``: a server that repeats a
    /// `call_id` from an earlier response (some restart at `call_0` every turn) has the repeat re-qualified, so that
    /// every `call_id` of a replayed history is unique. See ``RunState/Call``.
    public var wireCallID: String?
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
    /// The run an agent used as a tool made for this call (its journal is its own), with what it spent: counted in
    /// this run's usage, cost and budgets.
    public var subRun: SubRunRecord?

    /// Creates a record.
    public init(
        turn: Int, callID: String, name: String, arguments: String, output: String, isError: Bool, duration: Double, notes: [String]? = nil,
        wireCallID: String? = nil
    ) {
        self.turn = turn
        self.callID = callID
        self.wireCallID = wireCallID
        self.name = name
        self.arguments = arguments
        self.output = output
        self.isError = isError
        self.duration = duration
        self.notes = notes
    }

    enum CodingKeys: String, CodingKey {
        case turn, callID = "call_id", wireCallID = "wire_call_id", name, arguments, output, ok, isError = "is_error", duration = "duration_seconds", notes
        case subRun = "sub_run"
    }

    /// Decodes a record; `ok` (or, in journals written before it, `is_error`) says whether the call succeeded.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        turn = try container.decodeIfPresent(Int.self, forKey: .turn) ?? 0
        callID = try container.decode(String.self, forKey: .callID)
        wireCallID = try container.decodeIfPresent(String.self, forKey: .wireCallID)
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
        subRun = try container.decodeIfPresent(SubRunRecord.self, forKey: .subRun)
    }

    /// The one shape of a tool-call record, in journals, `--json` and `--events` alike: `turn`, `call_id` (and `wire_call_id` when it differs), `name`,
    /// `arguments`, `output`, `ok`, `duration_seconds` (to the millisecond), `notes` when there are any and `sub_run` for an agent's call.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(turn, forKey: .turn)
        try container.encode(callID, forKey: .callID)
        try container.encodeIfPresent(wireCallID, forKey: .wireCallID)
        try container.encode(name, forKey: .name)
        try container.encode(arguments, forKey: .arguments)
        try container.encode(output, forKey: .output)
        try container.encode(!isError, forKey: .ok)
        try container.encode((duration * 1000).rounded() / 1000, forKey: .duration)
        try container.encodeIfPresent(notes, forKey: .notes)
        try container.encodeIfPresent(subRun, forKey: .subRun)
    }
}

/// A run that another run started (an agent used as a tool, a guardrail's judge): its id, how it ended and what it spent.
public struct SubRunRecord: Sendable, Hashable, Codable {
    /// The child run's id (its journal is its own).
    public var runID: String
    /// The child's agent.
    public var agent: String
    /// How it ended.
    public var status: RunResult.Status
    /// Its model turns.
    public var turns: Int
    /// Its usage, its own children's included.
    public var usage: Usage
    /// Its cost in USD, nil when some of it was unpriced.
    public var costUSD: Double?

    /// Creates a record.
    public init(runID: String, agent: String, status: RunResult.Status, turns: Int, usage: Usage, costUSD: Double?) {
        self.runID = runID
        self.agent = agent
        self.status = status
        self.turns = turns
        self.usage = usage
        self.costUSD = costUSD
    }

    /// The record of a finished run of `agent`.
    public init(_ result: RunResult, agent: String) {
        self.init(runID: result.runID, agent: agent, status: result.status, turns: result.turns, usage: result.usage, costUSD: result.costUSD)
    }

    enum CodingKeys: String, CodingKey { case runID = "run_id", agent, status, turns, usage, costUSD = "cost_usd" }
}
