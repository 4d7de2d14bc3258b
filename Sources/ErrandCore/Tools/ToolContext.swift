import Foundation
import Logging
import ResponsesAPI
import Synchronization

/// What a running tool can know and use: the run, the call, the workspace, a logger, and cancellation.
public struct ToolContext: Sendable {
    /// The run's id.
    public let runID: String
    /// The call's id (`call_id`), as the server gave it.
    public let callID: String
    /// The call's id made unique in the run: ``callID``, re-qualified when the server repeated an id of an earlier
    /// response (some restart at `call_0` every turn). The same when a resumed run runs the call again: key a side
    /// effect on it to make it happen once.
    public let uniqueCallID: String
    /// The run's workspace, when it has one.
    public let workspace: Workspace?
    /// A logger with the run and call in its metadata.
    public let logger: Logger
    /// Runs agents as children of this run (``Agent/asTool(name:description:parameters:)`` uses it); nil outside a run.
    public let subRuns: SubRuns?
    private let notes: ToolNotes

    /// Creates a context.
    public init(runID: String, callID: String, uniqueCallID: String? = nil, workspace: Workspace?, logger: Logger, subRuns: SubRuns? = nil) {
        self.subRuns = subRuns
        self.runID = runID
        self.callID = callID
        self.uniqueCallID = uniqueCallID ?? callID
        self.workspace = workspace
        self.logger = logger
        self.notes = ToolNotes()
    }

    /// Keeps a note about this call in the journal (not sent to the model), e.g. a command's stderr.
    public func note(_ text: String) { notes.append(text) }

    /// The notes kept so far.
    public var keptNotes: [String] { notes.all }

    /// Keeps the record of the child run this call made, for its journal line (and the parent's usage and cost).
    public func noteSubRun(_ record: SubRunRecord) { notes.subRun.set(record) }

    /// The child run this call made, when it made one.
    public var subRun: SubRunRecord? { notes.subRun.value }

    /// Whether the run was cancelled or the call timed out; long tools should check and stop.
    public var isCancelled: Bool { Task.isCancelled }

    /// Throws `CancellationError` when the run was cancelled or the call timed out.
    public func checkCancellation() throws { try Task.checkCancellation() }

    /// The workspace, or an error the model can read when the run has none.
    public func requireWorkspace() throws -> Workspace {
        guard let workspace else { throw ToolError("this run has no workspace") }
        return workspace
    }
}

/// The notes of one call, shared by the copies of its context.
final class ToolNotes: Sendable {
    private let storage = Mutex<[String]>([])
    let subRun = SubRunRecorder()
    func append(_ text: String) { storage.withLock { $0.append(text) } }
    var all: [String] { storage.withLock { $0 } }
}
