import Foundation
import ResponsesAPI
import NIOCore
import NIOPosix
import Synchronization

// The one deadline helper of Errand: a NIO timer races an operation. What happens to an operation still running when
// its time is up depends on who owns it: a tool call is abandoned (``withDeadline(_:_:)``), a run or a request is
// cancelled and waited for so that it winds down in order (``withTimeLimit(_:_:)``).

/// A time limit passed (a tool call's, or one set with ``withDeadline(_:_:)``).
package struct DeadlineExceeded: Error, Sendable {
    package init() {}
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
package func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
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

/// Runs `operation` under a time limit (none when `timeout` is `nil`): when the time passes first, the operation is
/// cancelled and then *waited for*, so that it can wind down in order (a run writes its journal's last line, a
/// background response is cancelled on the server); its value comes back with `timedOut` true. Cancelling the
/// calling task cancels the operation the same way. Used for a run's time limit and `errand respond --timeout`.
package func withTimeLimit<T: Sendable>(
    _ timeout: Duration?, _ operation: @escaping @Sendable () async -> T
) async -> (value: T, timedOut: Bool) {
    let work = Task { await operation() }
    guard let timeout else {
        return (await withTaskCancellationHandler { await work.value } onCancel: { work.cancel() }, false)
    }
    let fired = Mutex(false)
    let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(timeout)) {
        fired.withLock { $0 = true }
        work.cancel()
    }
    let value = await withTaskCancellationHandler { await work.value } onCancel: { work.cancel() }
    timer.cancel()
    return (value, fired.withLock { $0 })
}
