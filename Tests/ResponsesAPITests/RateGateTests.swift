import Foundation
import Testing

@testable import ResponsesAPI

/// The pacing a client's requests go through: per-minute caps over a sliding window, and a wait a server asked for
/// that holds every request.
@Suite(.timeLimit(.minutes(3))) struct RateGateTests {
    func elapsed(_ body: () async throws -> Void) async rethrows -> Duration {
        let start = ContinuousClock.now
        try await body()
        return ContinuousClock.now - start
    }

    @Test func noCapsNeverWait() async throws {
        let gate = RateGate(limits: RateLimits())
        let took = try await elapsed { for _ in 0..<1000 { try await gate.admit() } }
        #expect(took < .seconds(5))
        #expect(!gate.countsTokens)
    }

    @Test func theRequestCapHoldsTheNextRequestUntilTheWindowMoves() async throws {
        let gate = RateGate(limits: RateLimits(maxRequestsPerMinute: 2), window: .seconds(2))
        let firstTwo = try await elapsed {
            try await gate.admit()
            try await gate.admit()
        }
        #expect(firstTwo < .milliseconds(1000))
        let third = try await elapsed { try await gate.admit() }
        #expect(third >= .milliseconds(1000), "\(third)")
        #expect(third < .seconds(15))
    }

    @Test func theTokenCapHoldsRequestsOnceReached() async throws {
        let gate = RateGate(limits: RateLimits(maxTokensPerMinute: 100), window: .seconds(2))
        #expect(gate.countsTokens)
        try await gate.admit()
        gate.record(tokens: 60)
        let under = try await elapsed { try await gate.admit() }
        #expect(under < .milliseconds(1000), "60 of 100 tokens: no wait")
        gate.record(tokens: 60)
        let over = try await elapsed { try await gate.admit() }
        #expect(over >= .milliseconds(1000), "120 of 100 tokens: wait for the window (\(over))")
    }

    @Test func aServerRequestedWaitHoldsEveryCaller() async throws {
        let gate = RateGate(limits: RateLimits())
        gate.block(for: .milliseconds(300))
        gate.block(for: .milliseconds(50))  // a shorter wait does not shorten the longer one
        let took = try await elapsed {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 { group.addTask { try await gate.admit() } }
                try await group.waitForAll()
            }
        }
        #expect(took >= .milliseconds(250), "\(took)")
        #expect(took < .seconds(15))
    }

    @Test func aCancelledWaitThrows() async throws {
        let gate = RateGate(limits: RateLimits())
        gate.block(for: .seconds(30))
        let waiting = Task { try await gate.admit() }
        try await Task.sleep(for: .milliseconds(20))
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
    }
}
