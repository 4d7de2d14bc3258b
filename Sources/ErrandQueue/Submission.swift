import ErrandCore
import ErrandSpec
import Foundation
import ResponsesAPI

/// What `errand submit` stores: the spec, self-contained, and one row per task. The spec's instructions file and
/// command manifests are inlined, so that a worker on another machine needs none of the submitter's files; its
/// workspace and each task's are named relative to the folder the submit ran in, and each worker finds them under its
/// own `--workspace-root`.
public struct Submission: Sendable {
    /// The batch's name: `--batch`, else the spec's name and the tasks file's (`reviewer-tasks`).
    public var batch: String
    /// The spec's name.
    public var specName: String
    /// The self-contained spec: `{"format": 1, "spec": {…}, "manifests": {path: manifest}, "workspace": "relative"}`.
    public var bundle: JSONValue
    /// The bundle's digest.
    public var specDigest: String
    /// The tasks, in the file's order.
    public var tasks: [Task]

    /// One task's row.
    public struct Task: Sendable, Hashable {
        /// Its id in the batch.
        public var id: String
        /// The task line, with its workspace relative to the submit's folder.
        public var line: JSONValue
        /// The line's and the spec's digest: a task whose line or spec changed is a changed task.
        public var digest: String
        /// The run's id: the batch, the task and the digest, so a restarted changed task gets a journal of its own.
        public var runID: String
    }

    /// Reads and checks the spec and the tasks (as `errand batch` does), and makes them self-contained.
    public static func prepare(
        specFile: URL, tasksFile: URL, batch: String? = nil, currentFolder: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
        environment: [String: String] = ProcessInfo.processInfo.environment, maxTotalTokens: Int? = nil, maxCostUSD: Double? = nil
    ) throws(QueueError) -> Submission {
        let spec: AgentSpec
        let entries: [BatchTasks.Entry]
        do {
            spec = try AgentSpec.load(specFile, environment: environment)
            entries = try BatchTasks.load(tasksFile).entries
        } catch {
            throw QueueError(.refused, "\(error)")
        }
        let base = currentFolder.standardizedFileURL
        var root: JSONValue
        do {
            root = try JSONValue(parsing: try Data(contentsOf: specFile))
        } catch {
            throw QueueError(.refused, "cannot read \(specFile.path): \(error)")
        }
        guard var object = root.objectValue else { throw QueueError(.refused, "\(specFile.path) is not a spec object") }
        object.removeValue(forKey: "$schema")
        // Other specs travel with it only as files, which a worker on another machine does not have.
        var others: [String] = []
        if spec.tools.contains(where: { if case .agent = $0 { true } else { false } }) { others.append("agents used as tools") }
        if !spec.handoffs.isEmpty { others.append("handoffs") }
        if !(spec.guardrails.input.isEmpty && spec.guardrails.output.isEmpty) { others.append("guardrails") }
        if case .object(let schema)? = object["output_schema"], schema["file"] != nil { others.append("an output_schema file (inline the schema)") }
        if case .object(let schema)? = object["input_schema"], schema["file"] != nil { others.append("an input_schema file (inline the schema)") }
        if !others.isEmpty {
            throw QueueError(
                .refused,
                "\(specFile.lastPathComponent) names other files the queue cannot carry to its workers yet: \(others.joined(separator: ", ")); run it with errand run or errand batch")
        }
        if maxTotalTokens != nil || maxCostUSD != nil {
            // Budgets given at submit time travel in the stored spec's limits, so every worker applies them.
            var limits = object["limits"]?.objectValue ?? [:]
            if let maxTotalTokens { limits["max_total_tokens"] = .number(Double(maxTotalTokens)) }
            if let maxCostUSD { limits["max_cost_usd"] = .number(maxCostUSD) }
            object["limits"] = .object(limits)
            if let maxCostUSD, spec.pricing == nil, ModelCatalog.builtIn.price(for: spec.model ?? "") == nil {
                throw QueueError(.refused, ModelCatalog.noPrice(for: spec.model ?? "the spec's model", budget: "a cost budget (\(USD.format(maxCostUSD)))"))
            }
        }
        if object["instructions_file"] != nil {
            object.removeValue(forKey: "instructions_file")
            object["instructions"] = spec.instructions.map(JSONValue.string) ?? .null
        }
        var manifests: [String: JSONValue] = [:]
        if case .array(var tools)? = object["tools"] {
            var commands = spec.tools.compactMap { entry -> URL? in
                if case .command(_, let manifest) = entry { return manifest }
                return nil
            }.makeIterator()
            for index in tools.indices {
                guard case .object(var tool) = tools[index], tool["manifest"] != nil, let url = commands.next() else { continue }
                let name = "manifests/\(index)-\(url.deletingPathExtension().lastPathComponent).json"
                do {
                    manifests[name] = try JSONValue(parsing: try Data(contentsOf: url))
                } catch {
                    throw QueueError(.refused, "cannot read the manifest \(url.path): \(error)")
                }
                tool["manifest"] = .string(name)
                tools[index] = .object(tool)
            }
            object["tools"] = .array(tools)
        }
        if case .object(var workspace)? = object["workspace"] {
            workspace.removeValue(forKey: "root")
            object["workspace"] = .object(workspace)
        }
        let workspace = try relative(spec.workspaceRoot, to: base, what: "the spec's workspace")
        root = .object(object)
        let bundle: JSONValue = ["format": 1, "spec": root, "manifests": .object(manifests), "workspace": .string(workspace)]
        let specDigest = BatchManifest.digest([bundle])
        let batchName = batch ?? "\(spec.name)-\(tasksFile.deletingPathExtension().lastPathComponent)"
        var tasks: [Task] = []
        for entry in entries {
            var line: [String: JSONValue] = ["id": .string(entry.id), "task": .string(entry.task)]
            if let model = entry.model { line["model"] = .string(model) }
            if let maxTurns = entry.maxTurns { line["max_turns"] = .number(Double(maxTurns)) }
            if let folder = entry.workspace { line["workspace"] = .string(try relative(folder, to: base, what: "task '\(entry.id)''s workspace")) }
            let digest = BatchManifest.digest([.object(line), .string(specDigest)])
            tasks.append(Task(id: entry.id, line: .object(line), digest: digest, runID: "\(batchName)/\(entry.id)@\(digest.prefix(10))"))
        }
        return Submission(batch: batchName, specName: spec.name, bundle: bundle, specDigest: specDigest, tasks: tasks)
    }

