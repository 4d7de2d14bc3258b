import ErrandSpec
import Foundation
import Testing

/// The tasks file of `errand batch`: one task a line, read strictly, every problem named with its line and field.
@Suite struct BatchTasksTests {
    let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-tasks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("repo"), withIntermediateDirectories: true)
    }

    func load(_ text: String) throws -> BatchTasks {
        let url = folder.appendingPathComponent("tasks.jsonl")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return try BatchTasks.load(url)
    }

    func problems(_ text: String) -> [String] {
        do {
            _ = try load(text)
            return []
        } catch let error as SpecError {
            return error.problems.map { $0.path.isEmpty ? $0.message : "\($0.path): \($0.message)" }
        } catch {
            return ["\(error)"]
        }
    }

    @Test func goodLinesWithOverrides() throws {
        let tasks = try load("""
            {"id": "a", "task": "Summarise README.md"}

            // a comment line
            {"id": 7, "task": "Fix the typo", "model": "gpt-4.1", "workspace": "repo", "max_turns": 3}
            """)
        #expect(tasks.entries.map(\.id) == ["a", "7"])
        #expect(tasks.entries[1].model == "gpt-4.1")
        #expect(tasks.entries[1].maxTurns == 3)
        #expect(tasks.entries[1].workspace == folder.appendingPathComponent("repo").standardizedFileURL)
        #expect(tasks.entries[0].model == nil && tasks.entries[0].workspace == nil && tasks.entries[0].maxTurns == nil)
    }

    @Test(arguments: [
        (#"{"id": "a"}"#, "line 1.task"),
        (#"{"task": "x"}"#, "line 1.id: missing"),
        (#"{"id": "", "task": "x"}"#, "line 1.id: expected a non-empty string"),
        (#"{"id": true, "task": "x"}"#, "line 1.id: expected a non-empty string or a whole number"),
        (#"{"id": "a", "task": 3}"#, "line 1.task"),
        (#"{"id": "a", "task": "x", "max_turns": 0}"#, "line 1.max_turns"),
        (#"{"id": "a", "task": "x", "workspace": "nowhere"}"#, "line 1.workspace: '"),
        (#"{"id": "a", "task": "x", "colour": "red"}"#, "colour"),
        (#"["a", "x"]"#, "line 1"),
        ("{\"id\": \"a\", \"task\": \"x\"}\n{\"id\": \"a\", \"task\": \"y\"}", "line 2.id: 'a' is already the id of line 1"),
        ("{\"id\": \"a\", \"task\": \"x\"}\n{oops", "line 2: not valid JSON"),
        ("\n\n", "no tasks"),
    ])
    func badLinesAreNamed(_ text: String, _ expected: String) {
        let found = problems(text)
        #expect(found.contains { $0.contains(expected) }, "\(found)")
    }

    @Test func everyProblemIsReportedAtOnce() {
        let found = problems("""
            {"id": "a"}
            {"task": "x"}
            not json
            """)
        #expect(found.count == 3, "\(found)")
    }
}
