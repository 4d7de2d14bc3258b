import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The run core from the command line: no tool runs twice after a kill, resume checks the agent, follow-ups, the list
/// of runs, the provider rule, and a journal that cannot be written.
@Suite(.serialized, .timeLimit(.minutes(5))) struct RunCoreCLITests {
    let folder: URL
    let journals: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-core-\(UUID().uuidString)")
        journals = folder.appendingPathComponent("journals")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("work"), withIntermediateDirectories: true)
        try "The secret word is teapot.\n".write(to: folder.appendingPathComponent("work/notes.txt"), atomically: true, encoding: .utf8)
        // A command with a side effect that must not happen twice: it appends a line, then takes its time.
        let script = folder.appendingPathComponent("append.sh")
        try "#!/bin/sh\necho $$ > pid.txt\necho \"$1\" >> log.txt\nexec sleep 5\n".write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        try #"""
            {"name": "append", "description": "Append a line to log.txt.",
             "parameters": {"type": "object", "properties": {"line": {"type": "string"}}, "required": ["line"], "additionalProperties": false},
             "command": ["./append.sh", "{line}"], "timeout_seconds": 20, "strict": true}
            """#.write(to: folder.appendingPathComponent("append.json"), atomically: true, encoding: .utf8)
    }

    func spec(_ name: String, _ json: String) throws -> URL {
        let file = folder.appendingPathComponent(name)
        try json.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    /// Runs errand with a key, and `environment` over it.
    func errand(_ arguments: [String], environment: [String: String] = [:]) async throws -> ErrandResult {
        try await runErrand(arguments, environment: ["OPENAI_API_KEY": "sk-test"].merging(environment) { $1 })
    }

    var logLines: Int {
        ((try? String(contentsOf: folder.appendingPathComponent("work/log.txt"), encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    enum Rerun: String, CaseIterable, Sendable {
        case no, idempotentEntry, flag
    }

    @Test(arguments: Rerun.allCases)
    func aCommandKilledMidCallIsNotRunAgainUnlessSafeOrAsked(_ rerun: Rerun) async throws {
        let idempotent = rerun == .idempotentEntry ? #", "idempotent": true"# : ""
        let agent = try spec("appender.json", """
            {"name": "appender", "model": "m", "tools": [{"manifest": "append.json"\(idempotent)}], "workspace": {"root": "work"}}
            """)
        let turns: [ScriptedTurn] = [.calls(.call("append", ["line": "sent the invoice"], id: "call_append")), .message("Done.")]
        try await ScriptedResponsesServer.withServer(turns) { server in
            let running = try Launched(["run", agent.path, "Send it.", "--journal-dir", journals.path, "--base-url", server.baseURL], environment: ["OPENAI_API_KEY": "k"])
            try await waitUntil("the command to run") { logLines == 1 }
            kill(running.process.processIdentifier, SIGKILL)
            _ = await running.wait()
            if let pid = Int32(((try? String(contentsOf: folder.appendingPathComponent("work/pid.txt"), encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGKILL)  // the orphaned sleep
            }
            var resume = ["run", agent.path, "--resume", "last", "--journal-dir", journals.path, "--base-url", server.baseURL]
            if rerun == .flag { resume.append("--rerun-interrupted") }
            let resumed = try await errand(resume)
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(resumed.stdout == "Done.\n")
            let output = server.createRequests.last?.body?["input"]?[0]?["output"]?.stringValue ?? ""
            if rerun == .no {
                #expect(logLines == 1, "the side effect happened once")
                #expect(output.contains("was interrupted by a crash before it finished; it may or may not have taken effect"), "\(output)")
            } else {
                #expect(logLines == 2, "run again (\(rerun))")
                #expect(!output.contains("interrupted"), "\(output)")
            }
        }
    }

    @Test func resumeRefusesAChangedSpecAndForceProceeds() async throws {
        let agent = try spec("reader.json", #"{"name": "reader", "model": "m1", "tools": ["read_file"], "workspace": {"root": "work"}}"#)
        let slow = ScriptedTurn.message("too late").delayed(by: .seconds(60))
        try await ScriptedResponsesServer.withServer([RunCommandTests.readNotes, slow]) { server in
            let running = try Launched(["run", agent.path, "word?", "--journal-dir", journals.path, "--base-url", server.baseURL], environment: ["OPENAI_API_KEY": "k"])
            try await waitUntil("the second request") { server.createRequests.count == 2 }
            kill(running.process.processIdentifier, SIGKILL)
            _ = await running.wait()
            _ = try spec("reader.json", #"{"name": "reader", "model": "m2", "instructions": "Be brief.", "tools": ["read_file", "list_directory"], "workspace": {"root": "work"}}"#)
            let refused = try await errand(["run", agent.path, "--resume", "last", "--journal-dir", journals.path, "--base-url", server.baseURL])
            #expect(refused.status == 2)
            #expect(refused.stderr.contains("the model is 'm2', the run used 'm1'"), "\(refused.stderr)")
            #expect(refused.stderr.contains("the instructions differ"))
            #expect(refused.stderr.contains("tools added: list_directory"))
            #expect(refused.stderr.contains("--force"))
            server.enqueue([.message("The word is teapot.")])
            let forced = try await errand(["run", agent.path, "--resume", "last", "--force", "--journal-dir", journals.path, "--base-url", server.baseURL])
            #expect(forced.status == 0, "\(forced.stderr)")
            #expect(forced.stdout == "The word is teapot.\n")
        }
    }

    @Test(arguments: [false, true])
    func continueAddsAFollowUp(stateless: Bool) async throws {
        let agent = try spec("chat.json", #"{"name": "chat", "model": "m", "tools": ["read_file"], "workspace": {"root": "work"}}"#)
        let turns: [ScriptedTurn] = [RunCommandTests.readNotes, .message("The word is teapot."), .message("It has 6 letters.")]
        try await ScriptedResponsesServer.withServer(turns, dialect: stateless ? .stateless : .spec) { server in
            let first = try await errand(["run", agent.path, "What is the word?", "--journal-dir", journals.path, "--base-url", server.baseURL])
            #expect(first.status == 0, "\(first.stderr)")
            let second = try await errand(["run", agent.path, "--continue", "last", "How", "long", "is", "it?", "--journal-dir", journals.path, "--base-url", server.baseURL])
            #expect(second.status == 0, "\(second.stderr)")
            #expect(second.stdout == "It has 6 letters.\n")
            let follow = try #require(server.createRequests.last)
            let input = follow.body?["input"]?.arrayValue ?? []
            #expect(input.last?["content"] == "How long is it?")
            if stateless {
                #expect(follow.body?["previous_response_id"] == nil)
                #expect(input.contains { $0["content"] == "What is the word?" }, "the earlier conversation is replayed")
                #expect(input.contains { $0["type"] == "function_call_output" })
            } else {
                #expect(follow.body?["previous_response_id"]?.stringValue?.hasPrefix("resp_") == true, "chained to the earlier answer")
                #expect(input.count == 1)
            }
            let files = try FileManager.default.contentsOfDirectory(atPath: journals.path)
            #expect(files.count == 1, "the follow-up goes to the same journal")
        }
    }

    @Test func runsListsAndShowsRunsAndResumeLastWorks() async throws {
        let agent = try spec("reader.json", #"{"name": "reader", "model": "m", "tools": ["read_file"], "workspace": {"root": "work"}}"#)
        try await ScriptedResponsesServer.withServer([RunCommandTests.readNotes, .message("The word is teapot."), .message("Hello.")]) { server in
            _ = try await errand(["run", agent.path, "What is the word?\nSecond line.", "--journal-dir", journals.path, "--base-url", server.baseURL])
            try await Task.sleep(for: .milliseconds(1100))  // the second run starts a second later
            _ = try await errand(["run", agent.path, "Say hello", "--journal-dir", journals.path, "--base-url", server.baseURL])
            let list = try await errand(["runs", "--journal-dir", journals.path])
            #expect(list.status == 0, "\(list.stderr)")
            let lines = list.stdout.split(separator: "\n")
            #expect(lines.count == 3)
            #expect(lines[0].hasPrefix("RUN"))
            #expect(lines[1].contains("reader") && lines[1].contains("completed") && lines[1].contains("What is the word?") && !lines[1].contains("Second line"))
            #expect(lines[2].contains("Say hello"))
            let json = try await errand(["runs", "--json", "--journal-dir", journals.path])
            let runs = try json.stdout.split(separator: "\n").map { try JSONValue(parsing: String($0)) }
            #expect(runs.map { $0["turns"] } == [2, 1])
            #expect(runs.allSatisfy { $0["status"] == "completed" && ($0["total_tokens"]?.intValue ?? 0) > 0 })
            let show = try await errand(["runs", "show", runs[0]["run_id"]?.stringValue ?? "?", "--journal-dir", journals.path])
            #expect(show.status == 0, "\(show.stderr)")
            #expect(show.stdout.contains("turn 1 → request (the first request)"))
            #expect(show.stdout.contains("↳ read_file"))
            #expect(show.stdout.contains("✓ completed: 2 turns, 1 tool call,"))
            let last = try await errand(["runs", "show", "last", "--journal-dir", journals.path])
            #expect(last.stdout.contains("Say hello"))
            let again = try await errand(["run", agent.path, "--resume", "last", "--journal-dir", journals.path, "--base-url", server.baseURL])
            #expect(again.status == 0, "a finished run is not run again: \(again.stderr)")
            #expect(again.stdout == "Hello.\n")
            #expect(server.createRequests.count == 3)
            let nothing = try await errand(["runs", "show", "run-nope", "--journal-dir", journals.path])
            #expect(nothing.status == 2)
            #expect(nothing.stderr.contains("no journal for run run-nope"))
        }
    }

    @Test func runHonoursErrandProvider() async throws {
        let agent = try spec("plain.json", #"{"name": "plain", "tools": ["read_file"], "workspace": {"root": "work"}}"#)
        // No base URL anywhere: ERRAND_PROVIDER picks the preset, and its key variable is the one asked for.
        let result = try await errand(["run", agent.path, "hi", "--journal-dir", journals.path], environment: ["ERRAND_PROVIDER": "mume", "OPENAI_API_KEY": ""])
        #expect(result.status == 1)
        #expect(result.stderr.contains("MUME_API_KEY"), "\(result.stderr)")
        let bad = try await errand(["run", agent.path, "hi", "--journal-dir", journals.path], environment: ["ERRAND_PROVIDER": "azure"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("ERRAND_PROVIDER names 'azure', which is not a preset"), "\(bad.stderr)")
    }

    @Test func aJournalFolderThatCannotBeWrittenEndsTheRunWithTheReason() async throws {
        let agent = try spec("reader.json", #"{"name": "reader", "model": "m", "tools": ["read_file"], "workspace": {"root": "work"}}"#)
        let locked = folder.appendingPathComponent("locked")
        try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: locked.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder.path)
        // Root writes anywhere: run errand as nobody when the tests run as root.
        var prefix: [String] = []
        if getuid() == 0 {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
                Issue.record("running as root without setpriv: cannot make a folder errand cannot write")
                return
            }
            prefix = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ErrandBinary.url.path]
        }
        try await ScriptedResponsesServer.withServer([.message("never")]) { server in
            let arguments = ["run", agent.path, "hi", "--journal-dir", locked.path, "--base-url", server.baseURL]
            let result: ErrandResult
            if prefix.isEmpty {
                result = try await errand(arguments)
            } else {
                result = try await runErrand(Array(prefix.dropFirst()) + arguments, environment: ["OPENAI_API_KEY": "k"], executable: URL(fileURLWithPath: prefix[0]))
            }
            #expect(result.status == 1, "\(result.stderr)")
            #expect(result.stderr.contains("cannot create the journal at \(locked.path)/run-"), "\(result.stderr)")
            #expect(result.stderr.contains("Permission denied"))
            #expect(server.createRequests.isEmpty, "no model call that the journal could not hold")
        }
    }
}
