import Foundation
import ResponsesAPI

/// How one task of a batch ended.
public struct BatchResult: Sendable {
    /// How a task came to its result.
    public enum Origin: String, Sendable, Hashable {
        /// It ran from the start.
        case started
        /// Its journal was cut (a kill, a Ctrl-C): it went on from there.
        case resumed
        /// Its journal records its end from an earlier run of the batch: it was not run again.
        case journaled
        /// The batch's budget was spent before it could start (or be resumed).
        case notStarted = "not_started"
    }

    /// The task's id.
    public var id: String
    /// How the run ended.
    public var result: RunResult
    /// How it came to it.
    public var origin: Origin

    /// Creates a task's result.
    public init(id: String, result: RunResult, origin: Origin) {
        self.id = id
        self.result = result
        self.origin = origin
    }
}
