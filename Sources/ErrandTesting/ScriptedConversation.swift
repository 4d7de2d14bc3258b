import Foundation
import ResponsesAPI

/// What a ``ScriptedResponsesServer`` responder sees of a request: the request and the whole conversation it belongs
/// to, whether the client chains with `previous_response_id` or replays the history.
public struct ScriptedConversation: Sendable {
    /// The request being answered.
    public var request: RecordedRequest
    /// Every item of the conversation, oldest first: the input and output of each response the request chains to,
    /// then the request's own input.
    public var items: [JSONValue]
    /// How many stored responses the request chains to (0 for a first turn, or for a client that replays).
    public var chainedResponses: Int

    /// Creates a view of a conversation.
    public init(request: RecordedRequest, items: [JSONValue], chainedResponses: Int) {
        self.request = request
        self.items = items
        self.chainedResponses = chainedResponses
    }

    /// The text of the first user message: the task, for an agent's run.
    public var task: String {
        for item in items where item["role"] == "user" {
            if let text = item["content"]?.stringValue { return text }
            return (item["content"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }.joined(separator: " ")
        }
        return ""
    }

    /// The tool outputs the client sent back so far (`function_call_output` items), oldest first.
    public var toolOutputs: [JSONValue] { items.filter { $0["type"] == "function_call_output" } }
}
