import ErrandProcess
import Foundation
import Subprocess
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A server's child process: a ``LongLivedChild`` (swift-subprocess; its own process group, so that Ctrl-C at the
/// terminal reaches errand, which then stops it in order, and so that whatever it starts is stopped with it), with the
/// end of its stderr kept and its exit noticed the moment it happens.
final class ServerProcess: Sendable {
    let pid: pid_t
    let child: LongLivedChild
    private let tail: Tail

    /// The end of its stderr, as it comes.
    private final class Tail: Sendable {
        let data = Mutex(Data())
        func append(_ chunk: [UInt8]) {
            data.withLock { kept in
                kept.append(contentsOf: chunk)
                if kept.count > 16_384 { kept = kept.suffix(8192) }
            }
        }
    }

    private struct State {
        var exitStatus: TerminationStatus?
        var exited = false
        var onExit: [@Sendable () -> Void] = []
    }
    private let state = Mutex(State())
    private let watcher = Mutex<Task<Void, Never>?>(nil)

    private init(pid: pid_t, child: LongLivedChild, tail: Tail) {
        self.pid = pid
        self.child = child
        self.tail = tail
    }

    /// Starts the server's program; throws when it cannot be started.
    static func spawn(executable: String, arguments: [String], environment: [String: String], workingDirectory: URL) async throws -> ServerProcess {
        let tail = Tail()
        let child = LongLivedChild(
            executable: executable, arguments: arguments, environment: environment, directory: workingDirectory.path, stderr: tail.append)
        let process = ServerProcess(pid: try await child.pid, child: child, tail: tail)
        let watcher = Task {
            let status = try? await child.exit.value
            let callbacks = process.state.withLock { state in
                state.exitStatus = status
                state.exited = true
                defer { state.onExit = [] }
                return state.onExit
            }
            callbacks.forEach { $0() }
        }
        process.watcher.withLock { $0 = watcher }
        return process
    }

    /// Runs `callback` when the process exits (at once if it has).
    func onExit(_ callback: @escaping @Sendable () -> Void) {
        let done = state.withLock { state -> Bool in
            if state.exited { return true }
            state.onExit.append(callback)
            return false
        }
        if done { callback() }
    }

    var stderrTail: String {
        String(decoding: tail.data.withLock { $0 }.suffix(2048), as: UTF8.self)
    }

    /// "exit status N" or "killed by signal N", once it has exited.
    var exitDescription: String? {
        state.withLock { state in state.exited ? state.exitStatus.map(Children.describe) ?? "gone" : nil }
    }

    /// Gives a process that just closed its pipes a moment to be reaped, so that an error can say how it ended.
    func waitBriefly() async {
        for _ in 0..<20 where exitDescription == nil {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Closes its stdin and waits up to a second for it to leave; then SIGTERM to its group and another second; then
    /// SIGKILL. Returns once it is reaped.
    func stop() async {
        await child.stop(grace: .seconds(1))
        await watcher.withLock({ $0 })?.value
    }
}
