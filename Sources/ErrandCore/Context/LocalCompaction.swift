import Foundation
import ResponsesAPI

/// Compaction done here, for servers that cannot do it themselves: the rules, with no I/O. The run loop asks the model
/// for the summary and journals the outcome (``JournalEvent/Compaction``), so that a resume replays it.
package enum LocalCompaction {
    /// Tool outputs shorter than this are kept whole even in old turns: dropping them saves little.
    static let keptOutputCharacters = 300

    /// The instructions of a summary turn.
    package static let summaryInstructions = """
        You are compacting the history of an agent's work so that it can go on within its context window. Write a \
        summary that lets the agent continue the task without the history: the task and its constraints; what has \
        been done, with the facts, names, numbers, paths and values found so far (quote them exactly); what is left to \
        do; and anything that failed and why. Write only the summary, in plain text, as concisely as the facts allow.
        """

    /// Where each response's output begins in `history`: an output item that follows an input item (or begins it).
    package static func turnStarts(_ history: [InputItem]) -> [Int] {
        var starts: [Int] = []
        var previousWasOutput = false
        for (index, item) in history.enumerated() {
            let isOutput: Bool = if case .output = item { true } else { false }
            if isOutput, !previousWasOutput { starts.append(index) }
            previousWasOutput = isOutput
        }
        return starts
    }

    /// Where the last `turns` turns begin in `history` (its end when there are none to keep, its start when it has
    /// fewer turns).
    package static func recentStart(_ history: [InputItem], keeping turns: Int) -> Int {
        let starts = turnStarts(history)
        guard turns > 0 else { return history.count }
        return starts.count > turns ? starts[starts.count - turns] : (starts.first ?? history.count)
    }

    /// `history` with the outputs of tool calls before `keepFrom` replaced by a note of what was there (outputs short
    /// enough to keep stay), and how many were dropped.
    package static func pruned(_ history: [InputItem], keepFrom: Int) -> (items: [InputItem], dropped: Int) {
        var names: [String: String] = [:]
        var items = history
        var dropped = 0
        for (index, item) in history.enumerated() {
            switch item {
            case .output(.functionCall(let call)):
                names[call.callID] = call.name
            case .functionCallOutput(let output) where index < keepFrom:
                let text = Self.text(of: output.output)
                guard text.count > keptOutputCharacters else { continue }
                let name = names[output.callID] ?? "the tool"
                let note = "[compacted: the output of \(name) (\(text.count) characters) was dropped to save context; call it again if you need it. It began: \(OneLine.squash(text, limit: 120))]"
                items[index] = .functionCallOutput(FunctionCallOutput(callID: output.callID, output: note))
                dropped += 1
            default:
                continue
            }
        }
        return (items, dropped)
    }

    /// The history before the recent turns as a plain transcript for the summary turn, at most `limit` characters:
    /// plain text, so that any server reads it (no tool definitions are needed to replay calls).
    package static func transcript(_ items: [InputItem], limit: Int) -> String {
        let lines = items.compactMap(line)
        let perLine = max(200, limit / max(1, lines.count))
        // A long line keeps its beginning and its end (where a tool's result or a note's point often is).
        var text = lines.map { $0.count > perLine ? String($0.prefix(perLine / 2)) + " … " + String($0.suffix(perLine / 2)) : $0 }
            .joined(separator: "\n")
        if text.count > limit { text = "… " + String(text.suffix(limit)) }
        return text
    }

    /// The message that stands for the summarised turns.
    package static func summaryMessage(task: String, summary: String) -> InputItem {
        let taskLine = task.isEmpty ? "" : "The task: \(task)\n\n"
        return .user("[This conversation was compacted to fit the model's context window.]\n\(taskLine)Summary of the work so far:\n\(summary)")
    }

    /// The request text of a summary turn: the task stated apart from the history, so that the model summarises the
    /// work rather than doing the task (a small model given the task last in the history answers it).
    package static func summaryRequest(task: String, transcript: String) -> String {
        let taskLine = task.isEmpty ? "" : "The agent's task (do not do it; it is kept separately): \(task)\n\n"
        return "\(taskLine)The history to summarise, oldest first:\n\n\(transcript)\n\nWrite the summary of this history now."
    }

    /// The run's task: the last user message of its input, whole (up to 2,000 characters), and that item.
    package static func task(of input: [InputItem]) -> (text: String, item: InputItem?) {
        guard let item = input.last(where: { if case .message(let message) = $0 { message.role == "user" } else { false } }),
            case .message(let message) = item
        else { return ("", nil) }
        return (String(text(of: message.content).prefix(2000)), item)
    }

    private static func line(_ item: InputItem) -> String? {
        switch item {
        case .message(let message):
            return "\(message.role): \(text(of: message.content))"
        case .functionCallOutput(let output):
            return "tool output (\(output.callID)): \(text(of: output.output))"
        case .output(.message(let message)):
            return "assistant: \(message.text)"
        case .output(.functionCall(let call)):
            return "assistant called \(call.name)(\(call.arguments)) [\(call.callID)]"
        case .output(.reasoning):
            return nil
        case .output(let other):
            return other.isCompaction ? nil : "\(other.type): \(OneLine.squash((try? JSONValue(encoding: other))?.jsonString ?? "", limit: 300))"
        case .itemReference(let id):
            return "(item \(id))"
        case .raw(let json):
            return "\(json["type"]?.stringValue ?? "item"): \(OneLine.squash(json.jsonString, limit: 300))"
        }
    }

    package static func text(of content: InputMessage.Content) -> String {
        switch content {
        case .text(let text): text
        case .parts(let parts): parts.compactMap { if case .text(let text) = $0 { text } else { nil } }.joined(separator: "\n")
        }
    }
}
