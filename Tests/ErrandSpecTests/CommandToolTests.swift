import ErrandCore
import ErrandSpec
import ErrandTesting
import ErrandTools
import Foundation
import Logging
import ResponsesAPI
import Testing

/// Command tools from manifests: the shipped ones on real files, and every way a command can go wrong.
@Suite(.timeLimit(.minutes(5))) struct CommandToolTests {
    let root: URL
    let manifests: URL

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("errand-commands-\(UUID().uuidString)")
        root = base.appendingPathComponent("workspace")
        manifests = base.appendingPathComponent("manifests")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: manifests, withIntermediateDirectories: true)
        try "one two three\nfour five\n".write(to: root.appendingPathComponent("words.txt"), atomically: true, encoding: .utf8)
        try #"{"name": "errand", "dependencies": {"nio": "2", "log": "1"}}"#.write(to: root.appendingPathComponent("package.json"), atomically: true, encoding: .utf8)
    }

    static var shipped: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("tools")
    }

    func manifest(_ json: String) throws -> URL {
        let url = manifests.appendingPathComponent("\(UUID().uuidString).json")
        try json.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func call(_ tool: CommandTool, _ arguments: JSONValue, environment: [String: String]? = nil) async throws -> (String, [String]) {
        let context = ToolContext(runID: "r", callID: "c", workspace: try Workspace(root: root), logger: Logger(label: "t"))
        let output = try await tool.registered.call(arguments: arguments, context: context)
        return (output.text, context.keptNotes)
    }

    func failure(_ tool: CommandTool, _ arguments: JSONValue) async throws -> (String, [String]) {
        let context = ToolContext(runID: "r", callID: "c", workspace: try Workspace(root: root), logger: Logger(label: "t"))
        do {
            _ = try await tool.registered.call(arguments: arguments, context: context)
            return ("no error", context.keptNotes)
        } catch let error as ToolError {
            return (error.message, context.keptNotes)
        }
    }

    @Test func wordCount() async throws {
        let tool = try CommandManifest.load(Self.shipped.appendingPathComponent("word_count.json"))
        #expect(tool.strict)
        #expect(tool.parameters["properties"]?["path"]?["x-errand-path"] == nil, "the path mark is not sent to the model")
        let (output, _) = try await call(tool, ["path": "words.txt"])
        let numbers = output.split(separator: " ", omittingEmptySubsequences: true).prefix(3).map(String.init)
        #expect(numbers == ["2", "5", "24"])
    }

    @Test func gitLog() async throws {
        let root = self.root
        // On a thread of its own: waiting on a child must not block the cooperative pool other tests' servers need.
        func git(_ arguments: String...) async throws {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                Thread.detachNewThread { continuation.resume(with: Result { try gitBlocking(arguments) }) }
            }
        }
        @Sendable func gitBlocking(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["git", "-C", root.path] + arguments
            process.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": root.path,
                                   "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "a@example.invalid", "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "a@example.invalid"]
            try process.run()
            process.waitUntilExit()
        }
        try await git("init", "-q")
        try await git("add", "words.txt")
        try await git("commit", "-q", "-m", "Add the words")
        try await git("add", "package.json")
        try await git("commit", "-q", "-m", "Add the package")
        let tool = try CommandManifest.load(Self.shipped.appendingPathComponent("git_log.json"))
        let (all, _) = try await call(tool, ["count": nil, "path": nil])
        #expect(all.contains("Ada: Add the package") && all.contains("Ada: Add the words"))
        let (one, _) = try await call(tool, ["count": 1, "path": "words.txt"])
        #expect(one.contains("Add the words") && !one.contains("Add the package"))
    }

    @Test func jq() async throws {
        let tool = try CommandManifest.load(Self.shipped.appendingPathComponent("jq.json"))
        let (output, _) = try await call(tool, ["filter": ".dependencies | keys", "path": "package.json"])
        #expect(try JSONValue(parsing: output) == ["log", "nio"])
        let (failure, notes) = try await failure(tool, ["filter": ".[", "path": "package.json"])
        #expect(failure.contains("jq failed with exit status"))
        #expect(notes.first?.hasPrefix("stderr: ") == true, "stderr is kept for the journal")
    }

    @Test func argumentsReachStdinAsJSON() async throws {
        let tool = try CommandManifest.load(try manifest(#"{"name": "cat_in", "description": "d", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}, "command": ["cat"]}"#))
        let (output, _) = try await call(tool, ["x": 42])
        #expect(output == #"{"x":42}"#)
    }

    @Test func aFailingCommandBecomesAnError() async throws {
        let tool = try CommandManifest.load(try manifest(#"{"name": "fails", "description": "d", "command": ["sh", "-c", "echo partial; echo broken pipe >&2; exit 3"]}"#))
        let (message, notes) = try await failure(tool, [:])
        #expect(message.contains("fails failed with exit status 3: broken pipe"))
        #expect(message.contains("stdout:\npartial"))
        #expect(notes == ["stderr: broken pipe\n"])
    }

    @Test func aSlowCommandIsStopped() async throws {
        let tool = try CommandManifest.load(try manifest(#"{"name": "slow", "description": "d", "command": ["sleep", "30"], "timeout_seconds": 0.3}"#))
        let clock = ContinuousClock()
        let start = clock.now
        let (message, _) = try await failure(tool, [:])
        #expect(message.contains("slow timed out after"))
        #expect(clock.now - start < .seconds(25), "stopped before the command's 30 s, with room for a loaded machine (the whole suite at once on two cores)")
    }

    @Test func aCommandThatIgnoresSIGTERMIsKilledAndLeavesNothing() async throws {
        let tag = "ignores-term-\(UUID().uuidString.prefix(8))"
        let tool = try CommandManifest.load(try manifest(#"""
            {"name": "stubborn", "description": "d", "command": ["sh", "-c", "trap '' TERM; sleep 30 & wait; echo \#(tag)"], "timeout_seconds": 0.3}
            """#))
        let clock = ContinuousClock()
        let start = clock.now
        let (message, _) = try await failure(tool, [:])
        #expect(message.contains("stubborn timed out after"))
        #expect(clock.now - start < .seconds(25), "SIGTERM ignored, SIGKILL a second later: before the 30 s sleep ends, with room for a loaded machine")
        // Within moments, long before the 30 s sleep would have ended by itself.
        try await waitUntil("the shell and its sleep to be gone", timeout: .seconds(5), pollEvery: .milliseconds(50)) {
            ProcessList.processes(withCommandLineContaining: tag).isEmpty
        }
    }

    @Test func aCommandThatLeavesAChildHoldingItsPipesReturnsWhenItExits() async throws {
        // The background sleep keeps stdout open; the call ends when the command itself exits, and the sleep goes
        // with the command's process group.
        let tag = "background-\(UUID().uuidString.prefix(8))"
        let tool = try CommandManifest.load(try manifest(#"""
            {"name": "forks", "description": "d", "command": ["sh", "-c", "sh -c 'sleep 30; echo \#(tag)' & echo started"], "timeout_seconds": 20}
            """#))
        let clock = ContinuousClock()
        let start = clock.now
        let (output, _) = try await call(tool, [:])
        #expect(output == "started\n")
        #expect(clock.now - start < .seconds(25), "not held by the background child's 30 s sleep (room for a loaded machine)")
        // Within moments, long before the 30 s sleep would have ended by itself.
        try await waitUntil("the background child to be killed with the group", timeout: .seconds(5), pollEvery: .milliseconds(50)) {
            ProcessList.processes(withCommandLineContaining: tag).isEmpty
        }
    }

    @Test func aFloodIsCut() async throws {
        let tool = try CommandManifest.load(try manifest(#"{"name": "flood", "description": "d", "command": ["seq", "1", "300000"], "max_output_bytes": 1000}"#))
        let (output, _) = try await call(tool, [:])
        #expect(output.hasPrefix("1\n2\n3\n"))
        #expect(output.contains("[output cut: "))
        #expect(output.count < 1100)
    }

    @Test func placeholdersAreFilledWithoutAShell() async throws {
        let tool = try CommandManifest.load(try manifest(#"""
            {"name": "args", "description": "d",
             "parameters": {"type": "object", "properties": {"word": {"type": "string"}, "n": {"type": ["integer", "null"]}, "many": {"type": "array"}}},
             "command": ["printf", "[%s]", "{word}", "--n={n}", "{many}"]}
            """#))
        let (output, _) = try await call(tool, ["word": "$(touch pwned); `id`", "n": nil, "many": ["a b", "c"]])
        #expect(output == "[$(touch pwned); `id`][a b][c]")
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("pwned").path))
        let (refused, _) = try await failure(tool, ["word": "--version", "n": 1, "many": []])
        #expect(refused.contains("'word' must not start with '-'"))
    }

    @Test func pathParametersStayInTheWorkspace() async throws {
        let tool = try CommandManifest.load(Self.shipped.appendingPathComponent("word_count.json"))
        let (message, _) = try await failure(tool, ["path": "../../etc/passwd"])
        #expect(message.contains("outside the workspace"))
    }

    @Test func onlyAllowedEnvironmentVariablesPass() async throws {
        setenv("ERRAND_TEST_SECRET", "hunter2", 1)
        setenv("ERRAND_TEST_ALLOWED", "visible", 1)
        let tool = try CommandManifest.load(try manifest(#"{"name": "show_env", "description": "d", "command": ["env"], "env": ["ERRAND_TEST_ALLOWED"]}"#))
        let (output, _) = try await call(tool, [:])
        #expect(output.contains("ERRAND_TEST_ALLOWED=visible"))
        #expect(!output.contains("hunter2"))
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var json: String
        var path: String
        var message: String
        var testDescription: String { "\(path): \(message)" }
    }

    static let bad: [Bad] = [
        Bad(json: #"{"name": "x", "description": "d"}"#, path: "command", message: "missing; expected an argv array"),
        Bad(json: #"{"name": "x", "description": "d", "command": []}"#, path: "command", message: "expected at least the program"),
        Bad(json: #"{"name": "x", "description": "d", "command": ["no-such-program-errand"]}"#, path: "command[0]", message: "program 'no-such-program-errand' not found on PATH"),
        Bad(json: #"{"name": "x", "description": "d", "command": ["cat", "{file}"]}"#, path: "command[1]", message: "placeholder {file} names no parameter"),
        Bad(json: #"{"name": "bad name", "description": "d", "command": ["cat"]}"#, path: "name", message: "not a valid tool name"),
        Bad(json: #"{"name": "x", "command": ["cat"]}"#, path: "description", message: "missing"),
        Bad(json: #"{"name": "x", "description": "d", "command": ["cat"], "shell": true}"#, path: "shell", message: "unknown key"),
        Bad(json: #"{"name": "x", "description": "d", "command": ["cat"], "timeout_seconds": 0}"#, path: "timeout_seconds", message: "must be between"),
        Bad(json: #"{"name": "x", "description": "d", "command": ["cat"], "parameters": {"type": "array"}}"#, path: "parameters", message: "\"type\": \"object\""),
        Bad(json: #"{"name": "x", "description": "d", "command": ["cat"], "strict": true, "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}}"#,
            path: "strict", message: "additionalProperties"),
    ]

    @Test(arguments: bad)
    func badManifestsAreRefusedWithThePath(_ bad: Bad) throws {
        let url = try manifest(bad.json)
        let error = #expect(throws: SpecError.self) { _ = try CommandManifest.load(url) }
        let match = error?.problems.first { $0.path == bad.path && $0.message.contains(bad.message) }
        #expect(match != nil, "got: \(error?.description ?? "nothing")")
        #expect(error?.problems.first?.file == url.path)
    }
}
