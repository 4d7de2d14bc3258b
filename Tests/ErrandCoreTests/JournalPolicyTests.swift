import ErrandCore
import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

/// What a journal keeps and how hard it tries to keep it: fsync under `power`, tool output as the policy says, and
/// secrets never written.
@Suite(.timeLimit(.minutes(3))) struct JournalPolicyTests {
    /// Prints what it is given, as a tool that read a secret from a file or the environment would.
    struct Say: Tool {
        struct Arguments: Decodable { var text: String }
        let name = "say"
        let description = "Say the text."
        let parameters = JSONSchema.object(["text": .string("What to say")])
        func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput { .text(arguments.text) }
    }

    /// Says its text `times` times: a long output from short arguments.
    struct Repeat: Tool {
        struct Arguments: Decodable { var text: String; var times: Int }
        let name = "repeat"
        let description = "Repeat the text."
        let parameters = JSONSchema.object(["text": .string("What to repeat"), "times": .integer("How often")])
        func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput { .text(String(repeating: arguments.text, count: arguments.times)) }
    }

    static func journalText(_ url: URL) throws -> String { try String(contentsOf: url, encoding: .utf8) }

    @Test func powerDurabilitySyncsEveryLineAndTheFolder() throws {
        let folder = try temporaryDirectory()
        let power = try Journal(url: folder.appendingPathComponent("power.jsonl"), policy: JournalPolicy(durability: .power))
        for turn in 1...3 { try power.append(.backgroundResponse(.init(turn: turn, responseID: "resp_\(turn)")), runID: "r") }
        #expect(power.syncCount == 4, "the folder once, then each of the three lines")
        let process = try Journal(url: folder.appendingPathComponent("process.jsonl"))
        for turn in 1...3 { try process.append(.backgroundResponse(.init(turn: turn, responseID: "resp_\(turn)")), runID: "r") }
        #expect(process.syncCount == 0)
        // Reopening an existing journal does not sync the folder again.
        let again = try Journal(url: folder.appendingPathComponent("power.jsonl"), policy: JournalPolicy(durability: .power))
        #expect(again.syncCount == 0)
        #expect(try Journal.read(folder.appendingPathComponent("power.jsonl")).count == 3)
    }

    @Test func aSecretATOolPrintsIsRedactedEvenWhenJSONEscapesIt() async throws {
        let plain = "sk-live-0123456789abcdef"
        let quoted = #"pa"ss\word-0123456789"#
        let script: [ScriptedTurn] = [
            .calls(.call("say", ["text": .string("the key is \(plain), the password \(quoted)")], id: "c1")),
            .message("I saw \(plain)"),
        ]
        try await withRunner(script) { runner, _ in
            let journal = try temporaryDirectory().appendingPathComponent("run.jsonl")
            var agent = Agent(model: "m", tools: try registry([Say()]))
            agent.journalPolicy = JournalPolicy(secrets: [plain, quoted, "short"])
            let result = await runner.run(agent, input: "go", journal: journal)
            #expect(result.status == .completed)
            let text = try Self.journalText(journal)
            #expect(!text.contains(plain) && !text.contains("0123456789abcdef"))
            #expect(!text.contains(#"pa\"ss\\word"#) && !text.contains("word-0123456789"))
            #expect(text.contains("the key is [redacted], the password [redacted]"))
            #expect(text.contains("I saw [redacted]"))
            #expect(try Journal.read(journal).count > 0, "the redacted journal still parses")
        }
    }

    @Test func toolOutputCanBeTruncatedOrLeftOutAndResumeSaysSo() async throws {
        let long = String(repeating: "0123456789", count: 30)
        for (policy, expected) in [(JournalPolicy.ToolOutput.truncated(25), "0123456789012345678901234\n[275 more characters not journaled: journal.tool_output is truncated]"),
                                   (.none, "[output not journaled: journal.tool_output is none]")] {
            let script: [ScriptedTurn] = [.calls(.call("repeat", ["text": "0123456789", "times": 30], id: "c1")), .message("done")]
            try await withRunner(script) { runner, server in
                let journal = try temporaryDirectory().appendingPathComponent("run.jsonl")
                var agent = Agent(model: "m", tools: try registry([Repeat()]))
                agent.journalPolicy = JournalPolicy(toolOutput: policy)
                let result = await runner.run(agent, input: "go", journal: journal)
                #expect(result.status == .completed)
                #expect(result.toolCalls.first?.output == long, "the model and the caller get the whole output")
                let records = try Journal.read(journal)
                let finished = records.compactMap { record -> ToolCallRecord? in
                    if case .toolFinished(let call) = record.event { return call } else { return nil }
                }
                #expect(finished.map(\.output) == [expected])
                #expect(!(try Self.journalText(journal)).contains(long), "neither in tool_finished nor in the next request's input")
                let sent = server.createRequests.last?.body?["input"]?.arrayValue?.first { $0["type"] == "function_call_output" }
                #expect(sent?["output"]?.stringValue == long, "the model got the whole output")
            }
        }
    }

    @Test func theClientsAPIKeyIsNeverJournaled() async throws {
        let key = "sk-test-the-clients-own-key-42"
        try await ScriptedResponsesServer.withServer([.calls(.call("say", ["text": .string("env: OPENAI_API_KEY=\(key)")], id: "c1")), .message("ok")]) { server in
            var provider = server.provider
            provider.apiKey = APIKey(key)
            try await ResponsesClient.withClient(provider: provider, configuration: fastClientConfiguration()) { client in
                let journal = try temporaryDirectory().appendingPathComponent("run.jsonl")
                let result = await Runner(client: client).run(Agent(model: "m", tools: try registry([Say()])), input: "go", journal: journal)
                #expect(result.status == .completed)
                let text = try Self.journalText(journal)
                #expect(!text.contains(key))
                #expect(text.contains("OPENAI_API_KEY=[redacted]"))
            }
        }
    }
}
