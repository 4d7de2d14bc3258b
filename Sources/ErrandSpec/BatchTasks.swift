import Foundation
import ResponsesAPI

/// The tasks of `errand batch`: a JSON-lines file, one task a line, `{"id": …, "task": …}` with optional per-task
/// overrides of the spec (`model`, `workspace`, `max_turns`). Read strictly: every problem is reported at once, each
/// with its line and field, and ids must be unique.
public struct BatchTasks: Sendable {
    /// One task.
    public struct Entry: Sendable, Hashable {
        /// The task's id (a string; a number is read as its text).
        public var id: String
        /// What to do.
        public var task: String
        /// The model, instead of the spec's.
        public var model: String?
        /// The workspace folder (relative to the tasks file), instead of the spec's.
        public var workspace: URL?
        /// The turn limit, instead of the spec's.
        public var maxTurns: Int?

        /// Creates a task.
        public init(id: String, task: String, model: String? = nil, workspace: URL? = nil, maxTurns: Int? = nil) {
            self.id = id
            self.task = task
            self.model = model
            self.workspace = workspace
            self.maxTurns = maxTurns
        }
    }

    /// The tasks, in the file's order.
    public var entries: [Entry]

    static let keys = ["id", "task", "model", "workspace", "max_turns"]

    /// Reads and checks a tasks file.
    public static func load(_ url: URL) throws(SpecError) -> BatchTasks {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw SpecError(problems: [SpecProblem(file: url.path, path: "", message: "cannot read the tasks: \(error.localizedDescription)")])
        }
        let reader = SpecReader(file: url.path)
        var entries: [Entry] = []
        var seen: [String: Int] = [:]
        let folder = url.deletingLastPathComponent()
        for (index, raw) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let line = index + 1
            let text = String(decoding: raw, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if text.isEmpty || text.hasPrefix("//") { continue }
            let path = "line \(line)"
            guard let json = try? JSONValue(parsing: Data(text.utf8)) else {
                reader.problem(path, "not valid JSON; expected {\"id\": …, \"task\": …}")
                continue
            }
            guard let members = reader.object(json, at: path, allowed: keys) else { continue }
            var id: String?
            switch members["id"] {
            case .string(let text)? where !text.trimmingCharacters(in: .whitespaces).isEmpty: id = text
            case .number? where members["id"]?.intValue != nil: id = String(members["id"]!.intValue!)
            case nil: reader.problem("\(path).id", "missing; every task needs an id (its journal's name)")
            case let other?: reader.problem("\(path).id", "expected a non-empty string or a whole number, not \(other.kindDescription)")
            }
            let task = reader.string(members, "task", at: path, required: true)
            let model = reader.string(members, "model", at: path)
            let workspace = reader.folder(members, "workspace", at: path, relativeTo: folder)
            let maxTurns = reader.int(members, "max_turns", at: path, minimum: 1)
            guard let id, let task else { continue }
            if let first = seen[id] {
                reader.problem("\(path).id", "'\(id)' is already the id of line \(first); ids must be unique")
                continue
            }
            seen[id] = line
            entries.append(Entry(id: id, task: task, model: model, workspace: workspace, maxTurns: maxTurns))
        }
        if entries.isEmpty, reader.problems.isEmpty { reader.problem("", "no tasks: one JSON object a line, e.g. {\"id\": \"t1\", \"task\": \"…\"}") }
        if !reader.problems.isEmpty { throw SpecError(problems: reader.problems) }
        return BatchTasks(entries: entries)
    }
}
