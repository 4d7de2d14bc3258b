import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The executables these tests run, built side by side with the test bundle.
enum ErrandBinary {
    /// The folder of the test bundle, where SwiftPM also puts the package's executables.
    static var folder: URL { URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent() }
    /// The `errand` command line tool.
    static var url: URL { folder.appendingPathComponent("errand") }
    /// The MCP server the tests start through specs (`errand-mcp-fixture`).
    static var fixture: String { folder.appendingPathComponent("errand-mcp-fixture").path }
}

/// How a run of `errand` ended: its exit status (the signal's number when a signal ended it) and what it printed.
struct ErrandResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `errand` (or `executable`) to its end, as a user would from a shell, and returns its status and output.
///
/// - Parameters:
///   - arguments: The command line after the program's name.
///   - environment: Variables set for the child. Only `PATH` is inherited besides these: the tests' own environment
///     (an `OPENAI_API_KEY`, `OTEL_*` variables) never leaks into the run.
///   - stdin: Text written to the child's standard input, which is then closed; `nil` connects `/dev/null`.
///   - currentDirectory: The child's working directory; `nil` keeps the tests' own.
///   - executable: The program to run instead of `errand` (a wrapper that then runs it).
func runErrand(
    _ arguments: [String], environment: [String: String] = [:], stdin: String? = nil, currentDirectory: URL? = nil, executable: URL = ErrandBinary.url
) async throws -> ErrandResult {
    try await Launched(arguments, environment: environment, stdin: stdin, currentDirectory: currentDirectory, executable: executable).wait()
}

/// A running `errand`, started in the background for a test that signals or kills it, or waits for something it does
/// while it runs. Its output is collected by threads of its own as it comes, so that a full pipe never stops it.
///
/// A test's time limit cancels the test's task: ``wait()`` then kills the process, so that a hung `errand` fails the
/// test instead of holding it. A `Launched` left without being waited for (a test that failed before it got there)
/// kills its process too.
final class Launched: @unchecked Sendable {
    let process = Process()
    private let output = Buffer()
    private let errors = Buffer()
    private let done = DispatchGroup()

    /// Starts `executable` with `arguments`.
    ///
    /// - Parameters:
    ///   - arguments: The command line after the program's name.
    ///   - environment: Variables set for the child; only `PATH` is inherited besides these.
    ///   - stdin: Text written to the child's standard input, which is then closed; `nil` connects `/dev/null`.
    ///   - currentDirectory: The child's working directory; `nil` keeps the tests' own.
    ///   - standardOutput: Where the child's standard output goes instead of being collected (`/dev/null`, a terminal).
    ///   - standardError: Where the child's standard error goes instead of being collected.
    ///   - executable: The program to run instead of `errand`.
    init(
        _ arguments: [String], environment: [String: String] = [:], stdin: String? = nil, currentDirectory: URL? = nil,
        standardOutput: FileHandle? = nil, standardError: FileHandle? = nil, executable: URL = ErrandBinary.url
    ) throws {
        process.executableURL = executable
        process.arguments = arguments
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        var collected: [(Pipe, Buffer)] = []
        if let standardOutput {
            process.standardOutput = standardOutput
        } else {
            let pipe = Pipe()
            process.standardOutput = pipe
            collected.append((pipe, output))
        }
        if let standardError {
            process.standardError = standardError
        } else {
            let pipe = Pipe()
            process.standardError = pipe
            collected.append((pipe, errors))
        }
        let input = stdin.map { _ in Pipe() }
        process.standardInput = input ?? FileHandle.nullDevice
        try process.run()
        if let input, let stdin {
            // Written from a thread, so that a child that prints before it reads cannot block the test on a full pipe.
            let writer = input.fileHandleForWriting
            Thread.detachNewThread {
                writer.write(Data(stdin.utf8))
                try? writer.close()
            }
        }
        for (pipe, sink) in collected {
            done.enter()
            let handle = pipe.fileHandleForReading
            Thread.detachNewThread { [done] in
                while true {
                    let data = handle.availableData
                    if data.isEmpty { break }
                    sink.data.withLock { $0.append(data) }
                }
                done.leave()
            }
        }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Waits for the process to exit, then for its output to be read (at most 5 s more, in case a child it left behind
    /// still holds its pipes).
    ///
    /// The wait happens on a thread of its own, keeping the cooperative pool free for the in-process servers the child
    /// talks to. If the task is cancelled (a test's time limit), the process is killed, so that the wait ends.
    func wait() async -> ErrandResult {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                Thread.detachNewThread { [self] in
                    process.waitUntilExit()
                    _ = done.wait(timeout: .now() + 5)
                    continuation.resume()
                }
            }
        } onCancel: { [self] in
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        return ErrandResult(
            status: process.terminationStatus, stdout: String(decoding: output.data.withLock { $0 }, as: UTF8.self),
            stderr: String(decoding: errors.data.withLock { $0 }, as: UTF8.self))
    }
}

/// Bytes a reader thread collects.
final class Buffer: Sendable {
    let data = Mutex(Data())
}
