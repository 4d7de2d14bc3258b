import ErrandCore
import ErrandSpec
import Foundation
import ResponsesAPI
import Testing

/// What `errand batch` decides before its first task, as a library: no binary to spawn.
@Suite struct BatchPlanTests {
    let folder: URL
    let specFile: URL
    let spec: AgentSpec

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-plan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("repo"), withIntermediateDirectories: true)
        specFile = folder.appendingPathComponent("agent.json")
        let text = #"{"name": "planner", "model": "m", "provider": {"base_url": "http://127.0.0.1:9/v1"}, "tools": ["read_file"], "limits": {"max_turns": 5}}"#
        try text.write(to: specFile, atomically: true, encoding: .utf8)
        spec = try AgentSpec.load(specFile)
    }

    var tasksFile: URL { folder.appendingPathComponent("tasks.jsonl") }
    var journals: FileRunStore { FileRunStore(folder: folder.appendingPathComponent("runs")) }

    func plan(_ entries: [BatchTasks.Entry], concurrency: Int? = nil, restartChanged: Bool = false) throws -> BatchPlan {
        try BatchPlan.prepare(
            spec: spec, specFile: specFile, tasksFile: tasksFile, entries: entries, concurrency: concurrency, journals: journals,
            restartChanged: restartChanged, environment: [:])
    }

    @Test func theFolderIsTheSameForTheSameFilesAndDiffersOtherwise() throws {
        let one = BatchManifest.folder(journals: journals.folder, spec: specFile, tasks: tasksFile)
        #expect(one == BatchManifest.folder(journals: journals.folder, spec: specFile, tasks: tasksFile))
        #expect(one.path.hasPrefix(journals.folder.appendingPathComponent("batches").path))
        #expect(one.lastPathComponent.hasPrefix("tasks-"))
        #expect(one != BatchManifest.folder(journals: journals.folder, spec: specFile, tasks: folder.appendingPathComponent("other.jsonl")))
        #expect(try plan([BatchTasks.Entry(id: "a", task: "x")]).folder == one)
    }

    @Test func poolAndConcurrencyFollowTheFlagOrTheProvider() throws {
        let given = try plan([BatchTasks.Entry(id: "a", task: "x")], concurrency: 3)
        #expect(given.concurrency == 3)
        #expect(given.clientConfiguration.maxConnectionsPerHost == 3)
        let suggested = try plan([BatchTasks.Entry(id: "a", task: "x")])
        #expect(suggested.concurrency == suggested.provider.suggestedConcurrency)
        #expect(suggested.clientConfiguration.maxConnectionsPerHost == suggested.concurrency)
    }

    @Test func eachTaskOverridesTheSpecWithItsOwnFields() throws {
        let repo = folder.appendingPathComponent("repo")
        let entries = [BatchTasks.Entry(id: "a", task: "x"), BatchTasks.Entry(id: "b", task: "y", model: "big", workspace: repo, maxTurns: 2)]
        let tasks = try plan(entries).tasks()
        #expect(tasks.map(\.id) == ["a", "b"])
        #expect(tasks.map(\.agent.model) == ["m", "big"])
        #expect(tasks.map(\.agent.limits.maxTurns) == [5, 2])
        #expect(tasks[1].agent.workspace?.root.path == repo.resolvingSymlinksInPath().path)
    }

    @Test func aTaskWhoseAgentCannotBeMadeIsNamed() throws {
        let gone = folder.appendingPathComponent("gone")
        let plan = try plan([BatchTasks.Entry(id: "lost", task: "x", workspace: gone)])
        #expect {
            _ = try plan.tasks()
        } throws: { error in
            guard let error = error as? SpecError else { return false }
            return error.kind == .setup && error.description.hasPrefix("task 'lost': ")
        }
    }

    @Test func aChangedTaskWithAJournalIsRefusedOrSetAside() throws {
        let first = try plan([BatchTasks.Entry(id: "a", task: "one"), BatchTasks.Entry(id: "b", task: "two")])
        // Task a ran (it has a journal); b did not.
        let journal = BatchManifest.journal(forTask: "a", in: first.folder)
        try "{}\n".write(to: journal, atomically: true, encoding: .utf8)
        let changed = [BatchTasks.Entry(id: "a", task: "one, changed"), BatchTasks.Entry(id: "b", task: "two, changed")]
        #expect {
            _ = try plan(changed)
        } throws: { error in
            "\(error)".contains("1 task changed since its journal was written ('a'); rerun with --restart-changed")
        }
        #expect(FileManager.default.fileExists(atPath: journal.path))
        let restarted = try plan(changed, restartChanged: true)
        #expect(restarted.manifest.changed == ["a"])
        #expect(!FileManager.default.fileExists(atPath: journal.path))
        let aside = try FileManager.default.contentsOfDirectory(atPath: first.folder.path).filter { $0.hasPrefix("a.replaced-") }
        #expect(aside.count == 1)
        // The same tasks again are not a change.
        #expect(try plan(changed).manifest.changed.isEmpty)
    }

    @Test func theManifestKeepsEveryRunOfTheBatch() throws {
        var plan = try plan([BatchTasks.Entry(id: "a", task: "x")])
        var summary = BatchSummary(total: 1)
        summary.elapsedSeconds = 1.5
        try plan.record(summary, interrupted: true)
        try plan.record(summary, interrupted: false)
        let manifest = try JSONValue(parsing: Data(contentsOf: plan.manifest.url))
        let runs = try #require(manifest["runs"]?.arrayValue)
        #expect(runs.map { $0["interrupted"]?.boolValue } == [true, false])
        #expect(manifest["tasks"]?["a"]?.stringValue == BatchPlan.digest(BatchTasks.Entry(id: "a", task: "x")))
        let attributes = try FileManager.default.attributesOfItem(atPath: plan.manifest.url.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test func aDigestChangesWithEveryFieldOfTheLine() {
        let base = BatchTasks.Entry(id: "a", task: "x")
        let variants = [
            BatchTasks.Entry(id: "a", task: "y"), BatchTasks.Entry(id: "a", task: "x", model: "m"),
            BatchTasks.Entry(id: "a", task: "x", workspace: URL(fileURLWithPath: "/tmp")), BatchTasks.Entry(id: "a", task: "x", maxTurns: 1),
        ]
        let digests = Set(([base] + variants).map(BatchPlan.digest))
        #expect(digests.count == 5)
        #expect(BatchPlan.digest(base) == BatchPlan.digest(BatchTasks.Entry(id: "other id", task: "x")))
    }
}
