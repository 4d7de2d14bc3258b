import Foundation
import ResponsesAPI

/// What a batch has done so far: how its tasks ended and how they came to it, the tokens and tool calls, and the time.
public struct BatchSummary: Sendable, Hashable {
    /// How many tasks the batch has.
    public var total: Int
    /// How many have finished (in this run, or from their journals).
    public private(set) var finished = 0
    /// Finished tasks by status.
    public private(set) var byStatus: [RunResult.Status: Int] = [:]
    /// Finished tasks by how they came to their result.
    public private(set) var byOrigin: [BatchResult.Origin: Int] = [:]
    /// Tokens over the finished tasks.
    public private(set) var usage = Usage()
    /// Tool calls over the finished tasks.
    public private(set) var toolCalls = 0
    /// USD over the finished tasks whose cost is known.
    public private(set) var pricedCostUSD: Double = 0
    /// Finished tasks whose cost is unknown (their model has no price).
    public private(set) var unpricedTasks = 0
    /// Seconds since the batch started, to the millisecond.
    public var elapsedSeconds: Double = 0

    /// An empty summary of a batch of `total` tasks.
    public init(total: Int) {
        self.total = total
    }

    /// How many tasks completed.
    public var completed: Int { byStatus[.completed] ?? 0 }
    /// How many tasks did not finish (the batch was interrupted).
    public var notRun: Int { total - finished }
    /// What the finished tasks cost in USD; nil when none of them is priced.
    public var costUSD: Double? { unpricedTasks == finished && finished > 0 ? nil : pricedCostUSD }

    /// Counts a finished task.
    public mutating func add(_ result: BatchResult) {
        finished += 1
        byStatus[result.result.status, default: 0] += 1
        byOrigin[result.origin, default: 0] += 1
        usage = usage + result.result.usage
        toolCalls += result.result.toolCalls.count
        if let cost = result.result.costUSD { pricedCostUSD += cost } else { unpricedTasks += 1 }
    }
}
