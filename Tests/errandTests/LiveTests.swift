import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

/// Errand against a real server nobody here wrote: opt-in, never in CI. Start the server and run, e.g.
///
///     ../shared/localmodel/serve.sh
///     ERRAND_LIVE_BASE_URL=http://127.0.0.1:8080/v1 ERRAND_LIVE_MODEL=qwen2.5-coder-1.5b-instruct swift test --filter Live
///
/// It checks Errand's conformance, not the model's judgement: the small model's tool call is obtained with an
/// assistant prefill (`<tool_call>` and the start of the JSON), as llama.cpp turns that markup into `function_call`
/// items. Each test prints what it saw, for the record. A small model on a CPU answers slowly: each test has 20 minutes.
@Suite(
    .serialized, .enabled(if: Live.isConfigured, "set ERRAND_LIVE_BASE_URL and ERRAND_LIVE_MODEL to run the live suite (see the README)"),
    .timeLimit(.minutes(20)))
struct LiveTests {
    let folder: URL

    init() throws {
        folder = try Live.workFolder()
    }

    /// Runs errand with the live server's key.
    func errand(_ arguments: [String]) async throws -> ErrandResult {
        try await runErrand(arguments, environment: Live.environment)
    }

    func show(_ title: String, _ result: ErrandResult) {
        print("──── live: \(title) (exit \(result.status))\n\(result.stdout)\(result.stderr.isEmpty ? "" : "[stderr]\n\(result.stderr)")")
    }

    @Test func liveRespondJSONAndStreamed() async throws {
        let json = try await errand(["respond", "--no-stream", "--json", "--max-output-tokens", "24", "--base-url", Live.baseURL, "--model", Live.model, "Name three colors."])
        show("respond --no-stream --json", json)
        #expect(json.status == 0, "\(json.stderr)")
        let response = try JSONValue(parsing: json.stdout)
        #expect(response["status"] == "completed" || response["status"] == "incomplete")
        #expect((response["usage"]?["output_tokens"]?.intValue ?? 0) > 0)
        #expect((response["output"]?.arrayValue?.count ?? 0) > 0)

        let streamed = try await errand(["respond", "--max-output-tokens", "24", "--base-url", Live.baseURL, "--model", Live.model, "Name three colors."])
        show("respond (streamed)", streamed)
        #expect(streamed.status == 0, "\(streamed.stderr)")
        #expect(streamed.stdout.trimmingCharacters(in: .whitespacesAndNewlines).count > 3)
    }

    @Test func liveProbeReportsWhatLlamaServerDoes() async throws {
        let result = try await errand(["probe", "--json", "--base-url", Live.baseURL, "--model", Live.model])
        show("probe --json", result)
        #expect(result.status == 0, "\(result.stderr)")
        let report = try JSONValue(parsing: result.stdout)
        #expect(report["responses"]?["supported"] == true)
        #expect(report["json"]?["supported"] == true)
        #expect(report["streaming"]?["supported"] == true)
        #expect(report["usage"]?["supported"] == true)
        // llama.cpp refuses previous_response_id with its own 400, and keeps nothing.
        #expect(report["stateful"]?["supported"] == false)
        #expect(report["stateful"]?["evidence"]?.stringValue?.contains("HTTP 400") == true)
        // llama-server's /v1/responses ignores text.format and keeps to response_format (a grammar).
        #expect(report["output_schema"]?["supported"] == false)
        #expect(report["provider"]?["response_format"] == true)
        #expect(report["store"]?["supported"] == false)
        #expect(report["provider"]?["state"] == "stateless")
        #expect(report["drift"]?.arrayValue?.contains { $0.stringValue?.contains("'code' as a number") == true } == true)
    }

