import ErrandMCP
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Ctrl-C cancels the work in hand (a run then writes its journal and ends); a second Ctrl-C exits at once.
final class Interrupts: @unchecked Sendable {
    // The source is only cancelled, from the thread that made it.
    private let source: any DispatchSourceSignal

    /// What an interrupt cancels; it changes as a command moves from step to step (one signal source per process:
    /// a second source for the same signal after the first is cancelled does not fire on Linux).
    private final class Action: Sendable {
        let current: Mutex<@Sendable () -> Void>
        init(_ action: @escaping @Sendable () -> Void) { current = Mutex(action) }
    }
    private let action: Action

    /// Calls `cancel` on an interrupt from now on.
    func handle(_ cancel: @escaping @Sendable () -> Void) { action.current.withLock { $0 = cancel } }

    /// Whether an interrupt (SIGINT or SIGTERM) arrived.
    var happened: Bool { arrived.value.withLock { $0 } }
    private let arrived: Flag

    private final class Flag: Sendable {
        let value = Mutex(false)
    }

    init(
        message: String = "errand: interrupted; stopping the run and writing its journal (Ctrl-C again to quit at once)",
        _ cancel: @escaping @Sendable () -> Void
    ) {
        let action = Action(cancel)
        self.action = action
        let arrived = Flag()
        self.arrived = arrived
        let cancel: @Sendable () -> Void = {
            arrived.value.withLock { $0 = true }
            action.current.withLock { $0 }()
        }
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let count = Mutex(0)
        let queue = DispatchQueue(label: "errand.signals")
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: queue)
        source.setEventHandler {
            let times = count.withLock { value -> Int in
                value += 1
                return value
            }
            if times > 1 {
                // No time to stop MCP servers in order: kill their process groups, leave no orphan.
                LiveChildren.shared.killAll()
                exit(130)
            }
            printError("\n" + message)
            cancel()
        }
        source.resume()
        self.source = source
        let terminate = DispatchSource.makeSignalSource(signal: SIGTERM, queue: queue)
        terminate.setEventHandler { cancel() }
        terminate.resume()
        Self.keep.append(terminate)
    }

    private nonisolated(unsafe) static var keep: [any DispatchSourceSignal] = []

    func stop() { source.cancel() }
}

