import Foundation
import ResponsesAPI

/// Answers for runs with several agents (agents used as tools, handoffs, guardrail judges), whose requests arrive in
/// no set order: each request is answered by the route of the agent that sent it, found by its instructions.
///
/// ```swift
/// let server = try await ScriptedResponsesServer.start(responder: ScriptedAgents.responder([
///     ("You lead", { conversation in conversation.toolOutputs.isEmpty ? .calls(.call("review", ["task": "a.txt"])) : .message("done") }),
///     ("You review", { conversation in .message("reviewed \(conversation.task)") }),
/// ]))
/// ```
public enum ScriptedAgents {
    /// A responder that answers each request with the first route whose key its instructions start with; a request no
    /// route claims is answered with a message saying so (a test then fails on the text).
    public static func responder(
        _ routes: [(String, @Sendable (ScriptedConversation) -> ScriptedTurn)]
    ) -> @Sendable (ScriptedConversation) -> ScriptedTurn {
        { conversation in
            let instructions = conversation.request.body?["instructions"]?.stringValue ?? ""
            for (key, route) in routes where instructions.hasPrefix(key) { return route(conversation) }
            return .message("no scripted agent has the instructions '\(instructions.prefix(60))'")
        }
    }

    /// The text of the last user message of the conversation (a corrective turn's, a follow-up's).
    public static func lastUserText(_ conversation: ScriptedConversation) -> String {
        for item in conversation.items.reversed() where item["role"] == "user" {
            if let text = item["content"]?.stringValue { return text }
            return (item["content"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }.joined(separator: " ")
        }
        return ""
    }
}
