import Foundation
import ResponsesAPI

/// The limits of a run; reaching one ends the run with its own status and everything done so far.
public struct RunLimits: Sendable, Hashable {
    /// The most model turns (default 10, as the peers).
    public var maxTurns: Int
    /// The most tool calls over the run.
    public var maxToolCalls: Int?
    /// The wall-clock limit of the whole run.
    public var timeout: Duration?
    /// The limit of one tool call, unless the tool sets its own.
    public var toolTimeout: Duration
    /// How many tool calls of one turn run at once.
    public var maxToolConcurrency: Int
    /// The longest tool output sent to the model; longer ones are cut with a note.
    public var maxToolOutputCharacters: Int

    /// Creates limits.
    public init(
        maxTurns: Int = 10, maxToolCalls: Int? = nil, timeout: Duration? = nil, toolTimeout: Duration = .seconds(60),
        maxToolConcurrency: Int = 8, maxToolOutputCharacters: Int = 100_000
    ) {
        self.maxTurns = maxTurns
        self.maxToolCalls = maxToolCalls
        self.timeout = timeout
        self.toolTimeout = toolTimeout
        self.maxToolConcurrency = maxToolConcurrency
        self.maxToolOutputCharacters = maxToolOutputCharacters
    }
}
