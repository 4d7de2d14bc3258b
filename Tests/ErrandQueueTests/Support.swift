import ErrandCore
import ErrandQueue
import ErrandTesting
import Foundation
import Logging
import ResponsesAPI
import Testing

/// Why the database tests cannot run here, or `nil`.
let postgresMissing = PostgresCluster.unavailableReason

/// Runs `body` with a new database on the shared throwaway cluster, its queue schema created.
func withQueueDatabase<R: Sendable>(initialize: Bool = true, _ body: @escaping @Sendable (QueueDatabase) async throws -> R) async throws -> R {
    let url = try await PostgresCluster.shared().createDatabase(prefix: "q")
    return try await QueueDatabase.with(try DatabaseURL(url), maxConnections: 12) { database in
        if initialize { try await TaskQueue.initialize(database) }
        return try await body(database)
    }
}

/// A folder with a spec, a command tool that keeps a ledger of its calls keyed on ERRAND_RUN_ID and ERRAND_CALL_ID
/// (so a call run twice leaves one line), a workspace, and a tasks file.
struct QueueFixture {
    let folder: URL
    var spec: URL { folder.appendingPathComponent("agents/spec.json") }
    var tasks: URL { folder.appendingPathComponent("tasks.jsonl") }
    var workspace: URL { folder.appendingPathComponent("ws") }
    /// Every side effect the tool had, one `run/call` a line.
    var ledger: URL { workspace.appendingPathComponent("ledger.txt") }
    /// Every time the tool ran, one `run/call` a line (a call run again appears twice here, once in the ledger).
    var runs: URL { workspace.appendingPathComponent("runs.txt") }

    init(baseURL: String, tasks count: Int, taskText: (Int) -> String = { "task number \($0)" }) throws {
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
        let spec: JSONValue = [
            "name": "marker", "model": "scripted", "instructions": "Mark the steps.",
            "provider": ["base_url": .string(baseURL), "api_key_env": "ERRAND_TEST_KEY"],
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
    static let environment = ["ERRAND_TEST_KEY": "sk-queue-test-0123456789", "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]

    func submission(batch: String? = nil) throws -> Submission {
        try Submission.prepare(specFile: spec, tasksFile: tasks, batch: batch, currentFolder: folder, environment: Self.environment)
    }

    func lines(_ url: URL) -> [String] {
        ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }
}

/// A model that marks `steps` times, one call a turn, then answers with the task's text.
func markingResponder(steps: Int, pace: Duration = .zero) -> @Sendable (ScriptedConversation) -> ScriptedTurn {
    { conversation in
        let done = conversation.toolOutputs.count
        let turn: ScriptedTurn = done < steps ? .calls(.call("mark", ["n": .number(Double(done + 1))])) : .message("done: \(conversation.task)")
        return pace > .zero ? turn.delayed(by: pace) : turn
    }
}

/// A worker's configuration for tests: the fixture's folder as its workspace root, a short poll.
func workerConfiguration(_ fixture: QueueFixture, name: String, concurrency: Int = 4, lease: Duration = .seconds(10)) -> QueueWorker.Configuration {
    var configuration = QueueWorker.Configuration()
    configuration.name = name
    configuration.concurrency = concurrency
    configuration.lease = lease
    configuration.poll = .milliseconds(300)
    configuration.workspaceRoot = fixture.folder
    configuration.environment = QueueFixture.environment
    configuration.client = .loopbackTests()
    return configuration
}
