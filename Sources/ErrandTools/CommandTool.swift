import ErrandCore
import Foundation
import NIOCore
import NIOPosix
import ResponsesAPI
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A tool that runs a program: the arguments go to its stdin as JSON and, through `{name}` placeholders, into its argv.
/// Never through a shell. Its stdout is the output; a non-zero exit or a timeout is an error for the model; stderr is
/// kept in the journal; output over the cap is cut with a note.
public struct CommandTool: Sendable {
    /// The tool's name.
    public var name: String
    /// What it does, for the model.
    public var description: String
    /// The parameter schema as sent to the model.
    public var parameters: JSONValue
    /// Parameters whose values are workspace paths, resolved (and confined) before they reach argv.
    public var pathParameters: Set<String>
    /// Whether the schema is sent in strict mode.
    public var strict: Bool
    /// The program's absolute path.
    public var executable: String
    /// The argv after the program, with `{name}` placeholders.
    public var arguments: [String]
    /// The limit of one call.
    public var timeout: Duration
    /// The working folder, relative to the workspace root (default: the root).
    public var workingDirectory: String?
    /// Environment variables passed through besides `PATH`, `HOME`, `LANG`, `LC_ALL`, `LC_CTYPE` and `TZ`.
    public var environment: [String]
    /// The most stdout bytes sent to the model.
    public var maxOutputBytes: Int
    /// Whether running the same call twice does no harm, so that a call a crash interrupted is run again on resume
    /// (the manifest's `"idempotent": true`; commands are not, by default).
    public var idempotent: Bool

    /// Variables every command gets (when set): none of them is a secret.
    public static let baseEnvironment = ["PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ"]

    /// Creates a command tool.
    public init(
        name: String, description: String, parameters: JSONValue, pathParameters: Set<String> = [], strict: Bool = false,
        executable: String, arguments: [String], timeout: Duration = .seconds(30), workingDirectory: String? = nil,
        environment: [String] = [], maxOutputBytes: Int = 64 << 10, idempotent: Bool = false
    ) {
        self.name = name
        self.description = description
        self.parameters = parameters
        self.pathParameters = pathParameters
        self.strict = strict
        self.executable = executable
        self.arguments = arguments
        self.timeout = timeout
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.maxOutputBytes = maxOutputBytes
        self.idempotent = idempotent
    }

    /// The tool for a registry.
    public var registered: RegisteredTool {
        // The runtime enforces the timeout itself (and kills the process); the runner's deadline is a backstop.
        RegisteredTool(
            name: name, description: description, parameters: parameters, strict: strict, timeout: timeout + .seconds(5), idempotent: idempotent
        ) { arguments, context in
            try await run(arguments: arguments, context: context)
        }
    }

