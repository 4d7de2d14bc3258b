import Foundation
import ResponsesAPI

/// Where a run's journal is written: each ``JournalEvent`` is appended before the next step starts, and an append
/// that fails ends the run (nothing happens that is not journaled first). ``Journal`` writes a JSON-lines file; other
/// stores (a database) write rows.
public protocol RunJournal: Sendable {
    /// Where the journal is, for people: a file's path, or a database and the run's id (never a password).
    var location: String { get }
    /// The journal's file, when it is one.
    var fileURL: URL? { get }
    /// Appends one event; throws when it cannot be written, and the run ends with that error.
    func append(_ event: JournalEvent, runID: String) async throws(CoreError)
    /// Releases what the journal holds (a file, a connection).
    func close() async
}

/// Where runs are journaled, and how a run is found again: by id, or `last` for the one that started last.
/// ``FileRunStore`` keeps a folder of JSON-lines files (the default); `ErrandQueue`'s `PostgresRunStore` keeps rows.
///
/// ```swift
/// let store = FileFileRunStore.standard()                 // ERRAND_JOURNAL_DIR, or .errand/runs
/// let result = await runner.run(agent, input: "…", store: store, runID: Runner.makeRunID())
/// for run in try await store.list() { print(run.runID, run.status ?? "unfinished") }
/// ```
public protocol RunStore: Sendable {
    /// Where the store is, for people (a folder, or a database without its password).
    var location: String { get }
    /// Opens the journal of the run `runID` for appending, creating it when it does not exist.
    func openJournal(runID: String, policy: JournalPolicy) async throws(CoreError) -> any RunJournal
    /// The journal of the run `runID`, or `nil` when the store has no such run.
    func records(runID: String) async throws(CoreError) -> [JournalRecord]?
    /// Every run, oldest first.
    func list() async throws(CoreError) -> [RunSummary]
    /// Where the run `runID`'s journal is, for people.
    func location(of runID: String) -> String
}

extension RunStore {
    /// The store and the run.
    public func location(of runID: String) -> String { "\(location) run \(runID)" }

    /// The id of an existing run: `runID`, or the top-level run that started last for `last` (not a run another
    /// started: resuming its parent resumes it).
    public func existingRunID(_ runID: String) async throws(CoreError) -> String {
        if runID == "last" {
            guard let last = try await list().last(where: { $0.parentRunID == nil }) else { throw CoreError(.runStore, "there are no runs in \(location) yet") }
            return last.runID
        }
        return runID
    }

    /// The journal of an existing run (`last` for the one that started last); a missing run is an error that says where it was looked for.
    public func existingRecords(_ runID: String) async throws(CoreError) -> [JournalRecord] {
        let id = try await existingRunID(runID)
        guard let records = try await records(runID: id) else { throw CoreError(.runStore, "no journal for run \(id) in \(location)") }
        return records
    }
}

/// One journaled run, as `errand runs` lists it.
public struct RunSummary: Sendable, Hashable {
    /// The run's id.
    public var runID: String
    /// Where its journal is (a file's path, or the database and run).
    public var journal: String
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
    /// What the run cost in USD, when every turn was priced.
    public var costUSD: Double?
    /// When it started.
    public var started: Date
    /// The first line of the task.
    public var task: String
    /// Why it did not complete, when it did not.
    public var error: String?
    /// The run that started this one (an agent used as a tool, a guardrail's judge), when there is one.
    public var parentRunID: String?

    /// The summary of a run's journal, or `nil` when the records do not make a run.
    public init?(records: [JournalRecord], journal: String) {
        guard let first = records.first, let state = try? RunState(replaying: records) else { return nil }
        self.runID = state.runID
        self.journal = journal
        self.agent = state.agent
        self.model = state.model
        self.status = state.finished?.status
        self.turns = state.turn
        self.totalTokens = state.usage.totalTokens
        self.costUSD = state.cost
        self.started = Date(timeIntervalSince1970: first.time)
        self.task = Self.task(of: state.started?.input ?? [])
        self.error = state.finished?.message
        self.parentRunID = state.started?.parentRunID
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

/// The folder of journals, one JSON-lines file a run (`<run id>.jsonl`).
public struct FileRunStore: RunStore {
    /// The folder.
    public let folder: URL

    /// A store in `folder`.
    public init(folder: URL) {
        self.folder = folder.standardizedFileURL
    }

    /// The store a command uses: `folder` when given, else `ERRAND_JOURNAL_DIR`, else `.errand/runs`.
    public static func standard(folder: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) -> FileRunStore {
        FileRunStore(folder: URL(fileURLWithPath: folder ?? environment["ERRAND_JOURNAL_DIR"] ?? ".errand/runs"))
    }

    public var location: String { folder.path }

    /// The journal's file name.
    public func location(of runID: String) -> String { journal(for: runID).lastPathComponent }

    /// The journal of the run `runID` (whether or not it exists yet).
    public func journal(for runID: String) -> URL {
        folder.appendingPathComponent("\(runID).jsonl")
    }

    /// The journal of an existing run: `runID`, or `last` for the run that started last.
    public func existingJournal(_ runID: String) throws(CoreError) -> URL {
        if runID == "last" {
            guard let last = try listFiles().last(where: { $0.parentRunID == nil }) else { throw CoreError(.runStore, "there are no runs in \(folder.path) yet") }
            return URL(fileURLWithPath: last.journal)
        }
        let url = journal(for: runID)
        guard FileManager.default.fileExists(atPath: url.path) else { throw CoreError(.runStore, "no journal for run \(runID) in \(folder.path)") }
        return url
    }

    public func openJournal(runID: String, policy: JournalPolicy) async throws(CoreError) -> any RunJournal {
        try Journal(url: journal(for: runID), policy: policy)
    }

    public func records(runID: String) async throws(CoreError) -> [JournalRecord]? {
        let url = journal(for: runID)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try Journal.read(url)
    }

    public func list() async throws(CoreError) -> [RunSummary] {
        try listFiles()
    }

    /// Every run in the folder, oldest first. A file that is not a journal is left out.
    public func listFiles() throws(CoreError) -> [RunSummary] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        } catch {
            if !FileManager.default.fileExists(atPath: folder.path) { return [] }
            throw CoreError(.runStore, "cannot list the runs in \(folder.path): \(Journal.describe(error))", underlying: error)
        }
        return names.filter { $0.hasSuffix(".jsonl") }.compactMap { name in
            let url = folder.appendingPathComponent(name)
            guard let records = try? Journal.read(url) else { return nil }
            return RunSummary(records: records, journal: url.path)
        }.sorted { ($0.started, $0.runID) < ($1.started, $1.runID) }
    }
}
