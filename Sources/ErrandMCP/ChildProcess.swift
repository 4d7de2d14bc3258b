import CSpawn
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A server's child process: spawned with `posix_spawn` in a process group of its own (so that Ctrl-C at the terminal
/// reaches errand, which then stops it in order, and so that whatever it starts is stopped with it), with close-on-exec
/// pipes, its stderr kept, and a thread that reaps it the moment it exits.
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

    /// Writing to a pipe whose reader is gone raises SIGPIPE, whose default action ends errand; ignore it once.
    private static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    static func spawn(_ configuration: MCPServerConfiguration) throws -> ChildProcess {
        ignoreBrokenPipes
        var input: [Int32] = [0, 0], output: [Int32] = [0, 0], errors: [Int32] = [0, 0]
        for pipe in [0, 1, 2] {
            let result = pipe == 0 ? errand_pipe_cloexec(&input) : pipe == 1 ? errand_pipe_cloexec(&output) : errand_pipe_cloexec(&errors)
            if result != 0 { throw ChildError("cannot create a pipe: \(String(cString: strerror(result)))") }
        }
        let arguments = ([configuration.executable] + configuration.arguments).map { strdup($0) } + [nil]
        let variables = configuration.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            arguments.forEach { free($0) }
            variables.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = errand_spawn(
            &pid, configuration.executable, configuration.workingDirectory.path, input[0], output[1], errors[1], arguments, variables)
        close(input[0])
        close(output[1])
        close(errors[1])
        guard result == 0 else {
            for descriptor in [input[1], output[0], errors[0]] { close(descriptor) }
            throw ChildError("cannot start \(configuration.executable): \(String(cString: strerror(result)))")
        }
        let child = ChildProcess(pid: pid, stdin: input[1], stdout: output[0])
        LiveChildren.shared.add(pid)
        child.keepStderr(errors[0])
        child.reap()
        return child
    }

    /// The last 8 KB of stderr, read on a thread of its own until the server closes it.
    private func keepStderr(_ descriptor: Int32) {
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                if count <= 0 { break }
                state.withLock { state in
                    state.stderr.append(contentsOf: buffer[0..<count])
                    if state.stderr.count > 16_384 { state.stderr = state.stderr.suffix(8192) }
                }
            }
            close(descriptor)
        }
    }

    /// Waits for the exit on a thread of its own (never on the cooperative pool), then tells whoever asked.
    private func reap() {
        Thread.detachNewThread { [self] in
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            LiveChildren.shared.remove(pid)
            let callbacks = state.withLock { state in
                state.exitStatus = status
                defer { state.onExit = [] }
                return state.onExit
            }
            exited.signal()
            callbacks.forEach { $0() }
        }
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
        guard let status = state.withLock({ $0.exitStatus }) else { return nil }
        return (status & 0x7f) == 0 ? "exit status \((status >> 8) & 0xff)" : "killed by signal \(status & 0x7f)"
    }

    /// Gives a process that just closed its pipes a moment to be reaped (so an error can say how it ended).
    func waitBriefly() {
        guard exitDescription == nil else { return }
        if exited.wait(timeout: .now() + .milliseconds(200)) == .success { exited.signal() }
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

struct ChildError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Every MCP server process still running, so that a hard exit (a second Ctrl-C) can kill them first.
public final class LiveChildren: Sendable {
    public static let shared = LiveChildren()
    private let pids = Mutex(Set<pid_t>())

    func add(_ pid: pid_t) { pids.withLock { _ = $0.insert(pid) } }
    func remove(_ pid: pid_t) { pids.withLock { _ = $0.remove(pid) } }

    /// The process ids of the servers still running.
    public var all: Set<pid_t> { pids.withLock { $0 } }

    /// SIGKILL to every server's process group (for a process about to exit without stopping them in order).
    public func killAll() {
        for pid in all { kill(-pid, SIGKILL) }
    }
}
