import ErrandTesting
import Foundation
import ResponsesAPI
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `errand batch` over loopback: mixed outcomes at a concurrency bound, a kill -9 and a rerun that runs nothing twice,
/// a 429 that holds every task, Ctrl-C, changed tasks, and the progress line only on a terminal.
@Suite(.serialized, .timeLimit(.minutes(10))) struct BatchCommandTests {
    let folder: URL
    let journals: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-batch-\(UUID().uuidString)")
        journals = folder.appendingPathComponent("journals")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("work"), withIntermediateDirectories: true)
        try "The secret word is teapot.\n".write(to: folder.appendingPathComponent("work/notes.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("other"), withIntermediateDirectories: true)
        try "Another word: kettle.\n".write(to: folder.appendingPathComponent("other/notes.txt"), atomically: true, encoding: .utf8)
        // A command with a side effect that must not happen twice: it appends its line, then takes a moment.
        let script = folder.appendingPathComponent("append.sh")
        try "#!/bin/sh\necho \"$1\" >> ../log.txt\nsleep 0.2\necho appended\n".write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        try #"""
            {"name": "append", "description": "Append a line to the log.",
             "parameters": {"type": "object", "properties": {"line": {"type": "string"}}, "required": ["line"], "additionalProperties": false},
             "command": ["./append.sh", "{line}"], "timeout_seconds": 20, "strict": true}
            """#.write(to: folder.appendingPathComponent("append.json"), atomically: true, encoding: .utf8)
    }

    func file(_ name: String, _ text: String) throws -> URL {
        let url = folder.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func tasksFile(_ name: String, _ lines: [JSONValue]) throws -> URL {
        try file(name, lines.map(\.jsonString).joined(separator: "\n") + "\n")
    }

    /// Runs errand with a key.
    func errand(_ arguments: [String]) async throws -> ErrandResult {
        try await runErrand(arguments, environment: ["OPENAI_API_KEY": "sk-test"])
    }

    /// Every stdout line as JSON (failing the test on a line that is not).
    func jsonLines(_ stdout: String) throws -> [JSONValue] {
        try stdout.split(separator: "\n").map { line in
            let value = try JSONValue(parsing: String(line))
            try #require(value.objectValue != nil, "not a JSON object: \(line)")
            return value
        }
    }

    func taskLines(_ lines: [JSONValue]) -> [String: JSONValue] {
        Dictionary(lines.filter { $0["type"] == "task" }.map { ($0["id"]?.stringValue ?? "", $0) }) { first, _ in first }
    }

    var logLines: [String] {
        ((try? String(contentsOf: folder.appendingPathComponent("log.txt"), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    // MARK: Mixed outcomes

    /// What a task does, by the first word of its text.
    static func mixed(_ conversation: ScriptedConversation) -> ScriptedTurn {
        let task = conversation.task
        let jitter = Duration.milliseconds(Int.random(in: 0...30))
        let outputs = conversation.toolOutputs
        switch task.split(separator: " ").first ?? "" {
        case "read" where outputs.isEmpty:
            return ScriptedTurn.calls(.call("read_file", ["path": "notes.txt", "offset": nil, "limit": nil])).delayed(by: jitter)
        case "missing" where outputs.isEmpty:
            return ScriptedTurn.calls(.call("read_file", ["path": "absent.txt", "offset": nil, "limit": nil])).delayed(by: jitter)
        case "loop":
            return ScriptedTurn.calls(.call("read_file", ["path": "notes.txt", "offset": nil, "limit": nil])).delayed(by: jitter)
        case "fail":
            return .error(status: 500, message: "The server had an error while processing your request.", type: "server_error")
        default:
            let seen = outputs.last?["output"]?.stringValue.map { " saw: \($0.prefix(40))" } ?? ""
            return ScriptedTurn.message("finished \(task)\(seen)").delayed(by: jitter)
        }
    }

    @Test func fiftyTasksWithMixedOutcomesAtConcurrencyEight() async throws {
        let spec = try file("reader.json", #"""
            {"name": "reader", "model": "base-model", "tools": ["read_file"], "workspace": {"root": "work"}, "limits": {"max_turns": 4}}
            """#)
        var lines: [JSONValue] = []
        var expected: [String: String] = [:]
        for index in 1...50 {
            let id = String(format: "t%02d", index)
            var line: JSONValue = ["id": .string(id)]
            switch index % 10 {
            case 1, 2, 3:
                line["task"] = .string("read \(id)")
                expected[id] = "completed"
            case 4:
                line["task"] = .string("missing \(id)")
                expected[id] = "completed"
            case 5:
                line["task"] = .string("fail \(id)")
                expected[id] = "failed"
            case 6:
                line["task"] = .string("loop \(id)")
                line["max_turns"] = 2
                expected[id] = "max_turns"
            case 7:
                line["task"] = .string("read \(id)")
                line["model"] = "other-model"
                line["workspace"] = "other"
                expected[id] = "completed"
            default:
                line["task"] = .string("answer \(id)")
                expected[id] = "completed"
            }
            lines.append(line)
        }
        let tasks = try tasksFile("tasks.jsonl", lines)
        try await ScriptedResponsesServer.withServer(responder: Self.mixed) { server in
            let arguments = ["batch", spec.path, tasks.path, "--concurrency", "8", "--journal-dir", journals.path, "--base-url", server.baseURL]
            let run = try await errand(arguments)
            #expect(run.status == 1, "not every task completed: exit 1 (\(run.stderr))")
            #expect(!run.stderr.contains("\r") && !run.stderr.contains(" running ·"), "no progress line on a pipe: \(run.stderr)")
            let output = try jsonLines(run.stdout)
            #expect(output.count == 51, "one line per task, then the summary")
            #expect(output.last?["type"] == "summary")
            let byID = taskLines(output)
            #expect(byID.count == 50)
            for (id, status) in expected {
                let line = try #require(byID[id], "no line for \(id)")
                #expect(line["status"]?.stringValue == status, "\(id): \(line.jsonString)")
                #expect(line["run_id"]?.stringValue?.isEmpty == false)
                #expect(line["origin"] == "started")
                #expect(line["journal"]?.stringValue.map { FileManager.default.fileExists(atPath: $0) } == true)
            }
            #expect(byID["t01"]?["output_text"]?.stringValue?.contains("teapot") == true, "\(byID["t01"]?.jsonString ?? "")")
            #expect(byID["t01"]?["tool_calls"] == 1)
            #expect(byID["t01"]?["turns"] == 2)
            #expect(byID["t04"]?["tool_errors"] == 1, "a tool error is data for the model, and the task completes")
            #expect(byID["t07"]?["output_text"]?.stringValue?.contains("kettle") == true, "the task's own workspace")
            #expect(byID["t06"]?["turns"] == 2, "the task's own turn limit")
            #expect(byID["t05"]?["error"]?.stringValue?.contains("500") == true, "\(byID["t05"]?.jsonString ?? "")")
            #expect(byID["t08"]?["tool_calls"] == 0)
            let models = Set(server.createRequests.filter { ScriptedConversation(request: $0, items: $0.body?["input"]?.arrayValue ?? [], chainedResponses: 0).task.hasSuffix("t07") }.compactMap { $0.body?["model"]?.stringValue })
            #expect(models == ["other-model"], "the task's own model")
            let summary = try #require(output.last)
            #expect(summary["tasks"] == 50)
            #expect(summary["statuses"]?["completed"] == 40)
            #expect(summary["statuses"]?["failed"] == 5)
            #expect(summary["statuses"]?["max_turns"] == 5)
            #expect(summary["started"] == 50)
            // The batch's journals and manifest are its owner's alone.
            let folder = try #require(summary["batch"]?.stringValue)
            for name in ["batch.json", "t01.jsonl"] {
                let mode = try FileManager.default.attributesOfItem(atPath: folder + "/" + name)[.posixPermissions] as? Int
                #expect(mode == 0o600, "\(name)")
            }

            // The same command again: what ended is reported from its journal; the failed tasks go on from where they
            // stopped (and fail again here, since this server always fails them).
            let before = server.createRequests.count
            let again = try await errand(arguments)
            #expect(again.status == 1)
            let rerun = try jsonLines(again.stdout)
            let rerunByID = taskLines(rerun)
            #expect(rerunByID.count == 50)
            for (id, status) in expected {
                #expect(rerunByID[id]?["status"]?.stringValue == status)
                #expect(rerunByID[id]?["origin"]?.stringValue == (status == "failed" ? "resumed" : "journaled"), "\(id)")
            }
            let sent = server.createRequests.dropFirst(before)
            #expect(sent.allSatisfy { ScriptedConversation(request: $0, items: $0.body?["input"]?.arrayValue ?? [], chainedResponses: 0).task.hasPrefix("fail") }, "only the failed tasks talked to the model again")
            #expect(rerun.last?["journaled"] == 45)
            #expect(rerun.last?["resumed"] == 5)
        }
    }

    // MARK: Kill and rerun

    @Test func aBatchKilledMidwayResumesAndRunsNothingTwice() async throws {
        let spec = try file("appender.json", #"""
            {"name": "appender", "model": "m", "tools": [{"manifest": "append.json"}], "workspace": {"root": "work"}}
            """#)
        let ids = (1...20).map { String(format: "job-%02d", $0) }
        let tasks = try tasksFile("jobs.jsonl", ids.map { ["id": .string($0), "task": .string($0)] })
        let responder: @Sendable (ScriptedConversation) -> ScriptedTurn = { conversation in
            if conversation.toolOutputs.isEmpty {
                return ScriptedTurn.calls(.call("append", ["line": .string(conversation.task)])).delayed(by: .milliseconds(60))
            }
            return ScriptedTurn.message("logged \(conversation.task)").delayed(by: .milliseconds(60))
        }
        try await ScriptedResponsesServer.withServer(responder: responder) { server in
            let arguments = ["batch", spec.path, tasks.path, "--concurrency", "4", "--journal-dir", journals.path, "--base-url", server.baseURL]
            let first = try Launched(arguments, environment: ["OPENAI_API_KEY": "k"])
            try await waitUntil("some tasks to finish and others to run", pollEvery: .milliseconds(10)) { logLines.count >= 9 }
            kill(first.process.processIdentifier, SIGKILL)
            let killed = await first.wait()
            let reported = try jsonLines(killed.stdout).filter { $0["type"] == "task" }
            #expect(reported.count >= 1 && reported.count < 20, "killed midway (\(reported.count) reported)")
            try await Task.sleep(for: .milliseconds(300))  // the orphaned commands finish

            let rerun = try await errand(arguments)
            #expect(rerun.status == 0, "\(rerun.stderr)")
            let lines = try jsonLines(rerun.stdout)
            let byID = taskLines(lines)
            #expect(Set(byID.keys) == Set(ids))
            #expect(byID.values.allSatisfy { $0["status"] == "completed" })
            let origins = byID.values.compactMap { $0["origin"]?.stringValue }
            #expect(origins.filter { $0 == "journaled" }.count >= reported.count, "the tasks that had finished were not run again")
            #expect(origins.contains("resumed"), "the interrupted tasks went on from their journals")
            #expect(origins.contains("started"), "the tasks never reached started now")
            // At most once: a call the kill caught between its journal entry and its command's first line is not run
            // again (the model is told it was interrupted), so its line may be missing, but no line is there twice.
            let logged = logLines
            #expect(Set(logged).count == logged.count, "no side effect happened twice: \(logged.sorted())")
            for id in ids where !logged.contains(id) {
                #expect(byID[id]?["origin"] == "resumed", "\(id) has no line, so its call was interrupted")
            }
            #expect(logged.count >= ids.count - 4, "at most one call per running task was caught by the kill")
        }
    }

    // MARK: Rate limits

    @Test func aRetryAfterFromTheProviderHoldsEveryTask() async throws {
        let spec = try file("reader.json", #"""
            {"name": "reader", "model": "m", "tools": ["read_file"], "workspace": {"root": "work"}}
            """#)
        let tasks = try tasksFile("four.jsonl", (1...4).map { ["id": .string("r\($0)"), "task": .string("read r\($0)")] })
        let refused = Mutex(false)
        let responder: @Sendable (ScriptedConversation) -> ScriptedTurn = { conversation in
            let first = refused.withLock { done -> Bool in
                defer { done = true }
                return !done
            }
            if first {
                return .error(status: 429, message: "Rate limit reached for requests.", type: "requests", code: "rate_limit_exceeded", headers: ["retry-after": "1"])
            }
            // Tasks answer slowly at first, so that the 429 reaches the client before they would send again (600 ms:
            // CI runs worker processes and PostgreSQL beside these tests).
            let outputs = conversation.toolOutputs.count
            let delay = Duration.milliseconds(outputs == 0 ? 600 : 5)
            if outputs < 2 { return ScriptedTurn.calls(.call("read_file", ["path": "notes.txt", "offset": nil, "limit": nil])).delayed(by: delay) }
            return ScriptedTurn.message("done").delayed(by: delay)
        }
        try await ScriptedResponsesServer.withServer(responder: responder) { server in
            let run = try await errand(["batch", spec.path, tasks.path, "--concurrency", "4", "--journal-dir", journals.path, "--base-url", server.baseURL])
            #expect(run.status == 0, "\(run.stderr)")
            let creates = server.createRequests
            #expect(creates.count == 4 * 3 + 1)
            let refusedAt = try #require(creates.first?.receivedAt)
            // The later turns: the requests that carry a tool's output (a first turn's request, however late it came,
            // was sent before the 429 arrived).
            let afterTheFirstWave = creates.filter { request in
                (request.body?["input"]?.arrayValue ?? []).contains { $0["type"] == "function_call_output" }
            }.map(\.receivedAt)
            #expect(afterTheFirstWave.count >= 8, "the other tasks' later turns")
            #expect(afterTheFirstWave.allSatisfy { $0 >= refusedAt + .milliseconds(950) }, "no task sent anything while the provider asked to wait: \(afterTheFirstWave.map { $0 - refusedAt })")
        }
    }

    @Test func aRequestCapPacesTheWholeBatch() async throws {
        let spec = try file("plain.json", #"{"name": "plain", "model": "m", "tools": ["read_file"], "workspace": {"root": "work"}}"#)
        let tasks = try tasksFile("three.jsonl", (1...3).map { ["id": .string("p\($0)"), "task": .string("answer p\($0)")] })
        try await ScriptedResponsesServer.withServer(responder: Self.mixed) { server in
            let started = ContinuousClock.now
            let running = try Launched(
                ["batch", spec.path, tasks.path, "--max-requests-per-minute", "2", "--journal-dir", journals.path, "--base-url", server.baseURL],
                environment: ["OPENAI_API_KEY": "k"])
            try await waitUntil("two requests", pollEvery: .milliseconds(10)) { server.createRequests.count == 2 }
            try await Task.sleep(for: .seconds(1))
            #expect(server.createRequests.count == 2, "the third request waits for the minute to pass")
            kill(running.process.processIdentifier, SIGINT)
            let stopped = await running.wait()
            #expect(stopped.status == 130, "\(stopped.stderr)")
            #expect(ContinuousClock.now - started < .seconds(30), "a waiting batch stops at once on Ctrl-C")
        }
    }

    // MARK: Ctrl-C, changed tasks, bad input

    @Test func ctrlCStopsTheRunningTasksAndTheNextRunResumes() async throws {
        let spec = try file("appender.json", #"""
            {"name": "appender", "model": "m", "tools": [{"manifest": "append.json"}], "workspace": {"root": "work"}}
            """#)
        let ids = (1...6).map { "c\($0)" }
        let tasks = try tasksFile("six.jsonl", ids.map { ["id": .string($0), "task": .string($0)] })
        let slow = Mutex(true)
        let responder: @Sendable (ScriptedConversation) -> ScriptedTurn = { conversation in
            if conversation.toolOutputs.isEmpty {
                return ScriptedTurn.calls(.call("append", ["line": .string(conversation.task)]))
            }
            return ScriptedTurn.message("logged").delayed(by: slow.withLock { $0 } ? .seconds(30) : .zero)
        }
        try await ScriptedResponsesServer.withServer(responder: responder) { server in
            let arguments = ["batch", spec.path, tasks.path, "--concurrency", "3", "--journal-dir", journals.path, "--base-url", server.baseURL]
            let running = try Launched(arguments, environment: ["OPENAI_API_KEY": "k"])
            try await waitUntil("three tasks waiting on their second turn", pollEvery: .milliseconds(10)) { server.createRequests.count == 6 }
            let interruptedAt = ContinuousClock.now
            kill(running.process.processIdentifier, SIGINT)
            let stopped = await running.wait()
            #expect(ContinuousClock.now - interruptedAt < .seconds(10))
            #expect(stopped.status == 130, "\(stopped.stderr)")
            #expect(stopped.stderr.contains("run the same command again to resume"), "\(stopped.stderr)")
            let lines = try jsonLines(stopped.stdout)
            let cancelled = taskLines(lines)
            #expect(cancelled.count == 3)
            #expect(cancelled.values.allSatisfy { $0["status"] == "cancelled" })
            #expect(lines.last?["not_run"] == 3)

            slow.withLock { $0 = false }
            let resumed = try await errand(arguments)
            #expect(resumed.status == 0, "\(resumed.stderr)")
            let byID = taskLines(try jsonLines(resumed.stdout))
            #expect(byID.values.allSatisfy { $0["status"] == "completed" })
            #expect(byID.values.filter { $0["origin"] == "resumed" }.count == 3)
            #expect(byID.values.filter { $0["origin"] == "started" }.count == 3)
            #expect(logLines.sorted() == ids, "each append ran once")
        }
    }

    @Test func aChangedTaskIsRefusedUntilRestartChanged() async throws {
        let spec = try file("plain.json", #"{"name": "plain", "model": "m", "tools": ["read_file"], "workspace": {"root": "work"}}"#)
        try await ScriptedResponsesServer.withServer(responder: Self.mixed) { server in
            let tasks = try tasksFile("two.jsonl", [["id": "a", "task": "answer a"], ["id": "b", "task": "answer b"]])
            let arguments = ["batch", spec.path, tasks.path, "--journal-dir", journals.path, "--base-url", server.baseURL]
            #expect(try await errand(arguments).status == 0)
            _ = try tasksFile("two.jsonl", [["id": "a", "task": "answer a"], ["id": "b", "task": "answer b, but differently"]])
            let refused = try await errand(arguments)
            #expect(refused.status == 2)
            #expect(refused.stderr.contains("'b'") && refused.stderr.contains("--restart-changed"), "\(refused.stderr)")
            let restarted = try await errand(arguments + ["--restart-changed"])
            #expect(restarted.status == 0, "\(restarted.stderr)")
            let byID = taskLines(try jsonLines(restarted.stdout))
            #expect(byID["a"]?["origin"] == "journaled")
            #expect(byID["b"]?["origin"] == "started")
            #expect(byID["b"]?["output_text"] == "finished answer b, but differently")
        }
    }

    @Test func badTasksAndUsageExitTwoWithTheLine() async throws {
        let spec = try file("plain.json", #"{"name": "plain", "model": "m", "tools": ["read_file"], "workspace": {"root": "work"}}"#)
        let tasks = try file("bad.jsonl", "{\"id\": \"a\", \"task\": \"x\"}\n{\"id\": \"a\", \"task\": \"y\"}\n{\"task\": \"z\", \"colour\": 1}\nnot json\n")
        let bad = try await errand(["batch", spec.path, tasks.path, "--journal-dir", journals.path])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("line 2.id"), "\(bad.stderr)")
        #expect(bad.stderr.contains("line 3.id"))
        #expect(bad.stderr.contains("colour"))
        #expect(bad.stderr.contains("line 4"))
        let good = try tasksFile("good.jsonl", [["id": "a", "task": "x"]])
        let zero = try await errand(["batch", spec.path, good.path, "--concurrency", "0"])
        #expect(zero.status == 2)
        #expect(zero.stderr.contains("--concurrency"))
    }

    // MARK: Output

    @Test func outputFileGetsTheLinesAndATerminalGetsTheProgressLine() async throws {
        let spec = try file("plain.json", #"{"name": "plain", "model": "m", "tools": ["read_file"], "workspace": {"root": "work"}}"#)
        let tasks = try tasksFile("slow.jsonl", (1...3).map { ["id": .string("s\($0)"), "task": .string("answer s\($0)")] })
        let responder: @Sendable (ScriptedConversation) -> ScriptedTurn = { conversation in
            ScriptedTurn.message("ok \(conversation.task)").delayed(by: .milliseconds(700))
        }
        try await ScriptedResponsesServer.withServer(responder: responder) { server in
            let output = folder.appendingPathComponent("out/results.jsonl")
            let terminal = try PseudoTerminal()
            let running = try Launched(
                ["batch", spec.path, tasks.path, "--concurrency", "1", "--output", output.path, "--journal-dir", journals.path, "--base-url", server.baseURL],
                environment: ["OPENAI_API_KEY": "k"], standardOutput: FileHandle.nullDevice, standardError: terminal.follower)
            terminal.closeFollower()
            // Reading ends when errand closes the terminal; a time limit that cancels the test kills errand to get there.
            let screen = await withTaskCancellationHandler {
                await terminal.readAll()
            } onCancel: {
                kill(running.process.processIdentifier, SIGKILL)
            }
            try await waitUntil("errand to exit after closing the terminal", pollEvery: .milliseconds(10)) { !running.process.isRunning }
            #expect(running.process.terminationStatus == 0, "\(screen)")
            #expect(screen.contains("done ·") && screen.contains("running"), "a progress line: \(screen.debugDescription)")
            #expect(screen.contains("ETA"))
            #expect(screen.contains("\r"), "redrawn in place, not scrolled")
            #expect(!screen.contains("\n"), "one line that never scrolls: \(screen.debugDescription)")
            let lines = try jsonLines(try String(contentsOf: output, encoding: .utf8))
            #expect(lines.count == 4)
            #expect(lines.last?["statuses"]?["completed"] == 3)
        }
    }
}

/// A pseudo-terminal: the follower side is handed to a child as a terminal; the leader side reads what it wrote.
final class PseudoTerminal: @unchecked Sendable {
    let leader: Int32
    let follower: FileHandle

    init() throws {
        #if os(Linux)
        // Glibc's module map leaves the XSI pseudo-terminal calls out; they are in libc all the same.
        typealias Open = @convention(c) (Int32) -> Int32
        typealias Call = @convention(c) (Int32) -> Int32
        typealias Name = @convention(c) (Int32) -> UnsafeMutablePointer<CChar>?
        func symbol<T>(_ name: String, as type: T.Type) throws -> T {
            guard let pointer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { throw CocoaError(.featureUnsupported) }
            return unsafeBitCast(pointer, to: type)
        }
        let posix_openpt = try symbol("posix_openpt", as: Open.self)
        let grantpt = try symbol("grantpt", as: Call.self)
        let unlockpt = try symbol("unlockpt", as: Call.self)
        let ptsname = try symbol("ptsname", as: Name.self)
        #endif
        leader = posix_openpt(O_RDWR | O_NOCTTY)
        guard leader >= 0, grantpt(leader) == 0, unlockpt(leader) == 0, let name = ptsname(leader) else {
            throw CocoaError(.fileNoSuchFile)
        }
        let descriptor = open(name, O_RDWR | O_NOCTTY)
        guard descriptor >= 0 else { throw CocoaError(.fileNoSuchFile) }
        follower = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }

    /// Closes this process's copy of the follower, so that reading ends when the child exits.
    func closeFollower() {
        try? follower.close()
    }

    /// Everything written until the child closes its side.
    func readAll() async -> String {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { [leader] in
                var data = Data()
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = read(leader, &buffer, buffer.count)
                    if count <= 0 { break }
                    data.append(contentsOf: buffer[0..<count])
                }
                close(leader)
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
    }
}
