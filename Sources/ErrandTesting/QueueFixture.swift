import Foundation
import ResponsesAPI

/// For queue tests and benchmarks: a folder with a spec, a command tool that keeps a ledger of its calls keyed on ERRAND_RUN_ID and ERRAND_CALL_ID
/// (so a call run twice leaves one line), a workspace, and a tasks file.
public struct QueueFixture: Sendable {
    public let folder: URL
    public var spec: URL { folder.appendingPathComponent("agents/spec.json") }
    public var tasks: URL { folder.appendingPathComponent("tasks.jsonl") }
    public var workspace: URL { folder.appendingPathComponent("ws") }
    /// Every side effect the tool had, one `run/call` a line.
    public var ledger: URL { workspace.appendingPathComponent("ledger.txt") }
    /// Every time the tool ran, one `run/call` a line (a call run again appears twice here, once in the ledger).
    public var runs: URL { workspace.appendingPathComponent("runs.txt") }

    /// `transport` sets the spec's `provider.transport` when given.
    public init(baseURL: String, tasks count: Int, transport: String? = nil, taskText: (Int) -> String = { "task number \($0)" }) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-queue-\(UUID().uuidString.prefix(8))")
        let fm = FileManager.default
        try fm.createDirectory(at: folder.appendingPathComponent("agents"), withIntermediateDirectories: true)
        try fm.createDirectory(at: folder.appendingPathComponent("tools"), withIntermediateDirectories: true)
        try fm.createDirectory(at: folder.appendingPathComponent("ws"), withIntermediateDirectories: true)
        let manifest: JSONValue = [
            "name": "mark", "description": "Marks a step, once.",
            "parameters": ["type": "object", "properties": ["n": ["type": "integer"]], "required": ["n"], "additionalProperties": false],
            "command": [
                "sh", "-c",
                "key=\"$ERRAND_RUN_ID/$ERRAND_CALL_ID\"; echo \"$key\" >> runs.txt; grep -qxF \"$key\" ledger.txt 2>/dev/null || echo \"$key\" >> ledger.txt; echo marked",
            ],
            "idempotent": true, "timeout_seconds": 20,
        ]
        try Data(manifest.jsonString.utf8).write(to: folder.appendingPathComponent("tools/mark.json"))
        var provider: JSONValue = ["base_url": .string(baseURL), "api_key_env": "ERRAND_TEST_KEY"]
        if let transport { provider["transport"] = .string(transport) }
        let spec: JSONValue = [
            "name": "marker", "model": "scripted", "instructions": "Mark the steps.",
            "provider": provider,
            "tools": [["manifest": "../tools/mark.json"]],
            "workspace": ["root": "../ws"],
            "limits": ["max_turns": 10],
        ]
        try Data(spec.jsonString.utf8).write(to: folder.appendingPathComponent("agents/spec.json"))
        let lines = (1...max(1, count)).map { index -> String in
            let line: JSONValue = ["id": .string("t\(index)"), "task": .string(taskText(index))]
            return line.jsonString
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: tasks)
    }

    /// The environment workers read the key from.
    public static let environment = ["ERRAND_TEST_KEY": "sk-queue-test-0123456789", "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]

    public func lines(_ url: URL) -> [String] {
        ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    public func remove() { try? FileManager.default.removeItem(at: folder) }
}

/// A model that marks `steps` times, one call a turn, then answers with the task's text.
public func markingResponder(steps: Int, pace: Duration = .zero) -> @Sendable (ScriptedConversation) -> ScriptedTurn {
    { conversation in
        let done = conversation.toolOutputs.count
        let turn: ScriptedTurn = done < steps ? .calls(.call("mark", ["n": .number(Double(done + 1))])) : .message("done: \(conversation.task)")
        return pace > .zero ? turn.delayed(by: pace) : turn
    }
}

