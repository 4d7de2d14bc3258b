import ErrandTools
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A server's child process: a ``Subprocess`` (its own process group, so that Ctrl-C at the terminal reaches errand,
/// which then stops it in order, and so that whatever it starts is stopped with it), with its stderr kept and a thread
/// that reaps it the moment it exits.
final class ChildProcess: Sendable {
    let pid: pid_t
    /// Our ends of its stdin (write, closed by `stop`) and stdout (read, closed by the transport at end of file).
    let stdin: Int32
    let stdout: Int32

    private struct State {
        var stderr = Data()
        var exitStatus: Int32?
        var onExit: [@Sendable () -> Void] = []
        var stdinClosed = false
    }
    private let state = Mutex(State())
    private let exited = DispatchSemaphore(value: 0)

    private init(pid: pid_t, stdin: Int32, stdout: Int32) {
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
    }

    static func spawn(_ configuration: MCPServerConfiguration) throws -> ChildProcess {
        let process = try Subprocess.spawn(
            executable: configuration.executable, arguments: configuration.arguments, environment: configuration.environment,
            directory: configuration.workingDirectory.path)
        let child = ChildProcess(pid: process.pid, stdin: process.stdin, stdout: process.stdout)
        LiveChildren.shared.add(process.pid)
        // The last 8 KB of stderr, for error messages.
        Subprocess.readToEnd(process.stderr, chunk: { data in
            child.state.withLock { state in
                state.stderr.append(contentsOf: data)
                if state.stderr.count > 16_384 { state.stderr = state.stderr.suffix(8192) }
            }
        })
        process.onExit { status in
            LiveChildren.shared.remove(process.pid)
            let callbacks = child.state.withLock { state in
                state.exitStatus = status
                defer { state.onExit = [] }
                return state.onExit
            }
            child.exited.signal()
            callbacks.forEach { $0() }
        }
        return child
    }

    /// Runs `callback` when the process exits (at once if it has).
    func onExit(_ callback: @escaping @Sendable () -> Void) {
        let done = state.withLock { state -> Bool in
            if state.exitStatus != nil { return true }
            state.onExit.append(callback)
            return false
        }
        if done { callback() }
    }

    var stderrTail: String {
        let data = state.withLock { $0.stderr }
        return String(decoding: data.suffix(2048), as: UTF8.self)
    }

    /// "exit status N" or "killed by signal N", once it has exited.
    var exitDescription: String? {
        state.withLock { $0.exitStatus }.map(Subprocess.describe)
    }

    /// Gives a process that just closed its pipes a moment to be reaped (so an error can say how it ended); the
    /// waiting happens on a thread, not on the cooperative pool.
    func waitBriefly() async {
        guard exitDescription == nil else { return }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread { [self] in
                if exited.wait(timeout: .now() + .milliseconds(200)) == .success { exited.signal() }
                done.resume()
            }
        }
    }

    /// Closes its stdin and waits up to a second for it to leave; then SIGTERM to its group and another second; then
    /// SIGKILL. Returns once it is reaped. The waiting happens off the cooperative pool.
    func stop() async {
        let closeInput = state.withLock { state -> Bool in
            defer { state.stdinClosed = true }
            return !state.stdinClosed
        }
        if closeInput { close(stdin) }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread { [self] in
                if exited.wait(timeout: .now() + 1) == .timedOut {
                    kill(-pid, SIGTERM)
                    if exited.wait(timeout: .now() + 1) == .timedOut {
                        kill(-pid, SIGKILL)
                        exited.wait()
                    }
                }
                exited.signal()  // for the next waiter
                // What it left in its group goes too.
                kill(-pid, SIGKILL)
                done.resume()
            }
        }
    }
}

/// Every MCP server process still running, so that a hard exit (a second Ctrl-C) can kill them first.
package final class LiveChildren: Sendable {
    package static let shared = LiveChildren()
    private let pids = Mutex(Set<pid_t>())

    func add(_ pid: pid_t) { pids.withLock { _ = $0.insert(pid) } }
    func remove(_ pid: pid_t) { pids.withLock { _ = $0.remove(pid) } }

    /// The process ids of the servers still running.
    package var all: Set<pid_t> { pids.withLock { $0 } }

    /// SIGKILL to every server's process group (for a process about to exit without stopping them in order).
    package func killAll() {
        for pid in all { kill(-pid, SIGKILL) }
    }
}
