import ErrandCore
import ErrandSpec
import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

/// Every `settings` key of a spec reaches the request body under the name the API gives it, over loopback.
@Suite(.timeLimit(.minutes(3))) struct SettingsTests {
    static let allSettings = #"""
        {"name": "settings", "model": "m", "tools": ["read_file"],
         "settings": {"temperature": 0.3, "top_p": 0.8, "max_output_tokens": 300, "store": true, "metadata": {"team": "a"},
                      "include": ["message.output_text.logprobs"], "reasoning": {"effort": "low", "summary": "auto"},
                      "text": {"verbosity": "low"}, "stream": false, "background": false,
                      "prompt_cache_key": "explainer-v1", "safety_identifier": "user-7f3a", "service_tier": "flex",
                      "truncation": "auto", "max_tool_calls": 4, "top_logprobs": 3,
                      "context_management": {"type": "compaction", "compact_threshold": 200000},
                      "extra": {"prompt_cache_retention": "24h", "a_field_from_next_year": {"x": [1, 2]}}}}
        """#

    func load(_ json: String) throws -> AgentSpec {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-settings-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try "hello\n".write(to: folder.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        let file = folder.appendingPathComponent("agent.json")
        try json.write(to: file, atomically: true, encoding: .utf8)
        return try AgentSpec.load(file)
    }

    @Test func everySettingsKeyReachesTheRequestBodyAsTheAPINamesIt() async throws {
        let spec = try load(Self.allSettings)
        let agent = try spec.agent()
        #expect(agent.streaming == false)
        let turns: [ScriptedTurn] = [.calls(.call("read_file", ["path": "notes.txt"])), .message("done")]
        try await ScriptedResponsesServer.withServer(turns) { server in
            let result = try await ResponsesClient.withClient(provider: server.provider) { client in
                await Runner(client: client).run(agent, input: "go")
            }
            #expect(result.status == .completed, "\(result.error ?? "")")
            let requests = server.createRequests
            #expect(requests.count == 2)
            for request in requests {
                let body = try #require(request.body)
                #expect(body["stream"] == nil, "stream: false makes each turn one JSON call")
                #expect(request.headers["accept"] == "application/json")
                #expect(body["temperature"] == 0.3)
                #expect(body["top_p"] == 0.8)
                #expect(body["max_output_tokens"] == 300)
                #expect(body["store"] == true)
                #expect(body["metadata"] == ["team": "a"])
                #expect(body["include"] == ["message.output_text.logprobs"])
                #expect(body["reasoning"] == ["effort": "low", "summary": "auto"])
                #expect(body["text"] == ["verbosity": "low"])
                #expect(body["background"] == false)
                #expect(body["prompt_cache_key"] == "explainer-v1")
                #expect(body["safety_identifier"] == "user-7f3a")
                #expect(body["service_tier"] == "flex")
                #expect(body["truncation"] == "auto")
                #expect(body["max_tool_calls"] == 4)
                #expect(body["top_logprobs"] == 3)
                #expect(body["context_management"] == [["type": "compaction", "compact_threshold": 200_000]], "one entry becomes a list of one")
                #expect(body["prompt_cache_retention"] == "24h", "extra is merged into the body")
                #expect(body["a_field_from_next_year"] == ["x": [1, 2]])
            }
        }
    }

    @Test func streamIsTheDefaultAndBackgroundTurnsArePolled() async throws {
        let spec = try load(#"{"name": "bg", "model": "m", "settings": {"background": true, "stream": false}}"#)
        let agent = try spec.agent()
        let turn = ScriptedTurn(output: [.message("done later")], backgroundPolls: 2)
        try await ScriptedResponsesServer.withServer([turn]) { server in
            let result = try await ResponsesClient.withClient(provider: server.provider) { client in
                await Runner(client: client).run(agent, input: "go")
            }
            #expect(result.status == .completed)
            #expect(result.finalText == "done later")
            #expect(server.createRequests.first?.body?["background"] == true)
            #expect(server.requests.filter { $0.method == "GET" }.count == 3)
        }
        #expect(try load(#"{"name": "s"}"#).agent().streaming == true)
    }

    @Test func overridesSetBackgroundStreamAndTimeout() throws {
        let spec = try load(#"{"name": "o", "settings": {"stream": true}}"#)
        let agent = try spec.agent(overrides: SpecOverrides(background: true, stream: false, timeout: .seconds(9)))
        #expect(agent.settings.background == true)
        #expect(agent.streaming == false)
        #expect(agent.limits.timeout == .seconds(9))
    }

    @Test func theSchemaListsEverySettingsKey() {
        let keys = Set(AgentSpec.jsonSchema["properties"]?["settings"]?["properties"]?.objectValue?.keys.map { $0 } ?? [])
        #expect(keys == [
            "temperature", "top_p", "max_output_tokens", "reasoning", "text", "store", "metadata", "include", "stream", "background",
            "prompt_cache_key", "safety_identifier", "service_tier", "truncation", "max_tool_calls", "top_logprobs", "context_management",
            "extra",
        ])
    }
}

/// The spec's `journal` section reaches the agent's journal policy, with the secrets it names filled in.
@Suite struct JournalSpecTests {
    func parse(_ json: String, environment: [String: String] = [:]) throws -> AgentSpec {
        try AgentSpec.parse(Data(json.utf8), file: URL(fileURLWithPath: "/tmp/agent.json"), environment: environment)
    }

    /// Tokens handed to MCP servers and put in the provider's headers are credentials: journaled as [redacted] without
    /// being listed in redact_env; PATH and HOME are not.
    @Test func variablesSubstitutedIntoMCPEnvAndHeadersAreRedacted() throws {
        let spec = try parse(#"""
            {"name": "j", "model": "m", "provider": {"base_url": "http://127.0.0.1:1/v1", "headers": {"X-Org-Token": "Bearer ${ORG_TOKEN}"}},
             "tools": [{"mcp": {"name": "gh", "command": ["/bin/sh"], "env": {"GITHUB_TOKEN": "${GH_TOKEN}", "PATH": "${PATH}:/opt/bin", "HOME": "${HOME}"}}}]}
            """#)
        #expect(spec.mcpEnvironmentReferences.sorted() == ["GH_TOKEN", "HOME", "PATH"])
        let environment = ["GH_TOKEN": "ghp_0123456789abcdef", "ORG_TOKEN": "org-secret-value-42", "PATH": "/usr/local/bin:/usr/bin", "HOME": "/home/someone"]
        let agent = try spec.agent(environment: environment)
        #expect(agent.journalPolicy.secrets.sorted() == ["ghp_0123456789abcdef", "org-secret-value-42"])
    }

    @Test func theJournalSectionSetsThePolicy() throws {
        let spec = try parse(#"""
            {"name": "j", "model": "m", "provider": {"base_url": "http://127.0.0.1:1/v1", "api_key_env": "MY_KEY"},
             "journal": {"durability": "power", "tool_output": "truncated", "tool_output_max_chars": 500, "redact_env": ["DB_PASSWORD", "UNSET_ONE"]}}
            """#)
        #expect(spec.journal.durability == .power)
        #expect(spec.journal.toolOutput == .truncated(500))
        let agent = try spec.agent(environment: ["MY_KEY": "sk-from-the-environment-1", "DB_PASSWORD": "hunter2-but-longer"])
        #expect(agent.journalPolicy.durability == .power)
        #expect(agent.journalPolicy.secrets.contains("sk-from-the-environment-1"))
        #expect(agent.journalPolicy.secrets.contains("hunter2-but-longer"))
        #expect(agent.journalPolicy.secrets.count == 2, "an unset variable adds nothing")
        let none = try parse(#"{"name": "j", "model": "m", "journal": {"tool_output": "none"}}"#)
        #expect(none.journal.toolOutput == .none && none.journal.durability == .process)
        let plain = try parse(#"{"name": "j", "model": "m"}"#)
        #expect(plain.journal == JournalPolicy())
    }

    @Test func aBadJournalSectionNamesTheField() {
        let cases: [(String, String)] = [
            (#"{"durability": "disk"}"#, "journal.durability"),
            (#"{"tool_output": "some"}"#, "journal.tool_output"),
            (#"{"tool_output_max_chars": 10}"#, "journal.tool_output_max_chars"),
            (#"{"redact_env": "KEY"}"#, "journal.redact_env"),
            (#"{"fsync": true}"#, "journal"),
        ]
        for (section, field) in cases {
            let error = #expect(throws: SpecError.self) { try parse(#"{"name": "j", "model": "m", "journal": \#(section)}"#) }
            #expect(error?.description.contains(field) == true, "\(section): \(error?.description ?? "")")
        }
    }
}
