import CSpawn
import ErrandCore
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process started with `posix_spawn` (command tools and MCP servers share it): every signal at its default
/// (Foundation's `Process` passes on ignored signals, so a child could not be stopped with SIGTERM), in a process group
/// of its own (so that stopping it stops what it started, and Ctrl-C at the terminal reaches errand first), in the
/// given folder, with close-on-exec pipes (so that children running side by side never hold each other's pipes open).
package struct Subprocess: Sendable {
    /// The process id, which is also its process group id.
    package let pid: pid_t
    /// Our ends of its pipes: stdin to write, stdout and stderr to read. The caller closes them.
    package let stdin: Int32
    package let stdout: Int32
    package let stderr: Int32

    /// Writing to a pipe whose reader is gone raises SIGPIPE, whose default action ends errand; ignored once, before
    /// the first child starts.
    private static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// Starts `executable` with `arguments` and exactly `environment`, in `directory`.
    package static func spawn(executable: String, arguments: [String], environment: [String: String], directory: String) throws -> Subprocess {
        ignoreBrokenPipes
        var input: [Int32] = [0, 0], output: [Int32] = [0, 0], errors: [Int32] = [0, 0]
        var made: [Int32] = []
        for index in 0..<3 {
            let result = index == 0 ? errand_pipe_cloexec(&input) : index == 1 ? errand_pipe_cloexec(&output) : errand_pipe_cloexec(&errors)
            guard result == 0 else {
                made.forEach { close($0) }
                throw ToolsError(.spawn, "cannot create a pipe for \(executable): \(String(cString: strerror(result)))", code: result)
            }
            made += index == 0 ? input : index == 1 ? output : errors
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = errand_spawn(&pid, executable, directory, input[0], output[1], errors[1], argv, envp)
        // The child's ends belong to the child now (or to nobody, when it did not start).
        close(input[0])
        close(output[1])
        close(errors[1])
        guard result == 0 else {
            for descriptor in [input[1], output[0], errors[0]] { close(descriptor) }
            throw ToolsError(.spawn, "cannot start \(executable): \(String(cString: strerror(result)))", code: result)
        }
        return Subprocess(pid: pid, stdin: input[1], stdout: output[0], stderr: errors[0])
    }

    /// Reads `descriptor` to its end on a thread of its own (never on the cooperative pool), handing over each chunk,
    /// then closes it and calls `done`.
    package static func readToEnd(
        _ descriptor: Int32, chunk: @escaping @Sendable (ArraySlice<UInt8>) -> Void, done: @escaping @Sendable () -> Void = {}
    ) {
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                if count <= 0 { break }
                chunk(buffer[0..<count])
            }
            close(descriptor)
            done()
        }
    }

    /// Waits for the process to exit on a thread of its own, reaps it, and calls `exited` with its wait status.
    package func onExit(_ exited: @escaping @Sendable (Int32) -> Void) {
        let pid = pid
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            exited(status)
        }
    }

    /// A wait status as a shell shows it: the exit code, or 128 plus the signal.
    package static func exitCode(_ status: Int32) -> Int32 {
        (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// A wait status in words: "exit status N" or "killed by signal N".
    package static func describe(_ status: Int32) -> String {
        (status & 0x7f) == 0 ? "exit status \((status >> 8) & 0xff)" : "killed by signal \(status & 0x7f)"
    }
}
