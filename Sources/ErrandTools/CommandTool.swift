import ErrandCore
import ErrandProcess
import Foundation
import ResponsesAPI
import Subprocess
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
        // The call's identity, the same when a resumed run runs an interrupted call again: a command with a side effect
        // can key it on ERRAND_CALL_ID and so take effect once, however many times it is run.
        environment["ERRAND_RUN_ID"] = context.runID
        environment["ERRAND_CALL_ID"] = context.uniqueCallID
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

extension CommandTool {
    /// This command as a guardrail: it gets `{"kind": "input"|"output", "text": …}` as JSON on stdin, in the workspace
    /// (or the current folder). Exit status 0 passes; another status with a reason on stdout trips, for that reason.
    /// A command that fails with nothing on stdout (a crash), is killed by a signal, passes `timeout` or cannot start
    /// could not check: the guardrail fails closed.
    public func guardrail(name: String? = nil, timeout: Duration? = nil, workspace: Workspace?) -> Guardrail {
        let limit = timeout ?? self.timeout
        let command = self
        return Guardrail(name: name ?? self.name, timeout: limit + .seconds(5)) { check in
            let folder = workspace?.root ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            let parent = ProcessInfo.processInfo.environment
            var environment: [String: String] = [:]
            for key in Self.baseEnvironment + command.environment { environment[key] = parent[key] }
            environment["ERRAND_RUN_ID"] = check.runID
            let input: JSONValue = ["kind": .string(check.kind.rawValue), "text": .string(check.text)]
            let run = CommandRun(
                executable: command.executable, argv: command.arguments, folder: folder, environment: environment, stdin: Data(input.jsonString.utf8),
                maxOutputBytes: command.maxOutputBytes)
            let outcome: CommandRun.Outcome
            do {
                outcome = try await run.execute(timeout: limit)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw ToolError("\(command.name) could not start: \(error)")
            }
            if outcome.timedOut { throw ToolError("\(command.name) did not answer within \(limit) and was stopped") }
            if let signal = outcome.signal { throw ToolError("\(command.name) was killed by signal \(signal)") }
            guard outcome.status != 0 else { return .pass }
            let reason = String(decoding: outcome.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !reason.isEmpty else {
                // A check that trips says why on stdout; a failure with nothing there is a crash (a traceback on stderr).
                let stderr = String(decoding: outcome.stderr.suffix(1000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                throw ToolError("\(command.name) failed with exit status \(outcome.status) and gave no reason on stdout\(stderr.isEmpty ? "" : ": \(stderr)")")
            }
            return .trip(String(reason.prefix(2000)))
        }
    }
}

/// One execution of a command through swift-subprocess (see ``Children``): its own process group, so that a timeout,
/// a cancel or the end of the call stops what it started too.
struct CommandRun: Sendable {
    struct Outcome {
        var status: Int32
        /// The signal that ended the command, when one did (its `status` is then 128 + the signal).
        var signal: Int32? = nil
        var stdout: Data
        var stderr: Data
        var droppedBytes: Int
        var timedOut: Bool
    }

    /// What the readers have kept so far (the output up to the cap, the end of stderr).
    private final class Kept: Sendable {
        struct Output {
            var stdout = Data()
            var stderr = Data()
            var dropped = 0
        }
        let value = Mutex(Output())
    }

    let executable: String
    let argv: [String]
    let folder: URL
    let environment: [String: String]
    let stdin: Data
    let maxOutputBytes: Int

    init(executable: String, argv: [String], folder: URL, environment: [String: String], stdin: Data, maxOutputBytes: Int) {
        self.executable = executable
        self.argv = argv
        self.folder = folder
        self.environment = environment
        self.stdin = stdin
        self.maxOutputBytes = maxOutputBytes
    }

    func execute(timeout: Duration) async throws -> Outcome {
        Children.ignoreBrokenPipes
        let configuration = Children.configuration(
            executable: executable, arguments: argv, environment: environment, directory: folder.path, grace: .seconds(1))
        let kept = Kept()
        let (input, cap) = (Array(stdin), maxOutputBytes)
        let work = Task { () async throws -> TerminationStatus in
            let result = try await run(configuration, input: .inputWriter, output: .sequence, error: .sequence) { execution in
                // Each task ends with `false`; the two-second deadline after the command's exit ends with `true`.
                await withTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        // A command that does not read its input is fine: the short write is ignored.
                        _ = try? await execution.standardInputWriter.write(input)
                        try? await execution.standardInputWriter.finish()
                        return false
                    }
                    group.addTask {
                        do {
                            for try await chunk in execution.standardOutput {
                                chunk.withUnsafeBytes { bytes in
                                    kept.value.withLock { kept in
                                        let room = max(0, cap - kept.stdout.count)
                                        kept.stdout.append(contentsOf: bytes.prefix(room))
                                        kept.dropped += max(0, bytes.count - room)
                                    }
                                }
                            }
                        } catch {}
                        return false
                    }
                    group.addTask {
                        do {
                            for try await chunk in execution.standardError {
                                chunk.withUnsafeBytes { bytes in
                                    kept.value.withLock { kept in
                                        kept.stderr.append(contentsOf: bytes)
                                        if kept.stderr.count > 65_536 { kept.stderr = kept.stderr.suffix(16_384) }
                                    }
                                }
                            }
                        } catch {}
                        return false
                    }
                    // The command is done when it exits: what it left running in its group goes too, and a process
                    // outside the group that still holds the pipes is not waited on for more than two seconds.
                    await Children.exited(execution.processIdentifier)
                    try? execution.send(signal: .kill, toProcessGroup: true)
                    group.addTask {
                        try? await Task.sleep(for: .seconds(2))
                        return true
                    }
                    var finished = 0
                    while let isDeadline = await group.next() {
                        finished += isDeadline ? 0 : 1
                        if isDeadline || finished == 3 { break }
                    }
                    group.cancelAll()
                }
            }
            return result.terminationStatus
        }
        let timedOut = Mutex(false)
        let timer = Task {
            try await Task.sleep(for: timeout)
            timedOut.withLock { $0 = true }
            work.cancel()
        }
        defer { timer.cancel() }
        let status = try await withTaskCancellationHandler {
            try await work.value
        } onCancel: {
            work.cancel()
        }
        if Task.isCancelled { throw CancellationError() }
        let output = kept.value.withLock { $0 }
        var signal: Int32?
        if case .signaled(let number) = status { signal = Int32(truncatingIfNeeded: number) }
        return Outcome(
            status: Children.exitCode(status), signal: signal, stdout: output.stdout, stderr: output.stderr, droppedBytes: output.dropped,
            timedOut: timedOut.withLock { $0 })
    }
}
