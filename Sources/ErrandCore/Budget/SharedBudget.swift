import Foundation
import Synchronization

/// A budget shared by several runs: a batch's (`--batch-max-cost`), and later an agent's with the agents it calls.
/// Each run adds what its calls cost as they return; once the budget is spent, every run sharing it stops at its next
/// step (status `budget_exceeded`) and no new one starts.
public final class SharedBudget: Sendable {
    /// The most the runs may spend together, in USD.
    public let maxCostUSD: Double?
    /// The most tokens the runs may use together.
    public let maxTotalTokens: Int?
    /// What it is for, in messages: `the batch's budget`.
    public let name: String
    /// A budget this one is part of (a batch's, for a run's children): what is spent here is spent there too, and
    /// this one is spent when that one is.
    public let parent: SharedBudget?
    private let spent = Mutex<(cost: Double, tokens: Int)>((0, 0))

    /// Creates a budget, part of `parent` when given.
    public init(maxCostUSD: Double? = nil, maxTotalTokens: Int? = nil, name: String = "the shared budget", parent: SharedBudget? = nil) {
        self.maxCostUSD = maxCostUSD
        self.maxTotalTokens = maxTotalTokens
        self.name = name
        self.parent = parent
    }

    /// Whether this budget or one it is part of limits cost.
    public var limitsCost: Bool { maxCostUSD != nil || parent?.limitsCost == true }

    /// Counts a call's cost (nil when unpriced: only its tokens count) and tokens, here and in the parent.
    public func add(costUSD: Double?, tokens: Int) {
        spent.withLock { spent in
            spent.cost += costUSD ?? 0
            spent.tokens += tokens
        }
        parent?.add(costUSD: costUSD, tokens: tokens)
    }

    /// What has been spent so far.
    public var spentSoFar: (costUSD: Double, tokens: Int) { spent.withLock { ($0.cost, $0.tokens) } }

    /// Why no more may be spent, or nil while some budget is left.
    public var exhausted: String? {
        let (cost, tokens) = spentSoFar
        if let limit = maxCostUSD, cost >= limit { return "\(name) of \(USD.format(limit)) is spent (\(USD.format(cost)))" }
        if let limit = maxTotalTokens, tokens >= limit { return "\(name) of \(limit) tokens is spent (\(tokens))" }
        return parent?.exhausted
    }
}