    @Test func liveRunFallsBackToReplayAndItsJournalResumes() async throws {
        let spec = folder.appendingPathComponent("agent.json")
        try """
            {"name": "live-notes", "model": "\(Live.model)",
             "instructions": "You answer questions about the files in the workspace. Use the read_file tool.",
             "provider": {"base_url": "\(Live.baseURL)"}, "tools": ["read_file"], "workspace": {"root": "work"},
             "settings": {"max_output_tokens": 120, "temperature": 0}, "limits": {"max_turns": 4}}
            """.write(to: spec, atomically: true, encoding: .utf8)
        // The assistant prefill makes the small model write its call in the markup the server turns into an item.
        let input = folder.appendingPathComponent("input.json")
        try #"""
            [{"role": "user", "content": "What is the secret word in notes.txt? Read the file with read_file, then answer in one sentence."},
             {"type": "message", "role": "assistant", "content": "<tool_call>\n{\"name\": "}]
            """#.write(to: input, atomically: true, encoding: .utf8)
        let journals = folder.appendingPathComponent("journals")
        let run = try await errand(["run", spec.path, "--input", input.path, "--journal-dir", journals.path])
        show("run with read_file", run)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("↳ read_file"))
        #expect(run.stderr.contains("refused previous_response_id"))
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: journals.path).first)
        let journal = journals.appendingPathComponent(file)
        let entries = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        print("──── live: journal\n" + entries.map { entry in
            "\(entry["type"]?.stringValue ?? "?") turn \(entry["turn"]?.intValue.map(String.init) ?? "-") \(entry["http_status"].map { "HTTP \($0.jsonString) " } ?? "")\(entry["message"]?.stringValue ?? "")"
        }.joined(separator: "\n"))
        let types = entries.compactMap { $0["type"]?.stringValue }
        #expect(types == ["run_started", "request", "response", "tool_started", "tool_finished", "request", "state_fallback", "request", "response", "run_finished"])
        let call = try #require(entries.first { $0["type"] == "tool_finished" })
        #expect(call["name"] == "read_file")
        #expect(call["ok"] == true)
        #expect(call["output"]?.stringValue?.contains("teapot") == true, "the model's real call read the file")
        let fallback = try #require(entries.first { $0["type"] == "state_fallback" })
        #expect(fallback["http_status"] == 400, "the server's real 400")
        #expect(fallback["message"]?.stringValue?.contains("previous_response_id") == true)
        #expect(entries.last?["status"] == "completed")

        // Cut the journal after the tool call, as a crash would, and resume it against the live server.
        let kept = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").prefix(5)
        try (kept.joined(separator: "\n") + "\n").write(to: journal, atomically: true, encoding: .utf8)
        let runID = String(file.dropLast(".jsonl".count))
        let resumed = try await errand(["run", spec.path, "--resume", runID, "--journal-dir", journals.path])
        show("run --resume after a cut", resumed)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let after = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        #expect(after.compactMap { $0["type"]?.stringValue }.suffix(6) == ["run_resumed", "request", "state_fallback", "request", "response", "run_finished"])
        #expect(after.last?["status"] == "completed")
        #expect(after.filter { $0["type"] == "tool_finished" }.count == 1, "the tool did not run twice")

        // A follow-up to the finished run: llama.cpp keeps nothing, so the whole conversation is replayed.
        let follow = try await errand(["run", spec.path, "--continue", runID, "--journal-dir", journals.path, "Say the secret word once more, in capitals."])
        show("run --continue", follow)
        #expect(follow.status == 0, "\(follow.stderr)")
        let continued = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        #expect(continued.contains { $0["type"] == "input_added" })
        #expect(continued.last?["status"] == "completed")
        let runs = try await errand(["runs", "show", runID, "--journal-dir", journals.path])
        show("runs show", runs)
    }

    @Test func liveBackgroundIsIgnoredAndTheAnswerStillArrives() async throws {
        // llama.cpp ignores `background`: the create is answered at once, completed, and nothing is polled or cancelled.
        let result = try await errand(["respond", "--background", "--no-stream", "--max-output-tokens", "16", "--base-url", Live.baseURL, "--model", Live.model, "Say hi."])
        show("respond --background --no-stream", result)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stdout.isEmpty)
    }

    /// An output schema against llama-server: its /v1/responses ignores text.format, so the model is not held to the
    /// schema and its answer is checked and corrected here; with provider.response_format the server turns the schema
    /// into a grammar and the first answer fits.
    @Test func liveOutputSchemaCorrectedOrHeldByAGrammar() async throws {
        let schema = #"{"type": "object", "additionalProperties": false, "required": ["name", "organisation", "emails"], "properties": {"name": {"type": ["string", "null"]}, "organisation": {"type": ["string", "null"]}, "emails": {"type": "array", "items": {"type": "string"}}}}"#
        let task = "Best regards, Dr. Anna Kowalski, Head of Research, Nordlicht GmbH, Hafenstrasse 12, 20457 Hamburg. anna.kowalski@nordlicht.example, +49 40 1234567"
        var turns: [String: Int] = [:]
        for grammar in [false, true] {
            let spec = folder.appendingPathComponent("contacts-\(grammar).json")
            try #"{"name": "contacts", "instructions": "Extract the contact details from the text of the task. Use null for what it does not give.", "provider": {"base_url": "\#(Live.baseURL)", "response_format": \#(grammar)}, "output_schema": \#(schema), "settings": {"temperature": 0}, "limits": {"max_turns": 4, "output_retries": 2}}"#
                .write(to: spec, atomically: true, encoding: .utf8)
            let result = try await errand(["run", spec.path, task, "--model", Live.model, "--json", "--journal-dir", folder.appendingPathComponent("j").path])
            show("output_schema, response_format \(grammar)", result)
            #expect(result.status == 0, "\(result.stderr)")
            let json = try JSONValue(parsing: result.stdout)
            #expect(json["output"]?["emails"] == ["anna.kowalski@nordlicht.example"])
            turns["\(grammar)"] = json["turns"]?.intValue
        }
        print("LIVE | output_schema turns: text.format only \(turns["false"] ?? 0), with response_format \(turns["true"] ?? 0)")
        #expect(turns["true"] == 1, "a grammar holds the first answer to the schema")
    }
}

/// Errand through LiteLLM's proxy in front of the same llama-server (`../shared/localmodel/gateway.sh`): the Responses
/// API's WebSocket mode, whose connection keeps the chain that llama-server alone refuses. Opt-in:
///
///     ../shared/localmodel/gateway.sh
///     ERRAND_LIVE_BASE_URL=http://127.0.0.1:8080/v1 ERRAND_LIVE_MODEL=qwen2.5-coder-1.5b-instruct \
///     ERRAND_LIVE_GATEWAY_URL=http://127.0.0.1:4000/v1 ERRAND_LIVE_GATEWAY_KEY=sk-errand-local-0123456789abcdef swift test --filter LiveGateway
@Suite(
    .serialized, .enabled(if: Live.isConfigured && Live.gatewayURL != nil, "set ERRAND_LIVE_GATEWAY_URL (and the live suite's settings) to run it"),
    .timeLimit(.minutes(20)))
struct LiveGatewayTests {
    let folder: URL

    init() throws {
        folder = try Live.workFolder()
    }

    /// Runs errand with the gateway's key, as `GATEWAY_KEY` for specs and as `OPENAI_API_KEY` for `--base-url`.
    func errand(_ arguments: [String]) async throws -> ErrandResult {
        var environment = Live.environment
        let key = ProcessInfo.processInfo.environment["ERRAND_LIVE_GATEWAY_KEY"] ?? "no-key-needed"
        environment["GATEWAY_KEY"] = key
        if arguments.contains(Live.gatewayURL ?? "\u{0}") { environment["OPENAI_API_KEY"] = key }
        return try await runErrand(arguments, environment: environment)
    }

    func show(_ title: String, _ result: ErrandResult) {
        print("──── live gateway: \(title) (exit \(result.status))\n\(result.stdout)\(result.stderr.isEmpty ? "" : "[stderr]\n\(result.stderr)")")
    }

    /// The journal's lines, printed one per line for the record.
    func journal(_ folder: URL) throws -> [JSONValue] {
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: folder.path).first)
        let entries = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        print("──── live gateway: journal\n" + entries.map { entry in
            let chained = entry["previous_response_id"]?.stringValue.map { " chained to \($0.prefix(24))…" } ?? ""
            return "\(entry["type"]?.stringValue ?? "?") turn \(entry["turn"]?.intValue.map(String.init) ?? "-")\(chained) \(entry["message"]?.stringValue ?? "")"
        }.joined(separator: "\n"))
        return entries
    }

    @Test func liveToolLoopChainsOverWebSocketWhereHTTPFallsBack() async throws {
        let spec = folder.appendingPathComponent("agent.json")
        try """
            {"name": "live-notes", "model": "\(Live.model)",
             "instructions": "You answer questions about the files in the workspace. Use the read_file tool.",
             "provider": {"base_url": "\(Live.gatewayURL ?? "")", "api_key_env": "GATEWAY_KEY", "transport": "websocket"},
             "tools": ["read_file"], "workspace": {"root": "work"},
             "settings": {"max_output_tokens": 120, "temperature": 0, "store": false}, "limits": {"max_turns": 4}}
            """.write(to: spec, atomically: true, encoding: .utf8)
        let input = folder.appendingPathComponent("input.json")
        try #"""
            [{"role": "user", "content": "What is the secret word in notes.txt? Read the file with read_file, then answer in one sentence."},
             {"type": "message", "role": "assistant", "content": "<tool_call>\n{\"name\": "}]
            """#.write(to: input, atomically: true, encoding: .utf8)

        let overWebSocket = folder.appendingPathComponent("ws")
        let run = try await errand(["run", spec.path, "--input", input.path, "--journal-dir", overWebSocket.path])
        show("run over WebSocket, store: false", run)
        #expect(run.status == 0, "\(run.stderr)")
        let entries = try journal(overWebSocket)
        #expect(entries.compactMap { $0["type"]?.stringValue } == [
            "run_started", "connection", "request", "response", "tool_started", "tool_finished", "request", "response", "run_finished",
        ], "one connection, no fallback")
        let requests = entries.filter { $0["type"] == "request" }
        #expect(requests.last?["previous_response_id"]?.stringValue != nil, "the second turn chains on the connection")
        #expect(requests.last?["input"]?.arrayValue?.count == 1, "with only the tool's output")
        #expect(entries.first { $0["type"] == "tool_finished" }?["output"]?.stringValue?.contains("teapot") == true)

        let overHTTP = folder.appendingPathComponent("http")
        let http = try await errand(["run", spec.path, "--transport", "http", "--input", input.path, "--journal-dir", overHTTP.path])
        show("the same run over HTTP", http)
        #expect(http.status == 0, "\(http.stderr)")
        let httpEntries = try journal(overHTTP)
        #expect(httpEntries.contains { $0["type"] == "state_fallback" }, "over HTTP the gateway passes llama-server's refusal on")
    }

    @Test func liveProbeWithAutoFindsTheModeWhereItIs() async throws {
        let gateway = try await errand(["probe", "--transport", "auto", "--base-url", Live.gatewayURL ?? "", "--model", Live.model, "--json"])
        show("probe --transport auto, the gateway", gateway)
        let server = try await errand(["probe", "--transport", "auto", "--base-url", Live.baseURL, "--model", Live.model, "--json"])
        show("probe --transport auto, llama-server", server)
        let viaGateway = try JSONValue(parsing: gateway.stdout)
        let direct = try JSONValue(parsing: server.stdout)
        #expect(viaGateway["websocket"]?["supported"] == true)
        #expect(direct["websocket"]?["supported"] == false, "llama-server has no WebSocket mode")
        #expect(direct["provider"]?["transport"] == nil)
    }
}

/// The live server's settings, from the environment.
enum Live {
    static let baseURL = ProcessInfo.processInfo.environment["ERRAND_LIVE_BASE_URL"] ?? ""
    static let model = ProcessInfo.processInfo.environment["ERRAND_LIVE_MODEL"] ?? ""
    static var isConfigured: Bool { !baseURL.isEmpty && !model.isEmpty }
    /// A new folder with `work/notes.txt`, whose secret word the live runs read.
    static func workFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-live-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("work"), withIntermediateDirectories: true)
        try "The secret word is teapot.\n".write(to: folder.appendingPathComponent("work/notes.txt"), atomically: true, encoding: .utf8)
        return folder
    }
    /// LiteLLM's proxy in front of the live server (`gateway.sh`), for the WebSocket mode.
    static let gatewayURL = ProcessInfo.processInfo.environment["ERRAND_LIVE_GATEWAY_URL"].flatMap { $0.isEmpty ? nil : $0 }
    static var environment: [String: String] {
        var environment = ["OPENAI_API_KEY": ProcessInfo.processInfo.environment["ERRAND_LIVE_API_KEY"] ?? "no-key-needed"]
        environment["HOME"] = ProcessInfo.processInfo.environment["HOME"]
        return environment
    }
}
