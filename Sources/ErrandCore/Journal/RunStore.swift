import Foundation
import ResponsesAPI

/// The folder of journals: where a run's journal goes, which runs there are, and how one is found again (by id, or
/// `last` for the one that started last).
///
/// ```swift
/// let store = RunStore.standard()                  // ERRAND_JOURNAL_DIR, or .errand/runs
/// let runID = Runner.makeRunID()
/// let result = await runner.run(agent, input: "…", journal: store.journal(for: runID), runID: runID)
/// for run in try store.list() { print(run.runID, run.status ?? "unfinished") }
/// ```
public struct RunStore: Sendable {
    /// The folder.
    public let folder: URL

    /// A store in `folder`.
    public init(folder: URL) {
        self.folder = folder.standardizedFileURL
    }

    /// The store a command uses: `folder` when given, else `ERRAND_JOURNAL_DIR`, else `.errand/runs`.
    public static func standard(folder: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) -> RunStore {
        RunStore(folder: URL(fileURLWithPath: folder ?? environment["ERRAND_JOURNAL_DIR"] ?? ".errand/runs"))
    }

    /// The journal of the run `runID` (whether or not it exists yet).
    public func journal(for runID: String) -> URL {
        folder.appendingPathComponent("\(runID).jsonl")
    }

    /// The journal of an existing run: `runID`, or `last` for the run that started last.
    public func existingJournal(_ runID: String) throws(CoreError) -> URL {
        if runID == "last" {
            guard let last = try list().last else { throw CoreError(.runStore, "there are no runs in \(folder.path) yet") }
            return last.journal
        }
        let url = journal(for: runID)
        guard FileManager.default.fileExists(atPath: url.path) else { throw CoreError(.runStore, "no journal for run \(runID) in \(folder.path)") }
        return url
    }

    /// One journaled run, as `errand runs` lists it.
    public struct Summary: Sendable, Hashable {
        /// The run's id.
        public var runID: String
        /// The journal file.
        public var journal: URL
        /// The agent's name.
        public var agent: String
        /// The model.
        public var model: String
        /// How it ended, or `nil` when its journal has no end (running, or cut by a crash).
        public var status: RunResult.Status?
        /// Model turns.
        public var turns: Int
        /// Tokens over the run.
        public var totalTokens: Int
        /// When it started.
        public var started: Date
        /// The first line of the task.
        public var task: String
        /// Why it did not complete, when it did not.
        public var error: String?
    }

    /// Every run in the folder, oldest first. A file that is not a journal is left out.
    public func list() throws(CoreError) -> [Summary] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        } catch {
            if !FileManager.default.fileExists(atPath: folder.path) { return [] }
            throw CoreError(.runStore, "cannot list the runs in \(folder.path): \(Journal.describe(error))", underlying: error)
        }
        return names.filter { $0.hasSuffix(".jsonl") }.compactMap { name in
            let url = folder.appendingPathComponent(name)
            guard let records = try? Journal.read(url), let state = try? RunState(replaying: records), let first = records.first else { return nil }
            return Summary(
                runID: state.runID, journal: url, agent: state.agent, model: state.model, status: state.finished?.status, turns: state.turn,
                totalTokens: state.usage.totalTokens, started: Date(timeIntervalSince1970: first.time), task: Self.task(of: state.started?.input ?? []),
                error: state.finished?.message)
        }.sorted { ($0.started, $0.runID) < ($1.started, $1.runID) }
    }

    /// The first line of the last user message of the input.
    public static func task(of input: [InputItem]) -> String {
        for item in input.reversed() {
            let json = (try? JSONValue(encoding: item)) ?? .null
            guard json["role"] == "user" else { continue }
            let text = json["content"]?.stringValue
                ?? (json["content"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }.joined(separator: " ")
            return String(text.split(separator: "\n", omittingEmptySubsequences: true).first ?? "")
        }
        return ""
    }
}
