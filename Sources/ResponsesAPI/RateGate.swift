import Foundation
import Synchronization

/// Caps on what one client sends per minute (over a sliding minute), shared by every task that uses the client.
public struct RateLimits: Sendable, Hashable {
    /// The most requests a minute (`nil`: no cap).
    public var maxRequestsPerMinute: Int?
    /// The most tokens (input and output, as the responses report them) a minute (`nil`: no cap).
    public var maxTokensPerMinute: Int?

    /// Creates caps; none by default.
    public init(maxRequestsPerMinute: Int? = nil, maxTokensPerMinute: Int? = nil) {
        self.maxRequestsPerMinute = maxRequestsPerMinute
        self.maxTokensPerMinute = maxTokensPerMinute
    }
}

/// Pacing shared beyond one client, for instance by every worker of a queue through its database: asked before each
/// request (after the client's own ``RateLimits``), told when a server asks everyone to wait (a 429 or 503 with
/// `retry-after`) and how many tokens each response used. ``hold(for:)`` and ``record(tokens:)`` must not block:
/// an implementation that writes somewhere does it in the background.
public protocol SharedRequestGate: Sendable {
    /// Waits until a request may go, and counts it.
    func admit() async throws
    /// Every request through the gate waits `wait` (a server asked for it).
    func hold(for wait: Duration)
    /// Counts the tokens a response used.
    func record(tokens: Int)
}

/// The pacing of one client's requests: a wait a server asked for (a 429 or 503 with `retry-after`) holds every
/// request the client sends, not only the one that was refused; and the per-minute caps of ``RateLimits``.
final class RateGate: Sendable {
    private struct State {
        var blockedUntil: ContinuousClock.Instant?
        var requests: [ContinuousClock.Instant] = []
        var tokens: [(at: ContinuousClock.Instant, count: Int)] = []
    }
    private let state = Mutex(State())
    let limits: RateLimits
    private let window: Duration

    /// A gate for `limits`, over a sliding `window` (a minute; shorter in tests).
    init(limits: RateLimits, window: Duration = .seconds(60)) {
        self.limits = limits
        self.window = window
    }

    /// Whether tokens are counted at all.
    var countsTokens: Bool { limits.maxTokensPerMinute != nil }

    /// Waits until a request may go, then counts it.
    func admit() async throws {
        while true {
            let wait = state.withLock { state -> Duration? in
                let now = ContinuousClock.now
                var until = state.blockedUntil.flatMap { $0 > now ? $0 : nil }
                state.requests.removeAll { now - $0 >= window }
                state.tokens.removeAll { now - $0.at >= window }
                if let cap = limits.maxRequestsPerMinute, state.requests.count >= max(1, cap), let oldest = state.requests.first {
                    until = max(until ?? now, oldest + window)
                }
                if let cap = limits.maxTokensPerMinute, state.tokens.reduce(0, { $0 + $1.count }) >= cap, let oldest = state.tokens.first {
                    until = max(until ?? now, oldest.at + window)
                }
                guard let until else {
                    if limits.maxRequestsPerMinute != nil { state.requests.append(now) }
                    return nil
                }
                return until - now
            }
            guard let wait else { return }
            try await Task.sleep(for: wait)
        }
    }

    /// Holds every request for `wait` (a server asked for it).
    func block(for wait: Duration) {
        let until = ContinuousClock.now + wait
        state.withLock { state in
            if state.blockedUntil.map({ $0 < until }) ?? true { state.blockedUntil = until }
        }
    }

    /// Counts the tokens a response used.
    func record(tokens: Int) {
        guard countsTokens, tokens > 0 else { return }
        state.withLock { $0.tokens.append((ContinuousClock.now, tokens)) }
    }
}
