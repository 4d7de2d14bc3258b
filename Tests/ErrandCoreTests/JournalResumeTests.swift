import ErrandCore
import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

/// The journal is the run: a run cut after any step resumes from its journal and ends exactly as the whole run did,
/// through the one transition function.
@Suite(.timeLimit(.minutes(3))) struct JournalResumeTests {
    /// Two parallel calls, then one, then an answer cut by the token cap (so that `incompleteReason` is compared too).
    static let script: [ScriptedTurn] = [
        .calls(.call("echo", ["text": "a"], id: "c1"), .call("add", ["a": 2, "b": 3], id: "c2")),
        .calls(.call("echo", ["text": "b"], id: "c3")),
        ScriptedTurn(output: [.message("all done")], status: "incomplete", incompleteReason: "max_output_tokens"),
    ]

    private func lines(_ url: URL) throws -> [JSONValue] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    @Test func aWholeRunIsJournaledStepByStep() async throws {
        try await withRunner(Self.script) { runner, _ in
            let journal = try temporaryDirectory().appendingPathComponent("run.jsonl")
            let agent = Agent(model: "m", tools: try registry([Echo(), Add()]))
            let result = await runner.run(agent, input: "go", journal: journal, runID: "run-fixed")
            #expect(result.status == .completed)
            #expect(result.incompleteReason == "max_output_tokens")
            let types = try lines(journal).map { $0["type"]?.stringValue ?? "?" }
            #expect(types == [
                "run_started", "request", "response", "tool_started", "tool_started", "tool_finished", "tool_finished",
                "request", "response", "tool_started", "tool_finished", "request", "response", "run_finished",
            ])
            #expect(try lines(journal).allSatisfy { $0["run_id"] == "run-fixed" })
            #expect(result.journal == journal)
            // Only its owner may read it: it holds what the tools read.
            let mode = try FileManager.default.attributesOfItem(atPath: journal.path)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            // The journal alone gives the same state as the run.
            let replayed = try RunState(replaying: try Journal.read(journal))
            #expect(replayed.result(journal: journal) == result)
        }
    }

    @Test func resumingFromACutAfterEveryStepGivesTheSameResult() async throws {
        // One full run gives the journal and the result; the server keeps its responses, so chains stay valid.
        try await withRunner(Self.script) { runner, server in
            let folder = try temporaryDirectory()
            let full = folder.appendingPathComponent("full.jsonl")
            let agent = Agent(model: "m", tools: try registry([Echo(), Add()]))
            let whole = await runner.run(agent, input: "go", journal: full)
            let all = try String(contentsOf: full, encoding: .utf8).split(separator: "\n").map(String.init)
            try #require(all.count == 14)
            for cut in 1..<(all.count - 1) {
                let kept = Array(all.prefix(cut))
                let responsesKept = kept.filter { $0.contains(#""type":"response""#) }.count
                // A torn half line, as a kill mid-write leaves, is ignored.
                let torn = all[cut].prefix(all[cut].count / 2)
                let journal = folder.appendingPathComponent("cut-\(cut).jsonl")
                try (kept.joined(separator: "\n") + "\n" + torn).write(to: journal, atomically: true, encoding: .utf8)
                server.enqueue(Array(Self.script.dropFirst(responsesKept)))
                let before = server.createRequests.count
                let resumed = try await runner.resume(agent, journal: journal)
                let label = "cut after line \(cut) (\(kept.last.flatMap { try? JSONValue(parsing: $0) }?["type"]?.stringValue ?? "?"))"
                #expect(canonical(resumed) == canonical(whole), "\(label)")
                #expect(resumed.incompleteReason == "max_output_tokens", "\(label)")
                #expect(server.createRequests.count - before == 3 - responsesKept, "\(label): only the missing turns are asked for")
                #expect(server.remainingTurns == 0, "\(label)")
                let resumedTypes = try lines(journal).map { $0["type"]?.stringValue ?? "?" }
                #expect(resumedTypes.last == "run_finished", "\(label)")
                #expect(resumedTypes.contains("run_resumed"), "\(label)")
            }
        }
    }

    @Test func aCallACrashInterruptedIsNotRunAgainUnlessItIsSafeOrAskedFor() async throws {
        for (rerun, expectedLines) in [(false, 1), (true, 2)] {
            let folder = try temporaryDirectory()
            let log = folder.appendingPathComponent("log.txt")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            let turns: [ScriptedTurn] = [.calls(.call("append", ["line": "sent"], id: "c1")), .message("done"), .message("done")]
            try await withRunner(turns) { runner, server in
                let journal = folder.appendingPathComponent("run.jsonl")
                let agent = Agent(model: "m", tools: try registry([Append(file: log)]))
                _ = await runner.run(agent, input: "go", journal: journal)
                // A crash after the call started: its start is journaled, its end is not (the side effect happened).
                let all = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").map(String.init)
                let started = try #require(all.firstIndex { $0.contains(#""type":"tool_started""#) })
                try (all.prefix(started + 1).joined(separator: "\n") + "\n").write(to: journal, atomically: true, encoding: .utf8)
                let resumed = try await runner.resume(agent, journal: journal, options: .init(rerunInterrupted: rerun))
                #expect(resumed.status == .completed)
                let written = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").count
                #expect(written == expectedLines, "rerun \(rerun): the log has \(written) lines")
                let output = try #require(server.createRequests.last?.functionOutputs.first?.1)
                if rerun {
                    #expect(output == "appended")
                } else {
                    #expect(output.contains("interrupted by a crash before it finished; it may or may not have taken effect"))
                    #expect(resumed.toolCalls.first?.notes?.first?.contains("not marked safe to repeat") == true)
                }
            }
        }
    }

    @Test func anIdempotentToolIsRunAgainAfterACrash() async throws {
        try await withRunner([.calls(.call("echo", ["text": "x"], id: "c1")), .message("done"), .message("done")]) { runner, server in
            let journal = try temporaryDirectory().appendingPathComponent("run.jsonl")
            let agent = Agent(model: "m", tools: try registry([Echo()]))
            _ = await runner.run(agent, input: "go", journal: journal)
            let all = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").map(String.init)
            let started = try #require(all.firstIndex { $0.contains(#""type":"tool_started""#) })
            try (all.prefix(started + 1).joined(separator: "\n") + "\n").write(to: journal, atomically: true, encoding: .utf8)
            let resumed = try await runner.resume(agent, journal: journal)
            #expect(resumed.toolCalls.map(\.output) == ["echo: x"])
            #expect(server.createRequests.last?.functionOutputs.first?.1 == "echo: x")
        }
    }

    @Test func resumeRefusesAnotherAgentAndNamesWhatDiffers() async throws {
        try await withRunner([.calls(.call("echo", ["text": "x"], id: "c1")), .message("done")]) { runner, server in
            let journal = try temporaryDirectory().appendingPathComponent("run.jsonl")
            let agent = Agent(model: "m", instructions: "Be brief.", tools: try registry([Echo()]))
            _ = await runner.run(agent, input: "go", journal: journal)
            let all = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").map(String.init)
            try (all.prefix(2).joined(separator: "\n") + "\n").write(to: journal, atomically: true, encoding: .utf8)
            let other = Agent(model: "m2", instructions: "Be long.", tools: try registry([Add()]))
            let error = await #expect(throws: CoreError.self) { _ = try await runner.resume(other, journal: journal) }
            #expect(error?.kind == .resume)
            for part in ["the model is 'm2', the run used 'm'", "the instructions differ", "tools added: add", "tools removed: echo", "--force"] {
                #expect(error?.message.contains(part) == true, "\(error?.message ?? "")")
            }
            server.enqueue([.calls(.call("echo", ["text": "x"], id: "c1")), .message("done")])
            let forced = try await runner.resume(agent, journal: journal, options: .init(force: true))
            #expect(forced.status == .completed)
        }
    }

    @Test(arguments: [ScriptedDialect.spec, .stateless])
    func aFinishedRunContinuesAsAConversation(_ dialect: ScriptedDialect) async throws {
        let turns: [ScriptedTurn] = [.calls(.call("echo", ["text": "a"], id: "c1")), .message("first answer"), .message("second answer")]
        try await withRunner(turns, dialect: dialect) { runner, server in
            let journal = try temporaryDirectory().appendingPathComponent("run.jsonl")
            let agent = Agent(model: "m", tools: try registry([Echo()]), limits: RunLimits(maxTurns: 2))
            let first = await runner.run(agent, input: "go", journal: journal)
            #expect(first.finalText == "first answer")
            let second = try await runner.continueRun(agent, journal: journal, with: "And then?")
            #expect(second.status == .completed, "\(second.error ?? "")")
            #expect(second.finalText == "second answer")
            #expect(second.turns == 3, "the turn limit counts anew for the follow-up")
            #expect(second.toolCalls.map(\.output) == ["echo: a"], "the whole run's calls")
            let follow = try #require(server.createRequests.last)
            let inputs = follow.body?["input"]?.arrayValue ?? []
            #expect(inputs.last?["content"] == "And then?")
            if dialect.keepsState {
                #expect(follow.body?["previous_response_id"]?.stringValue == first.lastResponseID, "chained to the earlier answer")
                #expect(inputs.count == 1)
            } else {
                // Chained first, refused, then the whole conversation replayed.
                #expect(follow.body?["previous_response_id"] == nil)
                #expect(follow.inputTypes == ["message", "function_call", "function_call_output", "message", "message"])
            }
            let types = try lines(journal).map { $0["type"]?.stringValue ?? "?" }
            #expect(types.filter { $0 == "run_finished" }.count == 2)
            #expect(types.contains("input_added"))
            // A run that has not finished cannot be continued, and says why.
            let cut = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").prefix(2).joined(separator: "\n") + "\n"
            try cut.write(to: journal, atomically: true, encoding: .utf8)
            let refused = await #expect(throws: CoreError.self) { _ = try await runner.continueRun(agent, journal: journal, with: "more") }
            #expect(refused?.kind == .continuation)
            #expect(refused?.message.contains("resume it instead") == true)
        }
    }

    // /dev/full takes the file open and refuses every write with ENOSPC, as a full disk does (Linux only).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/dev/full"), "no /dev/full on this system to stand for a full disk"))
    func aJournalThatCannotBeWrittenFailsTheRunWithTheReason() async throws {
        try await withRunner([.calls(.call("echo", ["text": "a"])), .message("never")]) { runner, server in
            let folder = try temporaryDirectory()
            let journal = folder.appendingPathComponent("run.jsonl")
            try FileManager.default.createSymbolicLink(atPath: journal.path, withDestinationPath: "/dev/full")
            let result = await runner.run(Agent(model: "m", tools: try registry([Echo()])), input: "go", journal: journal)
            #expect(result.status == .failed)
            #expect(result.error?.contains("cannot write the journal at \(journal.path): No space left on device") == true, "\(result.error ?? "")")
            #expect(server.createRequests.isEmpty, "nothing is done that the journal cannot hold")
        }
    }

    @Test func aFinishedRunIsNotRunAgain() async throws {
        try await withRunner([.message("once")]) { runner, server in
            let journal = try temporaryDirectory().appendingPathComponent("run.jsonl")
            let agent = Agent(model: "m")
            _ = await runner.run(agent, input: "go", journal: journal)
            let again = try await runner.resume(agent, journal: journal)
            #expect(again.status == .completed)
            #expect(again.finalText == "once")
            #expect(server.createRequests.count == 1)
        }
    }

    @Test func aFileThatIsNotAJournalIsRefused() async throws {
        try await withRunner([]) { runner, _ in
            let file = try temporaryDirectory().appendingPathComponent("x.jsonl")
            try #"{"type":"run_resumed","run_id":"r","time":1,"turn":2}"#.write(to: file, atomically: true, encoding: .utf8)
            let error = await #expect(throws: CoreError.self) { _ = try await runner.resume(Agent(model: "m"), journal: file) }
            #expect(error?.kind == .notAJournal)
            try #"{"type":"nonsense","run_id":"r"}"#.appending("\n").write(to: file, atomically: true, encoding: .utf8)
            let garbled = await #expect(throws: CoreError.self) { _ = try await runner.resume(Agent(model: "m"), journal: file) }
            #expect(garbled?.message.contains("unreadable line 1") == true)
        }
    }

    /// A journal as Errand wrote it before events were typed: `tool_call` lines, approvals with a message. Cut after
    /// the first turn's tool call, it still resumes.
    static let oldJournal = #"""
        {"type":"run_started","run_id":"run-old","time":1,"agent":"agent","model":"m","mode":"auto","tools":[{"type":"function","name":"echo","description":"Repeat the text.","parameters":{"type":"object","properties":{"text":{"type":"string","description":"What to repeat"}},"required":["text"],"additionalProperties":false},"strict":true}],"input":[{"type":"message","role":"user","content":"go"}]}
        {"type":"request","run_id":"run-old","time":2,"turn":1,"mode":"stateful","input":[{"type":"message","role":"user","content":"go"}],"request":{"model":"m","tool_choice":"auto"}}
        {"type":"response","run_id":"run-old","time":3,"turn":1,"response":{"id":"resp_old1","object":"response","created_at":3,"status":"completed","output":[{"type":"function_call","id":"fc_1","call_id":"c1","name":"echo","arguments":"{\"text\":\"a\"}","status":"completed"}]}}
        {"type":"tool_call","run_id":"run-old","time":4,"turn":1,"call_id":"c1","name":"echo","arguments":"{\"text\":\"a\"}","output":"echo: a","is_error":false,"duration_seconds":0.001}

        """#

    @Test func aJournalInTheEarlierFormatStillResumes() async throws {
        try await withRunner([.message("done from the old run")], dialect: .stateless) { runner, server in
            let journal = try temporaryDirectory().appendingPathComponent("run-old.jsonl")
            try Self.oldJournal.write(to: journal, atomically: true, encoding: .utf8)
            let agent = Agent(model: "m", tools: try registry([Echo()]))
            let result = try await runner.resume(agent, journal: journal)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.finalText == "done from the old run")
            #expect(result.toolCalls.map(\.output) == ["echo: a"])
            #expect(result.turns == 2)
            // The chain to the old response is refused by this server; the history is replayed.
            #expect(server.createRequests.first?.body?["previous_response_id"] == "resp_old1")
            #expect(server.createRequests.last?.inputTypes == ["message", "function_call", "function_call_output"])
        }
    }
}
