import Foundation
import ResponsesAPI

/// A handoff: the model of one agent may hand the conversation to another by calling `transfer_to_<name>`. From the
/// next turn the other agent answers: its instructions, tools, model, settings, output schema and output guardrails
/// apply, and the conversation goes on (chained or replayed as before). The run's limits stay the first agent's;
/// ``RunLimits/maxHandoffs`` bounds ping-pong. The journal records a `handoff` event, and a resume goes on with the
/// agent that had the conversation.
///
/// ```swift
/// triage.handoffs = [Handoff(to: billing, description: "Invoices, refunds and payment problems.")]
/// ```
public struct Handoff: Sendable {
    /// The name of the agent it hands to (which names it in journals, and finds it again on resume).
    public var agentName: String
    /// What the agent is for, for the model choosing.
    public var description: String?
    let target: @Sendable () -> Agent

    /// A handoff to `agent`.
    public init(to agent: Agent, description: String? = nil) {
        self.agentName = agent.name
        self.description = description ?? agent.description
        self.target = { agent }
    }

    /// A handoff to the agent `make` builds, when asked: agents that hand to each other (triage ⇄ billing) cannot hold
    /// each other as values.
    public init(name: String, description: String? = nil, agent make: @escaping @Sendable () -> Agent) {
        self.agentName = name
        self.description = description
        self.target = make
    }

    /// The agent it hands to.
    public var agent: Agent { target() }

    /// The tool's name: `transfer_to_` and the agent's name, with anything but letters, digits, `-` and `_` made `_`.
    public var toolName: String { Self.toolName(for: agentName) }

    /// The tool name of a handoff to the agent `name`.
    public static func toolName(for name: String) -> String {
        "transfer_to_" + WireName.of(name, limit: 52)
    }

    /// The function tool the model sees.
    public var definition: ResponseTool {
        .function(FunctionTool(
            name: toolName,
            description: "Hand the conversation to the agent \(agentName)\(description.map { ": \($0)" } ?? ""). It answers from then on.",
            parameters: ["type": "object", "properties": [:], "required": [], "additionalProperties": false], strict: true))
    }

    /// What the model reads as the call's output.
    func output(from: String) -> String {
        JSONValue.object(["assistant": .string(agentName), "from": .string(from)]).jsonString
    }
}

extension Agent {
    /// The handoff this agent makes with the tool `name`, if any.
    func handoff(named name: String) -> Handoff? { handoffs.first { $0.toolName == name } }

    /// The agent named `name` among this agent and those its handoffs reach (through any chain of them).
    public func reachable(named name: String) -> Agent? {
        if self.name == name { return self }
        var seen: Set<String> = [self.name]
        var queue = handoffs
        while !queue.isEmpty {
            let next = queue.removeFirst()
            guard seen.insert(next.agentName).inserted else { continue }
            let agent = next.agent
            if agent.name == name { return agent }
            queue += agent.handoffs
        }
        return nil
    }
}
