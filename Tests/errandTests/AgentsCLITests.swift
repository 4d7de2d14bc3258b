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

/// `errand run` and `errand batch` with agents that use agents and typed results, over loopback: a SIGKILL during a
/// sub-run and `--resume last`; `--output-schema` on a batch whose every line carries a valid `output`; `--output`.
@Suite(.serialized, .timeLimit(.minutes(5))) struct AgentsCLITests {
    let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-agents-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("work"), withIntermediateDirectories: true)
        // The side effect: a line in the ledger per call, not keyed on anything, and not marked safe to repeat: a child
        // run started again from scratch would write it twice.
        try #"""
            {"name": "record", "description": "Record a note (a side effect).",
             "parameters": {"type": "object", "properties": {"note": {"type": "string"}}, "required": ["note"], "additionalProperties": false},
             "command": ["sh", "-c", "echo \"$1\" >> ledger; echo recorded", "record", "{note}"], "timeout_seconds": 30, "strict": true}
            """#.write(to: folder.appendingPathComponent("record.json"), atomically: true, encoding: .utf8)
        try #"""
            {"name": "worker", "model": "m-worker", "instructions": "You are the worker.", "tools": [{"manifest": "record.json"}],
             "workspace": {"root": "work", "writable": true}}
            """#.write(to: folder.appendingPathComponent("worker.json"), atomically: true, encoding: .utf8)
        try #"""
            {"name": "lead", "model": "m-lead", "instructions": "You are the lead.", "tools": [{"agent": "worker.json", "name": "delegate"}],
             "workspace": {"root": "work"}}
            """#.write(to: folder.appendingPathComponent("lead.json"), atomically: true, encoding: .utf8)
    }

    /// The lead delegates once and reports the worker's answer; the worker records, then answers after a pause (the
    /// moment a kill lands in).
    static let routes: [(String, @Sendable (ScriptedConversation) -> ScriptedTurn)] = [
        ("You are the lead", { conversation in
            guard let output = conversation.toolOutputs.first?["output"]?.stringValue else {
                return .calls(.call("delegate", ["task": "record the note 'one'"], id: "call_delegate"))
            }
            return .message("lead: \(output)")
        }),
        ("You are the worker", { conversation in
            conversation.toolOutputs.isEmpty
                ? .calls(.call("record", ["note": "one"], id: "call_record"))
                : ScriptedTurn.message("worker recorded one").delayed(by: .milliseconds(1500))
        }),
    ]

    func errand(_ arguments: [String]) throws -> Launched {
        try Launched(arguments, environment: ["OPENAI_API_KEY": "sk-agents-test"])
    }

    @Test func aSubRunKilledMidwayIsResumedAndItsSideEffectHappensOnce() async throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        let spec = folder.appendingPathComponent("lead.json").path
        let ledger = folder.appendingPathComponent("work/ledger")
        try await ScriptedResponsesServer.withServer(responder: ScriptedAgents.responder(Self.routes)) { server in
            // The uninterrupted run, for the answer to compare with.
            let clean = folder.appendingPathComponent("clean")
            let reference = try await errand(["run", spec, "go", "--quiet", "--journal-dir", clean.path, "--base-url", server.baseURL]).wait()
            #expect(reference.status == 0, "\(reference.stderr)")
            #expect(reference.stdout == "lead: worker recorded one\n")
            try FileManager.default.removeItem(at: ledger)

            // Killed while the worker waits for its second answer: after its side effect, before its end.
            let journals = folder.appendingPathComponent("journals")
            let running = try errand(["run", spec, "go", "--journal-dir", journals.path, "--base-url", server.baseURL])
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(20)
            while !FileManager.default.fileExists(atPath: ledger.path), clock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            try await Task.sleep(for: .milliseconds(400))
            #expect(running.process.isRunning, "the worker is still waiting for its answer")
            kill(running.process.processIdentifier, SIGKILL)
            _ = await running.wait()
            let files = try FileManager.default.contentsOfDirectory(atPath: journals.path).sorted()
            #expect(files.count == 2, "the lead's journal and the worker's: \(files)")
            let child = try #require(files.first { $0.contains(".call_delegate") })
            let childLines = try String(contentsOf: journals.appendingPathComponent(child), encoding: .utf8)
            #expect(childLines.contains(#""type":"tool_finished""#) && !childLines.contains(#""type":"run_finished""#))

            let resumed = try await errand(["run", spec, "--resume", "last", "--quiet", "--journal-dir", journals.path, "--base-url", server.baseURL]).wait()
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(resumed.stdout == reference.stdout, "the same answer as the uninterrupted run")
            let lines = try String(contentsOf: ledger, encoding: .utf8).split(separator: "\n")
            #expect(lines == ["one"], "the worker's side effect happened once: \(lines)")
            // The worker's run was resumed, not started again: one journal, resumed once, one run_started.
            let after = try String(contentsOf: journals.appendingPathComponent(child), encoding: .utf8)
            #expect(after.components(separatedBy: #""type":"run_started""#).count == 2)
            #expect(after.contains(#""type":"run_resumed""#))
            #expect(try FileManager.default.contentsOfDirectory(atPath: journals.path).count == 2)
            #expect(server.createRequests.filter { $0.body?["instructions"] == "You are the worker." && !($0.body?["input"]?.arrayValue ?? []).contains { $0["type"] == "function_call_output" } }.count == 2,
                    "the worker's first turn was asked once per run (the clean one and the killed one), not again on resume")
        }
    }

    static let schema = #"""
        {"type": "object", "additionalProperties": false, "required": ["word", "length"],
         "properties": {"word": {"type": "string"}, "length": {"type": "integer"}}}
        """#

    /// Answers with the task's word and its length as JSON; "banana" is answered wrongly first (a string length).
    static let counter: @Sendable (ScriptedConversation) -> ScriptedTurn = { conversation in
        let word = conversation.task.split(separator: " ").last.map(String.init) ?? ""
        let corrected = ScriptedAgents.lastUserText(conversation).contains("does not match")
        if word == "banana", !corrected { return .message(#"{"word": "banana", "length": "six"}"#) }
        return .message(#"{"word": "\#(word)", "length": \#(word.count)}"#)
    }

    @Test func aBatchWithAnOutputSchemaCarriesAValidOutputOnEveryLine() async throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.schema.write(to: folder.appendingPathComponent("word.schema.json"), atomically: true, encoding: .utf8)
        try #"{"name": "counter", "model": "m", "instructions": "You count letters."}"#.write(
            to: folder.appendingPathComponent("counter.json"), atomically: true, encoding: .utf8)
        let words = ["apple", "banana", "cherry", "fig"]
        try words.map { #"{"id": "\#($0)", "task": "Count the letters of \#($0)"}"# }.joined(separator: "\n")
            .write(to: folder.appendingPathComponent("tasks.jsonl"), atomically: true, encoding: .utf8)
        try await ScriptedResponsesServer.withServer(responder: Self.counter) { server in
            let run = try await errand([
                "batch", folder.appendingPathComponent("counter.json").path, folder.appendingPathComponent("tasks.jsonl").path,
                "--output-schema", folder.appendingPathComponent("word.schema.json").path, "--journal-dir", folder.appendingPathComponent("j").path,
                "--base-url", server.baseURL,
            ]).wait()
            #expect(run.status == 0, "\(run.stderr)")
            let lines = try run.stdout.split(separator: "\n").map { try JSONValue(parsing: String($0)) }.filter { $0["type"] == "task" }
            #expect(lines.count == 4)
            for line in lines {
                let word = line["id"]?.stringValue ?? ""
                #expect(line["status"] == "completed")
                #expect(line["output"] == ["word": .string(word), "length": .number(Double(word.count))], "\(line)")
            }
            #expect(lines.first { $0["id"] == "banana" }?["turns"] == 2, "banana needed its corrective turn")
            // Every request carried the schema as text.format.
            #expect(server.createRequests.allSatisfy { $0.body?["text"]?["format"]?["name"] == "word" && $0.body?["text"]?["format"]?["strict"] == true })
        }
    }

    @Test func outputWritesTheParsedValueAndJSONCarriesIt() async throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.schema.write(to: folder.appendingPathComponent("word.schema.json"), atomically: true, encoding: .utf8)
        try #"{"name": "counter", "model": "m", "instructions": "You count letters.", "output_schema": {"file": "word.schema.json"}}"#.write(
            to: folder.appendingPathComponent("counter.json"), atomically: true, encoding: .utf8)
        try await ScriptedResponsesServer.withServer(responder: Self.counter) { server in
            let out = folder.appendingPathComponent("out.json")
            let run = try await errand([
                "run", folder.appendingPathComponent("counter.json").path, "Count the letters of banana", "--json", "--output", out.path,
                "--journal-dir", folder.appendingPathComponent("j").path, "--base-url", server.baseURL,
            ]).wait()
            #expect(run.status == 0, "\(run.stderr)")
            let result = try JSONValue(parsing: run.stdout)
            #expect(result["output"] == ["word": "banana", "length": 6])
            #expect(try JSONValue(parsing: Data(contentsOf: out)) == ["word": "banana", "length": 6])

            // A schema file that is not a schema is refused before anything runs.
            try #"{"type": "object", "properties": {"n": {"type": "strin"}}}"#.write(to: folder.appendingPathComponent("bad.json"), atomically: true, encoding: .utf8)
            let refused = try await errand([
                "run", folder.appendingPathComponent("counter.json").path, "x", "--output-schema", folder.appendingPathComponent("bad.json").path,
                "--base-url", server.baseURL,
            ]).wait()
            #expect(refused.status == 64 || refused.status == 2, "\(refused.status)")
            #expect(refused.stderr.contains("properties.n.type: 'strin' is not a JSON Schema type"), "\(refused.stderr)")
        }
    }
}
