import Foundation
import ResponsesAPI

extension Agent {
    /// The `run_started` event of a run of this agent on `input`.
    func startEvent(input: [InputItem], parent: JournalEvent.ParentLink? = nil) -> JournalEvent.RunStarted {
        JournalEvent.RunStarted(
            agent: name, model: model, mode: state, instructions: instructions, tools: toolDefinitions, input: input, toolChoice: toolChoice,
            resetToolChoice: resetToolChoiceAfterToolUse, fingerprint: fingerprint, parentRunID: parent?.runID, parentCallID: parent?.callID)
    }

    /// A digest of what makes the agent this agent for a journal: its model, instructions and tools (FNV-1a over their
    /// canonical JSON). Resume compares it with the journaled one.
    public var fingerprint: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let tools = toolDefinitions
        let canonical: JSONValue = ["model": .string(model), "instructions": instructions.map(JSONValue.string) ?? .null, "tools": (try? JSONValue(encoding: tools)) ?? .null]
        return StableDigest.hex((try? encoder.encode(canonical)) ?? Data())
    }
}
