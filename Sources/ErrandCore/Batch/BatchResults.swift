import Foundation
import ResponsesAPI
import Synchronization

/// The results of ``Runner/runBatch(_:concurrency:folder:options:onEvent:)``, as tasks finish. Iterate it once.
public struct BatchResults: AsyncSequence, Sendable {
    public typealias Element = BatchResult
    public typealias Failure = Never

    let channel: Channel
    let handle: Handle

    public func makeAsyncIterator() -> Iterator { Iterator(channel: channel, handle: handle) }

    /// Delivers results as tasks finish.
    public struct Iterator: AsyncIteratorProtocol {
        let channel: Channel
        let handle: Handle

        /// The next result; `nil` when every task started has finished. Cancelling the calling task stops the batch
        /// (see ``Runner/runBatch(_:concurrency:folder:options:onEvent:)``) but not this iteration.
        public mutating func next() async -> BatchResult? {
            let handle = self.handle
            let channel = self.channel
            return await withTaskCancellationHandler {
                await channel.next()
            } onCancel: {
                handle.work.cancel()
            }
        }
    }

    /// Cancels the batch when the last iterator (or the unused sequence) goes away.
    final class Handle: Sendable {
        let work: Task<Void, Never>
        init(work: Task<Void, Never>) { self.work = work }
        deinit { work.cancel() }
    }

    /// A buffer between the batch's task group and its reader, unlike `AsyncStream` not ended by the reader's
    /// cancellation: the cancelled tasks' results still come through.
    final class Channel: Sendable {
        private struct State {
            var buffer: [BatchResult] = []
            var head = 0
            var finished = false
            var waiter: CheckedContinuation<BatchResult?, Never>?
        }
        private let state = Mutex(State())

        func yield(_ result: BatchResult) {
            let waiter = state.withLock { state -> CheckedContinuation<BatchResult?, Never>? in
                guard let waiter = state.waiter else {
                    state.buffer.append(result)
                    return nil
                }
                state.waiter = nil
                return waiter
            }
            waiter?.resume(returning: result)
        }

        func finish() {
            let waiter = state.withLock { state -> CheckedContinuation<BatchResult?, Never>? in
                state.finished = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }

        func next() async -> BatchResult? {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> BatchResult?? in
                    if state.head < state.buffer.count {
                        defer {
                            state.head += 1
                            if state.head == state.buffer.count {
                                state.buffer.removeAll(keepingCapacity: true)
                                state.head = 0
                            }
                        }
                        return .some(state.buffer[state.head])
                    }
                    if state.finished { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }
}