    /// `folder` relative to `base`; a folder outside it cannot be named to a worker.
    static func relative(_ folder: URL, to base: URL, what: String) throws(QueueError) -> String {
        let path = folder.standardizedFileURL.resolvingSymlinksInPath().path
        let root = base.standardizedFileURL.resolvingSymlinksInPath().path
        if path == root { return "." }
        let prefix = root.hasSuffix("/") ? root : root + "/"
        guard path.hasPrefix(prefix) else {
            throw QueueError(
                .refused,
                "\(what) \(path) is outside the folder the submit runs in (\(root)); workers find workspaces under their --workspace-root, so submit from a folder that contains it")
        }
        return String(path.dropFirst(prefix.count))
    }
}

/// A submitted spec made runnable on a worker: written to a folder of its own (the spec and its manifests), loaded as
/// any spec is, with its workspace under the worker's root.
struct SpecBundle: Sendable {
    let spec: AgentSpec
    /// The spec's workspace, relative to the worker's root.
    let workspace: String

    /// Writes `bundle` into `folder` and loads it.
    static func materialize(_ bundle: JSONValue, into folder: URL, environment: [String: String]) throws(QueueError) -> SpecBundle {
        guard bundle["format"]?.intValue == 1, let spec = bundle["spec"], let workspace = bundle["workspace"]?.stringValue else {
            throw QueueError(.refused, "the stored spec is not in a format this errand reads (format \(bundle["format"]?.intValue ?? 0)); use the errand that submitted it")
        }
        do {
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("manifests"), withIntermediateDirectories: true)
            for (name, manifest) in bundle["manifests"]?.objectValue ?? [:] {
                guard name.hasPrefix("manifests/"), !name.contains("..") else { throw QueueError(.refused, "the stored spec names a manifest '\(name)' outside its folder") }
                try Data(manifest.jsonString.utf8).write(to: folder.appendingPathComponent(name))
            }
            let file = folder.appendingPathComponent("spec.json")
            try Data(spec.jsonString.utf8).write(to: file)
            return SpecBundle(spec: try AgentSpec.load(file, environment: environment), workspace: workspace)
        } catch let error as QueueError {
            throw error
        } catch {
            throw QueueError(.refused, "the stored spec does not load on this worker: \(error)")
        }
    }
}
