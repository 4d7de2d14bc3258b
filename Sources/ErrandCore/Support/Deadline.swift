import Foundation
import Logging
import ResponsesAPI
import NIOCore
import NIOPosix
import Synchronization
import Tracing

/// A time limit passed (a tool call's, or one set with ``withDeadline(_:_:)``).
public struct DeadlineExceeded: Error, Sendable {
    public init() {}
}

/// The first outcome of a deadline race; whoever comes second (the waiter or the outcome) completes the hand-over.
private final class FirstOutcome<T: Sendable>: Sendable {
    private let state = Mutex<(result: Result<T, any Error>?, continuation: CheckedContinuation<T, any Error>?)>((nil, nil))

    func settle(_ result: Result<T, any Error>) {
        let waiting = state.withLock { state -> CheckedContinuation<T, any Error>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.continuation = nil }
            return state.continuation
        }
        waiting?.resume(with: result)
    }

    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        let ready = state.withLock { state -> Result<T, any Error>? in
            if let result = state.result { return result }
            state.continuation = continuation
            return nil
        }
        if let ready { continuation.resume(with: ready) }
    }
}

/// Runs `operation` until it returns, `timeout` passes, or the calling task is cancelled, whichever comes first. The
/// operation runs in a task of its own and is cancelled when abandoned, so that a tool which ignores cancellation
/// cannot hold the run.
public func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let outcome = FirstOutcome<T>()
    let work = Task {
        do {
            outcome.settle(.success(try await operation()))
        } catch {
            outcome.settle(.failure(error))
        }
    }
    // A NIO scheduled task, not a sleeping Task: cancelling it frees it at once, where a cancelled Task.sleep keeps
    // its timer until the deadline (measured: ~1 KB per call held for the whole timeout).
    let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(timeout)) {
        outcome.settle(.failure(DeadlineExceeded()))
    }
    defer {
        timer.cancel()
        work.cancel()
    }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { outcome.wait($0) }
    } onCancel: {
        outcome.settle(.failure(CancellationError()))
    }
}