    /// The placeholder names in an argv element, in order.
    public static func placeholders(in element: String) -> [String] {
        var names: [String] = []
        var rest = element[...]
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            let name = rest[rest.index(after: open)..<close]
            if !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) { names.append(String(name)) }
            rest = rest[rest.index(after: close)...]
        }
        return names
    }

    /// The argv for these arguments: placeholders filled, absent ones dropped, paths resolved inside the workspace.
    func argv(for arguments: JSONValue, workspace: Workspace?) throws -> [String] {
        var argv: [String] = []
        for element in self.arguments {
            let names = Self.placeholders(in: element)
            if names.isEmpty {
                argv.append(element)
                continue
            }
            if names.count == 1, element == "{\(names[0])}" {
                // A whole element: absent drops it, an array spreads into several.
                guard let value = arguments[names[0]], !value.isNull else { continue }
                let values = value.arrayValue ?? [value]
                for item in values { argv.append(try text(of: item, parameter: names[0], workspace: workspace, whole: true)) }
                continue
            }
            var filled = element
            var complete = true
            for name in names {
                guard let value = arguments[name], !value.isNull else {
                    complete = false
                    break
                }
                filled = filled.replacingOccurrences(of: "{\(name)}", with: try text(of: value, parameter: name, workspace: workspace, whole: false))
            }
            if complete { argv.append(filled) }
        }
        return argv
    }

    private func text(of value: JSONValue, parameter: String, workspace: Workspace?, whole: Bool) throws -> String {
        var text: String
        switch value {
        case .string(let string): text = string
        case .number, .bool: text = value.jsonString
        default: text = value.jsonString
        }
        if pathParameters.contains(parameter) {
            guard let workspace else { throw ToolError("\(name) needs a workspace for '\(parameter)'") }
            text = try workspace.resolve(text).path
        } else if whole, text.hasPrefix("-") {
            throw ToolError("'\(parameter)' must not start with '-': it would be read as an option of the command")
        }
        return text
    }

    /// Runs the command.
    func run(arguments: JSONValue, context: ToolContext) async throws -> ToolOutput {
        let argv = try argv(for: arguments, workspace: context.workspace)
        var folder = context.workspace?.root ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        if let workingDirectory, let workspace = context.workspace {
            folder = try workspace.resolve(workingDirectory)
        }
        let parent = ProcessInfo.processInfo.environment
        var environment: [String: String] = [:]
        for key in Self.baseEnvironment + self.environment { environment[key] = parent[key] }
        let run = CommandRun(
            executable: executable, argv: argv, folder: folder, environment: environment,
            stdin: Data(arguments.jsonString.utf8), maxOutputBytes: maxOutputBytes)
        let outcome = try await run.execute(timeout: timeout)
        if !outcome.stderr.isEmpty {
            context.note("stderr: " + String(decoding: outcome.stderr.suffix(4096), as: UTF8.self))
        }
        var output = String(decoding: outcome.stdout, as: UTF8.self)
        if outcome.droppedBytes > 0 { output += "\n[output cut: \(outcome.droppedBytes) more bytes not shown]" }
        if outcome.timedOut {
            throw ToolError("\(name) timed out after \(timeout) and was stopped\(output.isEmpty ? "" : "; its output so far:\n\(output)")")
        }
        if outcome.status != 0 {
            let reason = String(decoding: outcome.stderr.suffix(2000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw ToolError("\(name) failed with exit status \(outcome.status)\(reason.isEmpty ? "" : ": \(reason)")\(output.isEmpty ? "" : "\nstdout:\n\(output)")")
        }
        return .text(output)
    }
}

/// One execution of a command, a ``Subprocess`` (its own process group, so that a timeout, a cancel or the end of the
/// call stops the children it started too).
final class CommandRun: @unchecked Sendable {
    // Mutable state is touched under `lock`.
    struct Outcome {
        var status: Int32
        var stdout: Data
        var stderr: Data
        var droppedBytes: Int
        var timedOut: Bool
    }

    private let executable: String
    private let argv: [String]
    private let folder: URL
    private let environment: [String: String]
    private let stdin: Data
    private let maxOutputBytes: Int
    private let lock = NSLock()
    private var stdout = Data()
    private var stderr = Data()
    private var dropped = 0
    private var timedOut = false
    private var pid: pid_t = 0
    private var exited = false

    init(executable: String, argv: [String], folder: URL, environment: [String: String], stdin: Data, maxOutputBytes: Int) {
        self.executable = executable
        self.argv = argv
        self.folder = folder
        self.environment = environment
        self.stdin = stdin
        self.maxOutputBytes = maxOutputBytes
    }

    func execute(timeout: Duration) async throws -> Outcome {
        let process = try Subprocess.spawn(executable: executable, arguments: argv, environment: environment, directory: folder.path)
        let child = process.pid
        lock.withLock { pid = child }
        let streams = DispatchGroup()
        for isStdout in [true, false] {
            streams.enter()
            Subprocess.readToEnd(isStdout ? process.stdout : process.stderr, chunk: { [self] data in
                lock.withLock {
                    if isStdout {
                        let room = max(0, maxOutputBytes - stdout.count)
                        stdout.append(contentsOf: data.prefix(room))
                        dropped += max(0, data.count - room)
                    } else {
                        stderr.append(contentsOf: data)
                        if stderr.count > 65_536 { stderr = stderr.suffix(16_384) }
                    }
                }
            }, done: { streams.leave() })
        }
        let data = stdin
        let writeEnd = process.stdin
        Thread.detachNewThread {
            data.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = write(writeEnd, buffer.baseAddress! + offset, buffer.count - offset)
                    if written <= 0 { break }  // EPIPE: the command does not read its input
                    offset += written
                }
            }
            close(writeEnd)
        }
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let timer = loop.scheduleTask(in: TimeAmount(timeout)) { [self] in
            lock.withLock { timedOut = true }
            stop()
        }
        let status: Int32 = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
                process.onExit { [self] status in
                    lock.withLock { exited = true }
                    continuation.resume(returning: status)
                }
            }
        } onCancel: {
            stop()
        }
        timer.cancel()
        // Whatever the command left running in its group goes too.
        kill(-child, SIGKILL)
        // A process outside the group could still hold the pipes: wait briefly, not forever.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                _ = streams.wait(timeout: .now() + 2)
                continuation.resume()
            }
        }
        if Task.isCancelled { throw CancellationError() }
        return lock.withLock {
            Outcome(status: Subprocess.exitCode(status), stdout: stdout, stderr: stderr, droppedBytes: dropped, timedOut: timedOut)
        }
    }

    /// SIGTERM to the command's group, then SIGKILL a second later if it is still running.
    private func stop() {
        let (child, done) = lock.withLock { (pid, exited) }
        guard child > 0, !done else { return }
        kill(-child, SIGTERM)
        MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .seconds(1)) { [self] in
            if !lock.withLock({ exited }) { kill(-child, SIGKILL) }
        }
    }
}
