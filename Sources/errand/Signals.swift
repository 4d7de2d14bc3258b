import Foundation
import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT and SIGTERM for a command, from swift-service-lifecycle's `UnixSignalsSequence` (no signal handler of our own
/// and no global): the first one cancels the work, which winds down in order (a run writes its journal, MCP servers
/// are stopped); a second one runs what was registered with the scope's ``HardStop`` (kill the children now) and exits
/// at once. The command then exits 130 after SIGINT and 143 after SIGTERM.
enum SignalScope {
    /// What a signal stopped.
    struct Outcome<Value: Sendable>: Sendable {
        /// How the work ended.
        var result: Result<Value, any Error>
        /// The signal that asked it to stop, if one did.
        var signal: UnixSignal?

        /// The exit code for a command that a signal stopped: 130 after SIGINT, 143 after SIGTERM.
        var exitCode: Int32? { signal.map(SignalScope.exitCode) }
    }

    /// 128 plus the signal's number.
    static func exitCode(_ signal: UnixSignal) -> Int32 { signal == .sigterm ? 143 : 130 }

    /// Runs `work` in a task of its own until it ends, stopping it as the signals say; `notice` is printed on the
    /// first signal.
    static func run<Value: Sendable>(
        notice: String, hardStop: HardStop = HardStop(), _ work: @escaping @Sendable () async throws -> Value
    ) async -> Outcome<Value> {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let task = Task { try await work() }
        let first = Mutex<UnixSignal?>(nil)
        let listener = Task {
            for await signal in signals {
                let earlier = first.withLock { seen -> UnixSignal? in
                    defer { seen = seen ?? signal }
                    return seen
                }
                if let earlier {
                    // No time to stop things in order: kill what must not outlive errand, and go.
                    hardStop.fire()
                    exit(SignalScope.exitCode(earlier))
                }
                printError("\n" + notice)
                task.cancel()
            }
        }
        let result = await task.result
        listener.cancel()
        return Outcome(result: result, signal: first.withLock { $0 })
    }
}

/// What must be done at once when a second signal leaves no time for an orderly stop (killing child process groups).
/// Made by a command and handed to what it starts; not a global.
final class HardStop: Sendable {
    private let actions = Mutex<[@Sendable () -> Void]>([])

    /// Runs `action` on a hard stop.
    func register(_ action: @escaping @Sendable () -> Void) {
        actions.withLock { $0.append(action) }
    }

    /// Runs every registered action.
    func fire() {
        for action in actions.withLock({ $0 }) { action() }
    }
}
