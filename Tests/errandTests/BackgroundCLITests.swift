import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Background mode, `--input` and `errand probe` from the command line, against the scripted server over loopback.
/// One process at a time: a dozen debug binaries starting at once load a 2-core machine enough to upset the timing of
/// other suites.
@Suite(.serialized, .timeLimit(.minutes(5))) struct BackgroundCLITests {
    let folder: URL
    let journals: URL
    let spec: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-bg-\(UUID().uuidString)")
        journals = folder.appendingPathComponent("journals")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("work"), withIntermediateDirectories: true)
        try "The secret word is teapot.\n".write(to: folder.appendingPathComponent("work/notes.txt"), atomically: true, encoding: .utf8)
        spec = folder.appendingPathComponent("agent.json")
        try #"""
            {"name": "notes-reader", "model": "test-model", "tools": ["read_file"], "workspace": {"root": "work"},
             "settings": {"background": true, "stream": false}}
            """#.write(to: spec, atomically: true, encoding: .utf8)
    }

    static let environment = ["OPENAI_API_KEY": "sk-test"]

    /// Runs errand with a key.
    func errand(_ arguments: [String]) async throws -> ErrandResult {
        try await runErrand(arguments, environment: Self.environment)
    }

    /// The text of the one journal in `journals` (empty until there is one).
    func journalText() -> String {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: journals.path)) ?? []
        return files.first.flatMap { try? String(contentsOf: journals.appendingPathComponent($0), encoding: .utf8) } ?? ""
    }

    // MARK: respond

    @Test func respondBackgroundPollsAJSONAnswer() async throws {
        try await ScriptedResponsesServer.withServer([ScriptedTurn(output: [.message("done in the background")], backgroundPolls: 2)]) { server in
            let result = try await errand(["respond", "--background", "--no-stream", "--base-url", server.baseURL, "--model", "m", "hi"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "done in the background\n")
            #expect(result.stderr.contains("background response resp_"))
            #expect(server.createRequests.first?.body?["background"] == true)
            #expect(server.createRequests.first?.body?["stream"] == nil)
            #expect(server.requests.filter { $0.method == "GET" }.count == 3)
        }
    }

    @Test func respondBackgroundResumesACutStream() async throws {
        let poem = "The moon rose slow over quiet water, and every ripple kept a little of its light."
        try await ScriptedResponsesServer.withServer([ScriptedTurn.message(poem).droppingStream(afterEvents: 9)]) { server in
            let result = try await errand(["respond", "--background", "--base-url", server.baseURL, "--model", "m", "hi"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == poem + "\n")
            let resume = try #require(server.requests.first { $0.method == "GET" })
            #expect(resume.query["starting_after"] == "8", "events 0…8 arrived before the cut")
        }
    }

    @Test func respondDetachPrintsTheIDAndLeavesItRunning() async throws {
        try await ScriptedResponsesServer.withServer([ScriptedTurn(output: [.message("later")], backgroundPolls: 100)]) { server in
            let result = try await errand(["respond", "--detach", "--base-url", server.baseURL, "--model", "m", "hi"])
            #expect(result.status == 0, "\(result.stderr)")
            let id = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(id.hasPrefix("resp_"))
            #expect(result.stderr.contains("keeps running on the server"))
            #expect(server.storedStatus(id) == "in_progress")
            #expect(!server.requests.contains { $0.endpoint.hasSuffix("/cancel") })
            #expect(server.createRequests.first?.body?["background"] == true)
        }
    }

    @Test(arguments: [true, false])
    func ctrlCCancelsTheBackgroundResponseOnTheServer(streamed: Bool) async throws {
        let turn = ScriptedTurn(output: [.message("a long answer that never ends")], backgroundPolls: 100_000).pacing(.seconds(2))
        try await ScriptedResponsesServer.withServer([turn]) { server in
            var arguments = ["respond", "--background", "--base-url", server.baseURL, "--model", "m", "hi"]
            if !streamed { arguments.append("--no-stream") }
            let running = try Launched(arguments, environment: Self.environment)
            try await waitUntil("the create") { !server.createRequests.isEmpty }
            // Time for the create's answer, with the response's id, to reach errand: the server cannot tell when it has.
            try await Task.sleep(for: .milliseconds(300))
            kill(running.process.processIdentifier, SIGINT)
            let result = await running.wait()
            #expect(result.status == 130, "\(result.stderr)")
            let id = try #require(server.createRequests.isEmpty ? nil : server.requests.first { $0.endpoint.hasSuffix("/cancel") }?.endpoint
                .split(separator: "/").dropLast().last.map(String.init))
            #expect(server.storedStatus(id) == "cancelled", "the server recorded the cancel")
            #expect(result.stderr.contains("the background response \(id) was cancelled on the server"), "\(result.stderr)")
        }
    }

    @Test func aTimeoutCancelsTheBackgroundResponseAndExitsOne() async throws {
        try await ScriptedResponsesServer.withServer([ScriptedTurn(output: [.message("never")], backgroundPolls: 100_000)]) { server in
            let result = try await errand(["respond", "--background", "--no-stream", "--timeout", "1", "--base-url", server.baseURL, "--model", "m", "hi"])
            #expect(result.status == 1, "\(result.stderr)")
            #expect(result.stderr.contains("no answer within 1 s"))
            #expect(result.stderr.contains("was cancelled on the server"))
            #expect(server.requests.contains { $0.endpoint.hasSuffix("/cancel") })
        }
    }

    // MARK: --input

    @Test func inputItemsReachTheRequestAsGiven() async throws {
        let items = #"""
            [{"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Answer in French."}]},
             {"role": "user", "content": [{"type": "input_text", "text": "What is in this picture?"},
                                          {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}]},
             {"type": "function_call", "call_id": "call_9", "name": "lookup", "arguments": "{\"q\": \"cat\"}"},
             {"type": "function_call_output", "call_id": "call_9", "output": "a cat"}]
            """#
        let file = folder.appendingPathComponent("items.json")
        try items.write(to: file, atomically: true, encoding: .utf8)
        let given = try JSONValue(parsing: items)
        try await ScriptedResponsesServer.withServer([.message("Un chat."), .message("Un chat, encore."), .message("ok")]) { server in
            let respond = try await errand(["respond", "--input", file.path, "--base-url", server.baseURL, "--model", "m"])
            #expect(respond.status == 0, "\(respond.stderr)")
            #expect(server.createRequests[0].body?["input"] == given, "the items exactly as given")
            let withTask = try await errand(["respond", "--input", file.path, "--base-url", server.baseURL, "--model", "m", "And", "now?"])
            #expect(withTask.status == 0, "\(withTask.stderr)")
            let input = server.createRequests[1].body?["input"]?.arrayValue ?? []
            #expect(Array(input.prefix(4)) == given.arrayValue ?? [])
            #expect(input.last?["role"] == "user" && input.last?["content"] == "And now?", "the prompt is appended as a last user message")
            let run = try await errand(["run", spec.path, "--input", file.path, "--no-stream", "--journal-dir", journals.path, "--base-url", server.baseURL])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(server.createRequests[2].body?["input"] == given)
        }
    }

    @Test func aMalformedInputIsRefusedWithItsIndexAndField() async throws {
        // The whole table of malformed inputs is in ResponsesAPITests; here, that both commands print it and exit 2.
        let file = folder.appendingPathComponent("bad.json")
        try #"[{"role": "user", "content": "a"}, {"role": "user", "content": [{"type": "input_image"}]}]"#.write(to: file, atomically: true, encoding: .utf8)
        try await ScriptedResponsesServer.withServer([]) { server in
            for command in [["respond", "--input", file.path, "--base-url", server.baseURL], ["run", spec.path, "--input", file.path, "--base-url", server.baseURL]] {
                let result = try await errand(command)
                #expect(result.status == 2, "\(command[0]): \(result.stderr)")
                #expect(result.stderr.contains("errand: --input \(file.path): input[1].content[0].image_url: missing; an input_image part needs image_url"), "\(command[0]): \(result.stderr)")
            }
            #expect(server.requests.isEmpty, "nothing is sent")
        }
    }

    // MARK: run

    @Test func resumeFetchesTheBackgroundTurnAKilledRunLeftRunning() async throws {
        let turns: [ScriptedTurn] = [
            ScriptedTurn(output: [.call("read_file", ["path": "notes.txt"], id: "call_read")], backgroundPolls: 100_000), .message("The word is teapot."),
        ]
        try await ScriptedResponsesServer.withServer(turns) { server in
            let running = try Launched(["run", spec.path, "word?", "--journal-dir", journals.path, "--base-url", server.baseURL], environment: Self.environment)
            try await waitUntil("the background id in the journal") { journalText().contains("background_response") }
            kill(running.process.processIdentifier, SIGKILL)
            let killed = await running.wait()
            #expect(killed.status == SIGKILL)
            let files = try FileManager.default.contentsOfDirectory(atPath: journals.path)
            let runID = String(try #require(files.first).dropLast(".jsonl".count))
            let id = try #require(server.createRequests.isEmpty ? nil : journalText().split(separator: "\n").compactMap { try? JSONValue(parsing: String($0)) }
                .first { $0["type"] == "background_response" }?["response_id"]?.stringValue)
            #expect(server.storedStatus(id) == "in_progress", "killed, so nothing cancelled it")
            server.finishRunningResponses()

            let resumed = try await errand(["run", spec.path, "--resume", runID, "--journal-dir", journals.path, "--base-url", server.baseURL])
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(resumed.stdout == "The word is teapot.\n")
            #expect(resumed.stderr.contains("↳ read_file"))
            #expect(server.createRequests.count == 2, "one create per turn: the background turn was fetched, not sent again")
            #expect(server.requests.contains { $0.method == "GET" && $0.endpoint == "/responses/\(id)" })
        }
    }

    @Test func runDetachLeavesTheBackgroundTurnRunningOnCtrlC() async throws {
        try await ScriptedResponsesServer.withServer([ScriptedTurn(output: [.message("later")], backgroundPolls: 100_000)]) { server in
            let running = try Launched(
                ["run", spec.path, "word?", "--detach", "--journal-dir", journals.path, "--base-url", server.baseURL], environment: Self.environment)
            // Interrupted once the run holds the background response's id (it is journaled as soon as it is known).
            try await waitUntil("the background id in the journal") { journalText().contains("background_response") }
            kill(running.process.processIdentifier, SIGINT)
            let result = await running.wait()
            #expect(result.status == 130, "\(result.stderr)")
            #expect(result.stderr.contains("keeps running on the server"), "\(result.stderr)")
            #expect(result.stderr.contains("--resume run-"))
            #expect(!server.requests.contains { $0.endpoint.hasSuffix("/cancel") })
        }
    }

    // MARK: probe

    @Test func probePrintsEachCapabilityAndTheProviderBlock() async throws {
        let dialect = ScriptedDialect.umodelverse
        try await ScriptedResponsesServer.withServer(dialect: dialect, responder: ScriptedModel.responder(dialect)) { server in
            let json = try await errand(["probe", "--base-url", server.baseURL, "--model", "m", "--json"])
            #expect(json.status == 0, "\(json.stderr)")
            let report = try JSONValue(parsing: json.stdout)
            for name in ["responses", "json", "streaming", "usage", "stateful", "store", "function_calling", "tool_choice_required",
                         "tool_choice_named", "parallel_calls", "strict_schemas", "background", "stream_resumption"] {
                #expect(report[name]?["supported"] != nil, "\(name)")
                #expect(report[name]?["evidence"]?.stringValue?.isEmpty == false, "\(name)")
            }
            #expect(report["provider"]?["max_tokens_field"] == "max_tokens")
            #expect(report["drift"]?.arrayValue?.contains { $0.stringValue?.contains("response.done") == true } == true)
            #expect(json.stderr.contains("probing \(server.baseURL)"), "it says what it will send")

            let text = try await errand(["probe", "--base-url", server.baseURL, "--model", "m"])
            #expect(text.status == 0)
            #expect(text.stdout.contains("✓ background"))
            #expect(text.stdout.contains("✗ max_output_tokens"))
            #expect(text.stdout.contains("✓ websocket_chaining"))
            #expect(text.stdout.contains(#""provider": {"base_url":"\#(server.baseURL)","max_tokens_field":"max_tokens","state":"auto","transport":"websocket"}"#), "\(text.stdout)")

            let http = try await errand(["probe", "--base-url", server.baseURL, "--model", "m", "--transport", "http"])
            #expect(http.status == 0)
            #expect(http.stdout.contains("? websocket") && http.stdout.contains("not probed (--transport http)"), "\(http.stdout)")
            #expect(http.stdout.contains(#""state":"auto"}"#), "no transport suggested without a WebSocket probe: \(http.stdout)")
        }
    }
}
