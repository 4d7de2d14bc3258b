import Foundation
import ResponsesAPI

extension RunState {
    /// A budget the run has reached, or that its next turn would pass.
    package struct BudgetStop: Sendable, Hashable {
        /// The budget's name as a spec writes it (`max_cost_usd`), the result's incomplete reason.
        package var budget: String
        /// What was spent and what the next turn would need, for people.
        package var message: String
    }

    /// What the run cost in USD; nil when any call with a usage had no price (the cost is unknown, not zero).
    package var cost: Double? { unpricedCalls == 0 ? pricedCost : nil }

    /// The tokens the next request will send: the conversation as the server holds it (the last usage, or a
    /// compaction's estimate), or the instructions, tools and history estimated, plus what the request adds.
    package var nextInputEstimate: Int {
        let adding = pendingInput.isEmpty ? 0 : TokenEstimate.of(pendingInput)
        if let contextTokens { return contextTokens + adding }
        return overheadTokens + TokenEstimate.of(history) + adding
    }

    /// The first budget of `limits` the run has reached, or (with `nextInput`, the tokens the next request would send)
    /// that the next request would pass: its input tokens on top of the totals, and their cost at `price`.
    package func budgetStop(_ limits: RunLimits, price: ModelPrice?, nextInput: Int?) -> BudgetStop? {
        let hint = "; resume it with a larger budget (--max-tokens or --max-cost)"
        func tokens(_ n: Int) -> String {
            var digits = String(n)
            var index = digits.endIndex
            while digits.distance(from: digits.startIndex, to: index) > 3 {
                index = digits.index(index, offsetBy: -3)
                digits.insert(",", at: index)
            }
            return digits
        }
        let spent: [(String, Int, Int?, String)] = [
            ("max_total_tokens", usage.totalTokens, limits.maxTotalTokens, "tokens"),
            ("max_input_tokens", usage.inputTokens, limits.maxInputTokens, "input tokens"),
            ("max_output_tokens", usage.outputTokens, limits.maxOutputTokens, "output tokens"),
        ]
        for (name, used, limit, noun) in spent {
            if let limit, used >= limit {
                return BudgetStop(budget: name, message: "the run has used \(tokens(used)) \(noun), its budget (\(name)) is \(tokens(limit))\(hint)")
            }
        }
        if let limit = limits.maxCostUSD, let cost, cost >= limit {
            return BudgetStop(
                budget: "max_cost_usd", message: "the run has spent \(USD.format(cost)) of its \(USD.format(limit)) budget (max_cost_usd)\(hint)")
        }
        guard let next = nextInput else { return nil }
        for (name, used, limit, noun) in spent.prefix(2) {
            if let limit, used + next > limit {
                return BudgetStop(
                    budget: name,
                    message: "the next turn would send about \(tokens(next)) input tokens, and the run has used \(tokens(used)) of its \(tokens(limit)) \(noun) (\(name))\(hint)")
            }
        }
        if let limit = limits.maxCostUSD, let cost, let price, cost + price.inputCost(next) > limit {
            return BudgetStop(
                budget: "max_cost_usd",
                message: "the next turn would cost at least \(USD.format(price.inputCost(next))) (about \(tokens(next)) input tokens), and the run has spent \(USD.format(cost)) of its \(USD.format(limit)) budget (max_cost_usd)\(hint)")
        }
        return nil
    }
}

/// Amounts in US dollars for people: `$2.35`, `$0.0123`, `$0.001`, `$0.000042`.
package enum USD {
    /// `amount` with as many decimals as its size needs.
    package static func format(_ amount: Double) -> String {
        guard amount.isFinite else { return "$?" }
        if amount < 0 { return "-" + format(-amount) }
        if amount == 0 { return "$0.00" }
        if amount >= 1 { return String(format: "$%.2f", amount) }
        // Four significant digits at most, trailing zeros trimmed down to cents: $0.0123, $0.001, $0.000042.
        let decimals = min(8, max(2, 3 - Int(floor(log10(amount)))))
        var text = String(format: "%.\(decimals)f", amount)
        while text.hasSuffix("0"), text.split(separator: ".").last.map({ $0.count > 2 }) == true { text.removeLast() }
        return "$" + text
    }
}
