import Foundation
import Subprocess
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A long-lived child driven from other tasks (an MCP server): one task owns swift-subprocess's `run`, and the
/// child's stdout arrives on ``output`` while ``write(_:)`` feeds its stdin. When its output ends (it exited or closed
/// stdout) what it left in its process group is killed; ``stop(grace:)`` closes its stdin, gives it `grace`, then
/// cancels the owning task, which runs the teardown (SIGTERM to the group, a second, SIGKILL).
package final class LongLivedChild: Sendable {
    /// The child's stdout, chunk by chunk; it ends when the child closes stdout or exits.
    package let output: AsyncThrowingStream<[UInt8], any Error>
    /// The child's end, once it has exited: the owning task's value.
    package let exit: Task<TerminationStatus, any Error>
    private let started: Task<Handle, any Error>
    private let knownPID = PID()

    private final class PID: Sendable {
        let value = Mutex<pid_t?>(nil)
    }

    private struct Handle: Sendable {
        let pid: pid_t
        let stdin: StandardInputWriter
    }

    /// Starts the child; `stderr` receives its standard error as it comes.
    package init(
        executable: String, arguments: [String], environment: [String: String], directory: String, grace: Duration = .seconds(1),
        stderr: @escaping @Sendable ([UInt8]) -> Void
    ) {
        Children.ignoreBrokenPipes
        let (output, chunks) = AsyncThrowingStream.makeStream(of: [UInt8].self)
        let (handles, handleOut) = AsyncThrowingStream.makeStream(of: Handle.self)
        let configuration = Children.configuration(
            executable: executable, arguments: arguments, environment: environment, directory: directory, grace: grace)
        self.output = output
        self.exit = Task {
            do {
                let result = try await run(configuration, input: .inputWriter, output: .sequence, error: .sequence) { execution in
                    handleOut.yield(Handle(pid: execution.processIdentifier.value, stdin: execution.standardInputWriter))
                    handleOut.finish()
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for try await chunk in execution.standardError { stderr(chunk.withUnsafeBytes { Array($0) }) }
                        }
                        for try await chunk in execution.standardOutput { chunks.yield(chunk.withUnsafeBytes { Array($0) }) }
                        chunks.finish()
                        // Its output has ended: it exited, or it is done with us. Nothing it started outlives it.
                        await Children.exited(execution.processIdentifier)
                        try? execution.send(signal: .kill, toProcessGroup: true)
                        group.cancelAll()
                    }
                }
                chunks.finish()
                return result.terminationStatus
            } catch {
                handleOut.finish(throwing: error)
                chunks.finish(throwing: error)
                throw error
            }
        }
        let knownPID = self.knownPID
        self.started = Task {
            for try await handle in handles {
                knownPID.value.withLock { $0 = handle.pid }
                return handle
            }
            throw CancellationError()
        }
    }

    /// The child's process id (its process group's too), once it has started; throws when it could not start.
    package var pid: pid_t {
        get async throws { try await started.value.pid }
    }

    /// Writes to its stdin; false when the child is gone.
    package func write(_ bytes: [UInt8]) async throws -> Bool {
        let handle = try await started.value
        do {
            return try await handle.stdin.write(bytes) == bytes.count
        } catch {
            return false
        }
    }

    /// Closes its stdin, waits `grace` for it to leave, then cancels it (SIGTERM to its group, a second, SIGKILL);
    /// returns how it ended.
    @discardableResult
    package func stop(grace: Duration = .seconds(1)) async -> TerminationStatus? {
        if let handle = try? await started.value { try? await handle.stdin.finish() }
        let exit = self.exit
        let timer = Task {
            try await Task.sleep(for: grace)
            exit.cancel()
        }
        defer { timer.cancel() }
        return try? await exit.value
    }

    /// Stops it at once, for a process about to exit without stopping its children in order: SIGKILL to its group.
    package func kill() {
        if let pid = knownPID.value.withLock({ $0 }) { _ = Foundation.kill(-pid, SIGKILL) }
        exit.cancel()
    }
}
