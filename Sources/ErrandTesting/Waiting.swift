/// A condition a test waited for that did not come true in time: the test fails with what it waited for, instead of
/// polling for ever and holding CI until the job's own limit ends it.
public struct WaitTimedOut: Error, CustomStringConvertible, Sendable {
    /// What was waited for, as the test put it ("the second request", "the journal to name the background response").
    public var what: String
    /// How long it was waited for.
    public var timeout: Duration

    /// The error for a wait of `timeout` for `what`.
    public init(what: String, timeout: Duration) {
        self.what = what
        self.timeout = timeout
    }

    /// "timed out after 30.0 seconds waiting for the second request".
    public var description: String { "timed out after \(timeout) waiting for \(what)" }
}

/// Checks `condition` every `pollEvery` until it holds, for at most `timeout`, and throws ``WaitTimedOut`` naming
/// `what` if it never does.
///
/// The condition is checked once more after the deadline has passed, so a wait never fails without having looked
/// at least once at the end. The wait is cancellable (a test's time limit cancels it): it then throws
/// `CancellationError`.
///
/// - Parameters:
///   - what: What is waited for, for the error: "the second request", "the command to have run".
///   - timeout: How long to wait at most; generous, as the point is to fail a hang, not to measure speed.
///   - pollEvery: How long to sleep between two checks.
///   - condition: Whether what is waited for has happened.
public func waitUntil(
    _ what: String, timeout: Duration = .seconds(30), pollEvery: Duration = .milliseconds(20), _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        if try await condition() { return }
        if clock.now >= deadline { throw WaitTimedOut(what: what, timeout: timeout) }
        try await clock.sleep(until: min(clock.now + pollEvery, deadline))
    }
}
