import Foundation
import Logging
import ResponsesAPI
import Synchronization

/// Runs agents as children of a run: an agent used as a tool, a guardrail's judge. A child shares its parent's client
/// (and so its transport and connection pool), cancellation, tracing (its `errand.run` span is a child of the call's)
/// and budgets (what it spends counts against the parent's limits, and a batch's). Its journal is its own, in the
/// parent's store, linked both ways: `parent_run_id`/`parent_call_id` in its `run_started`, its run id in the parent's
/// `tool_finished` (`sub_run`).
///
/// A child's run id is derived from the parent's and the call's (``childRunID(parent:key:)``), so a resumed parent that
/// runs the call again finds the child's journal and resumes it instead of starting it again: what the child did (a
/// side effect included) happens once.
public struct SubRuns: Sendable {
    let runner: Runner
    let store: (any RunStore)?
    let parentRunID: String
    /// The parent's depth (a top-level run is 0).
    let depth: Int
    let maxDepth: Int
    /// What the children may spend together: the parent's budget left, within a batch's.
    let budget: SharedBudget?
    let options: Runner.ResumeOptions
    let emit: @Sendable (RunEvent) -> Void

    /// Runs `agent` on `input` as the child of this run for `key` (a call's unique id, a guardrail's key), or resumes
    /// the child's journal when it has one already. Throws a ``ToolError`` the model can read when the child may not
    /// run (too deep, a cost budget and no price, an agent that is not the journaled one).
    public func run(_ agent: Agent, input: ResponseInput, key: String) async throws -> RunResult {
        guard depth < maxDepth else {
            throw ToolError(
                "\(agent.name) was not run: agents may call agents \(maxDepth) levels deep (limits.max_agent_depth), and this run is already \(depth) deep")
        }
        if budget?.limitsCost == true, agent.price == nil {
            throw ToolError(ModelCatalog.noPrice(for: agent.model, budget: "the cost budget it would share with the run that calls it"))
        }
        let childID = Self.childRunID(parent: parentRunID, key: key)
        var runner = self.runner
        runner.sharedBudget = budget
        runner.parent = JournalEvent.ParentLink(runID: parentRunID, callID: key)
        runner.depth = depth + 1
        let emit = self.emit
        let forward: @Sendable (RunEvent) -> Void = { event in emit(.subRun(callID: key, runID: childID, event: event)) }
        guard let store else { return await runner.run(agent, input: input, runID: childID, onEvent: forward) }
        let journaled: Bool
        do {
            journaled = try await store.records(runID: childID) != nil
        } catch {
            throw ToolError("cannot read the journal of \(agent.name)'s run \(childID): \(error)")
        }
        guard journaled else { return await runner.run(agent, input: input, store: store, runID: childID, onEvent: forward) }
        do {
            return try await runner.resume(agent, runID: childID, store: store, options: options, onEvent: forward)
        } catch {
            throw ToolError("cannot resume \(agent.name)'s run \(childID): \(error)")
        }
    }

    /// The id of the child run a parent makes for `key`: the parent's id, a dot, and the key with anything but
    /// letters, digits, `-` and `_` made `_`.
    public static func childRunID(parent: String, key: String) -> String {
        "\(parent).\(WireName.of(key, limit: 80))"
    }
}

/// Where a child run's record is kept until its parent journals it (a tool's call, a guardrail's verdict).
final class SubRunRecorder: Sendable {
    private let storage = Mutex<SubRunRecord?>(nil)
    func set(_ record: SubRunRecord) { storage.withLock { $0 = record } }
    var value: SubRunRecord? { storage.withLock { $0 } }
}

extension JournalEvent {
    /// The run that started a child run, and the call (or check) it answers.
    public struct ParentLink: Sendable, Hashable {
        /// The parent's run id.
        public var runID: String
        /// The parent's call id (unique in its run), or a guardrail's key.
        public var callID: String
    }
}

extension Agent {
    /// The parameters of an agent used as a tool: one `task` string.
    public static let taskParameters: JSONValue = [
        "type": "object", "additionalProperties": false, "required": ["task"],
        "properties": ["task": ["type": "string", "description": "The task for the agent, with everything it needs to know."]],
    ]

    /// This agent as a tool another agent can call: the model gives a `task` (or arguments that fit `parameters`, sent
    /// to the agent as JSON), and the call runs this agent to completion as a child run (see ``SubRuns``) and returns its
    /// final output: text, or JSON when it has an ``outputSchema``. A child that does not complete is an error the
    /// calling model reads. Safe to repeat: a resumed parent resumes the child from its journal.
    public func asTool(name: String? = nil, description: String? = nil, parameters: JSONValue? = nil) -> RegisteredTool {
        let agent = self
        let toolName = name ?? WireName.of(agent.name)
        let schema = parameters ?? Self.taskParameters
        let timeout = agent.limits.timeout.map { $0 + .seconds(30) } ?? .seconds(7 * 86_400)
        var tool = RegisteredTool(
            name: toolName, description: description ?? agent.description ?? "Ask the agent \(agent.name) to do a task; it answers with its result.",
            parameters: schema, strict: OutputSchema.allowsStrict(schema), timeout: timeout, idempotent: true
        ) { arguments, context in
            guard let subRuns = context.subRuns else { throw ToolError("\(toolName) runs the agent \(agent.name), which only a run can do") }
            let input: ResponseInput = parameters == nil ? .text(arguments["task"]?.stringValue ?? "") : .text(arguments.jsonString)
            let result = try await subRuns.run(agent, input: input, key: context.uniqueCallID)
            context.noteSubRun(SubRunRecord(result, agent: agent.name))
            guard result.status == .completed else {
                throw ToolError("the agent \(agent.name) ended \(result.status.rawValue) (run \(result.runID)): \(result.error ?? "no reason given")")
            }
            return result.output.map(ToolOutput.json) ?? .text(result.finalText)
        }
        tool.runsAgent = true
        return tool
    }
}
