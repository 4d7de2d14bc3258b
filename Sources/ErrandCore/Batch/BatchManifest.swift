import Foundation
import ResponsesAPI

/// A batch's folder and its manifest, `batch.json`: which spec and tasks file the batch is for, each task's digest (to
/// notice a task that changed since its journal was written), and how each run of the batch ended. Running the same
/// batch again reads it back, so that finished tasks are not run twice and a changed task is not resumed as if it
/// were the same.
package struct BatchManifest: Sendable {
    /// The manifest file.
    package let url: URL
    /// The batch's folder (journals and manifest).
    package let folder: URL
    private var object: [String: JSONValue]

    /// The folder of the batch that runs `tasks` with `spec`, under `journals`: `batches/<tasks name>-<digest of both
    /// paths>`, so that the same command finds the same folder again.
    package static func folder(journals: URL, spec: URL, tasks: URL) -> URL {
        let key = spec.standardizedFileURL.path + "\n" + tasks.standardizedFileURL.path
        let digest = StableDigest.hex(key.utf8).prefix(8)
        let name = tasks.deletingPathExtension().lastPathComponent
        return journals.appendingPathComponent("batches").appendingPathComponent("\(journalName(forTask: name))-\(digest)")
    }

    /// The journal file of a task in a batch's folder: its id, with characters unsafe in a file name replaced, and a
    /// digest of the id added when anything was replaced or the id has capitals (so that two ids never share a file,
    /// on a case-insensitive disk too).
    package static func journalName(forTask id: String) -> String {
        var safe = String(String.UnicodeScalarView(id.unicodeScalars.map { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || scalar == "-" || scalar == "_" || scalar == ".") ? scalar : "_"
        }))
        if safe == id, !safe.isEmpty, !safe.hasPrefix("."), safe.count <= 80, !safe.contains(where: \.isUppercase) { return safe }
        while safe.hasPrefix(".") { safe.removeFirst() }
        return "\(safe.isEmpty ? "task" : String(safe.prefix(64)))-\(StableDigest.hex(id.utf8).prefix(8))"
    }

    /// The journal of task `id` in `folder`.
    package static func journal(forTask id: String, in folder: URL) -> URL {
        folder.appendingPathComponent("\(journalName(forTask: id)).jsonl")
    }

    /// A task's digest: what makes it this task (its line's fields, as canonical JSON).
    package static func digest(_ fields: [JSONValue]) -> String {
        StableDigest.hex(JSONValue.array(fields).jsonString.utf8)
    }

    /// Makes the folder, reads the manifest of an earlier run if there is one, and checks that no task with a journal
    /// changed since: with `restartChanged` the journal of a changed task is set aside (`<name>.replaced-<time>.jsonl.old`)
    /// so that it starts again; without, the batch is refused, naming the tasks. Then writes the manifest for this run.
    /// `tasks` are the ids and digests in the file's order.
    package static func prepare(
        folder: URL, spec: URL, tasksFile: URL, tasks: [(id: String, digest: String)], restartChanged: Bool, now: Date = Date()
    ) throws(CoreError) -> BatchManifest {
        let url = folder.appendingPathComponent("batch.json")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw CoreError(.batch, "cannot make the batch folder \(folder.path) (check its parent's permissions, or choose another --batch-dir or --journal-dir)", underlying: error)
        }
        var object: [String: JSONValue] = [:]
        if FileManager.default.fileExists(atPath: url.path) {
            guard let data = try? Data(contentsOf: url), let value = try? JSONValue(parsing: data), let existing = value.objectValue else {
                throw CoreError(.batch, "\(url.path) is not a batch manifest; remove it or choose another --batch-dir")
            }
            object = existing
        }
        let known = object["tasks"]?.objectValue ?? [:]
        let changed = tasks.filter { task in
            guard let before = known[task.id]?.stringValue, before != task.digest else { return false }
            return FileManager.default.fileExists(atPath: journal(forTask: task.id, in: folder).path)
        }.map(\.id)
        if !changed.isEmpty, !restartChanged {
            let list = changed.prefix(5).map { "'\($0)'" }.joined(separator: ", ") + (changed.count > 5 ? " and \(changed.count - 5) more" : "")
            let one = changed.count == 1
            throw CoreError(
                .batch,
                "\(changed.count) task\(one ? "" : "s") changed since \(one ? "its journal was" : "their journals were") written (\(list)); rerun with --restart-changed to start \(one ? "it" : "them") again, or restore the tasks file")
        }
        for id in changed {
            let aside = folder.appendingPathComponent("\(journalName(forTask: id)).replaced-\(Int(now.timeIntervalSince1970)).jsonl.old")
            do {
                try FileManager.default.moveItem(at: journal(forTask: id, in: folder), to: aside)
            } catch {
                throw CoreError(.batch, "cannot set aside the journal of task '\(id)' (check the batch folder's permissions)", underlying: error)
            }
        }
        object["version"] = 1
        object["spec"] = .string(spec.standardizedFileURL.path)
        object["tasks_file"] = .string(tasksFile.standardizedFileURL.path)
        object["tasks"] = .object(known.merging(tasks.map { ($0.id, JSONValue.string($0.digest)) }) { _, new in new })
        object["runs"] = object["runs"] ?? []
        let manifest = BatchManifest(folder: folder, object: object, changed: changed)
        try manifest.write()
        return manifest
    }

    /// The tasks whose journals were set aside because their line changed.
    package let changed: [String]

    private init(folder: URL, object: [String: JSONValue], changed: [String]) {
        self.folder = folder
        self.url = folder.appendingPathComponent("batch.json")
        self.object = object
        self.changed = changed
    }

    /// The runs of the batch so far, oldest first, as `runs` in the manifest.
    package var runs: [JSONValue] { object["runs"]?.arrayValue ?? [] }

    /// Adds this run's outcome to the manifest's `runs` and writes it.
    package mutating func record(_ summary: BatchSummary, interrupted: Bool, at time: Date = Date()) throws(CoreError) {
        object["runs"] = .array(runs + [[
            "finished_at": .string(ISO8601DateFormatter().string(from: time)), "tasks": .number(Double(summary.total)),
            "completed": .number(Double(summary.completed)), "finished": .number(Double(summary.finished)), "interrupted": .bool(interrupted),
            "elapsed_seconds": .number(summary.elapsedSeconds),
        ]])
        try write()
    }

    /// Writes the manifest (atomically), readable by its owner only, as the journals beside it are.
    func write() throws(CoreError) {
        do {
            try Data((JSONValue.object(object).jsonString + "\n").utf8).write(to: url, options: .atomic)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: url.path)
        } catch {
            throw CoreError(.batch, "cannot write the batch manifest \(url.path) (check the folder's permissions and free space)", underlying: error)
        }
    }
}
