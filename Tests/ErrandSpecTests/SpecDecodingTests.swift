import ErrandCore
import ErrandMCP
import ErrandSpec
import Foundation
import ResponsesAPI
import Testing

/// Every error path of the spec decoder names the file and the JSON path, and says what was expected.
@Suite struct SpecDecodingTests {
    static let folder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("errand-spec-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try? "Be brief.".write(to: url.appendingPathComponent("instructions.md"), atomically: true, encoding: .utf8)
        return url
    }()

    func parse(_ json: String) throws -> AgentSpec {
        try AgentSpec.parse(Data(json.utf8), file: Self.folder.appendingPathComponent("agent.json"), environment: ["PATH": "/usr/bin:/bin"])
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var json: String
        var path: String
        var message: String
        var testDescription: String { "\(path): \(message)" }
    }

    static let cases: [Case] = [
        Case(json: #"{}"#, path: "name", message: "missing; expected a string"),
        Case(json: #"[1, 2]"#, path: "", message: "expected an object, not an array"),
        Case(json: #"{"name": "a", "modle": "gpt"}"#, path: "modle", message: "unknown key; did you mean 'model'?"),
        Case(json: #"{"name": "a", "colour": 1}"#, path: "colour", message: "unknown key; allowed keys: name, description"),
        Case(json: #"{"name": 7}"#, path: "name", message: "expected a string, not the number 7"),
        Case(json: #"{"name": "a", "parallel_tool_calls": "yes"}"#, path: "parallel_tool_calls", message: #"expected true or false, not the string "yes""#),
        Case(json: #"{"name": "a", "provider": "openai"}"#, path: "provider", message: #"expected an object, not the string "openai""#),
        Case(json: #"{"name": "a", "provider": {"preset": "azure"}}"#, path: "provider.preset", message: "'azure' is not one of 'openai', 'mume', 'umodelverse'"),
        Case(json: #"{"name": "a", "provider": {"base_url": "ftp://x"}}"#, path: "provider.base_url", message: "expected an http(s) URL"),
        Case(json: #"{"name": "a", "provider": {"transport": "sse"}}"#, path: "provider.transport", message: "'sse' is not one of 'http', 'websocket', 'auto'"),
        Case(json: #"{"name": "a", "provider": {"websocket_url": "https://x/v1/responses"}}"#, path: "provider.websocket_url", message: "expected a ws:// or wss:// URL"),
        Case(json: #"{"name": "a", "provider": {"state": "sometimes"}}"#, path: "provider.state", message: "'sometimes' is not one of 'auto', 'stateful', 'stateless'"),
        Case(json: #"{"name": "a", "provider": {"max_tokens_field": "tokens"}}"#, path: "provider.max_tokens_field", message: "is not one of"),
        Case(json: #"{"name": "a", "provider": {"headers": {"X-A": 1}}}"#, path: "provider.headers.X-A", message: "expected a string, not the number 1"),
        Case(json: #"{"name": "a", "tools": "read_file"}"#, path: "tools", message: "expected an array of tools"),
        Case(json: #"{"name": "a", "tools": ["read_files"]}"#, path: "tools[0]", message: "'read_files' is not a built-in tool; the built-in tools are read_file"),
        Case(json: #"{"name": "a", "tools": ["read_file", {"name": "search_files", "max": 3}]}"#, path: "tools[1].max", message: "unknown option of search_files; it takes none"),
        Case(json: #"{"name": "a", "tools": ["read_file", "read_file"]}"#, path: "tools[1]", message: "a second tool named 'read_file'"),
        Case(json: #"{"name": "a", "tools": ["write_file"]}"#, path: "tools[0]", message: "write_file needs \"workspace\": {\"writable\": true}"),
        Case(json: #"{"name": "a", "tools": [{"manifest": "nowhere.json"}]}"#, path: "tools[0].manifest", message: "cannot read the manifest"),
        Case(json: #"{"name": "a", "tools": [{"manifest": "m.json", "extra": 1}]}"#, path: "tools[0].extra", message: "unknown key"),
        Case(json: #"{"name": "a", "tools": [{"mcp": {"name": "git"}}]}"#, path: "tools[0].mcp.command", message: "missing: the server's program"),
        Case(json: #"{"name": "a", "tools": [{"mcp": {"name": "git", "command": []}}]}"#, path: "tools[0].mcp.command", message: "expected at least the program"),
        Case(json: #"{"name": "a", "tools": [{"mcp": {"name": "git", "command": ["no-such-server-x"]}}]}"#, path: "tools[0].mcp.command[0]", message: "program 'no-such-server-x' not found on PATH"),
        Case(json: #"{"name": "a", "tools": [{"mcp": {"name": "my__git", "command": ["sh"]}}]}"#, path: "tools[0].mcp.name", message: "cannot prefix tool names"),
        Case(json: #"{"name": "a", "tools": [{"mcp": {"name": "git", "command": ["sh"], "allowed": ["x"]}}]}"#, path: "tools[0].mcp.allowed", message: "unknown key; allowed keys: name, command, env, cwd, url, headers, allow_tools"),
        Case(json: #"{"name": "a", "tools": [{"mcp": {"name": "git", "command": ["sh"], "cwd": "nowhere"}}]}"#, path: "tools[0].mcp.cwd", message: "is not a folder"),
        Case(json: #"{"name": "a", "tools": [{"mcp": {"name": "git", "command": ["sh"], "timeout_seconds": 0}}]}"#, path: "tools[0].mcp.timeout_seconds", message: "must be between"),
        Case(json: #"{"name": "a", "tools": [{"mcp": {"name": "g", "command": ["sh"]}}, {"mcp": {"name": "g", "command": ["sh"]}}]}"#, path: "tools[1]", message: "a second MCP server named 'g'"),
        Case(json: #"{"name": "a", "tools": [{"mcp": {"name": "remote", "url": "ftp://example.com/mcp"}}]}"#, path: "tools[0].mcp.url", message: "'ftp://example.com/mcp' is not an http(s) URL"),
        Case(json: #"{"name": "a", "tools": [{"mcp": {"name": "remote", "url": "mcp.example.com"}}]}"#, path: "tools[0].mcp.url", message: "is not an http(s) URL"),
        Case(json: #"{"name": "a", "tools": [{"mcp": {"name": "remote", "url": "https://example.com/mcp", "command": ["sh"]}}]}"#, path: "tools[0].mcp.command", message: "a server is started with \"command\" or reached at \"url\", not both"),
        Case(json: #"{"name": "a", "tools": [{"mcp": {"name": "remote", "url": "https://example.com/mcp", "headers": {"Authorization": 3}}}]}"#, path: "tools[0].mcp.headers.Authorization", message: "expected a string"),
        Case(json: #"{"name": "a", "tools": [{"mcp": {"name": "remote", "url": "https://example.com/mcp", "headers": {"Bad Name": "x"}}}]}"#, path: "tools[0].mcp.headers", message: "'Bad Name' is not a header name"),
        Case(json: #"{"name": "a", "tools": [{"mcp": {"name": "git", "command": ["sh"], "headers": {"A": "b"}}}]}"#, path: "tools[0].mcp.headers", message: "headers go to a remote server"),
        Case(json: #"{"name": "a", "tools": [{"hosted": "web_search"}]}"#, path: "tools[0].hosted", message: "expected the provider's tool object with its \"type\""),
        Case(json: #"{"name": "a", "tools": [{"hosted": {"type": "function", "name": "f"}}]}"#, path: "tools[0].hosted.type", message: "a function is a local tool"),
        Case(json: #"{"name": "a", "tools": [{"hosted": {"type": "web_search"}, "approve": "always"}]}"#, path: "tools[0].approve", message: "only a hosted MCP server"),
        Case(json: #"{"name": "a", "tools": [{"hosted": {"type": "mcp", "server_label": "w"}, "approve": "sometimes"}]}"#, path: "tools[0].approve", message: "'sometimes' is not one of 'always', 'never'"),
        Case(json: #"{"name": "a", "tools": [{"name": "fetch_url", "allow_hosts": "example.org"}]}"#, path: "tools[0].allow_hosts", message: "expected an array of strings"),
        Case(json: #"{"name": "a", "tools": [{"name": "fetch_url", "allow_host": ["x"]}]}"#, path: "tools[0].allow_host", message: "its options are allow_hosts"),
        Case(json: #"{"name": "a", "tools": [3]}"#, path: "tools[0]", message: "expected a built-in tool's name"),
        Case(json: #"{"name": "a", "tools": ["read_file"], "tool_choice": {"type": "function", "name": "nope"}}"#, path: "tool_choice.name", message: "'nope' is not one of the spec's tools (read_file)"),
        Case(json: #"{"name": "a", "tool_choice": "always"}"#, path: "tool_choice", message: #"expected "auto", "none", "required""#),
        Case(json: #"{"name": "a", "settings": {"temperature": 3}}"#, path: "settings.temperature", message: "must be between 0 and 2, not 3"),
        Case(json: #"{"name": "a", "settings": {"top_p": -0.5}}"#, path: "settings.top_p", message: "must be between 0 and 1, not -0.5"),
        Case(json: #"{"name": "a", "settings": {"max_output_tokens": 8}}"#, path: "settings.max_output_tokens", message: "must be at least 16, not 8"),
        Case(json: #"{"name": "a", "settings": {"max_output_tokens": 100.5}}"#, path: "settings.max_output_tokens", message: "expected a whole number"),
        Case(json: #"{"name": "a", "settings": {"reasoning": {"effort": "huge"}}}"#, path: "settings.reasoning.effort", message: "'huge' is not one of"),
        Case(json: #"{"name": "a", "settings": {"text": {"format": {"type": "json_schema", "name": "x"}}}}"#, path: "settings.text.format.schema", message: "missing; expected the JSON Schema"),
        Case(json: #"{"name": "a", "settings": {"text": {"format": {"type": "yaml"}}}}"#, path: "settings.text.format.type", message: "'yaml' is not one of"),
        Case(json: #"{"name": "a", "settings": {"metadata": {"k": true}}}"#, path: "settings.metadata.k", message: "expected a string, not true"),
        Case(json: #"{"name": "a", "settings": {"stream": "no"}}"#, path: "settings.stream", message: #"expected true or false, not the string "no""#),
        Case(json: #"{"name": "a", "settings": {"background": 1}}"#, path: "settings.background", message: "expected true or false, not the number 1"),
        Case(json: #"{"name": "a", "settings": {"truncation": "sometimes"}}"#, path: "settings.truncation", message: "'sometimes' is not one of 'auto', 'disabled'"),
        Case(json: #"{"name": "a", "settings": {"service_tier": ""}}"#, path: "settings.service_tier", message: "must not be empty"),
        Case(json: #"{"name": "a", "settings": {"prompt_cache_key": 5}}"#, path: "settings.prompt_cache_key", message: "expected a string, not the number 5"),
        Case(json: #"{"name": "a", "settings": {"max_tool_calls": 0}}"#, path: "settings.max_tool_calls", message: "must be at least 1, not 0"),
        Case(json: #"{"name": "a", "settings": {"top_logprobs": 21}}"#, path: "settings.top_logprobs", message: "must be at most 20, not 21"),
        Case(json: #"{"name": "a", "settings": {"context_management": "compact"}}"#, path: "settings.context_management", message: "expected an object (or a list of them)"),
        Case(json: #"{"name": "a", "settings": {"context_management": [{"compact_threshold": 9}]}}"#, path: "settings.context_management[0]", message: "expected an object with a \"type\""),
        Case(json: #"{"name": "a", "settings": {"extra": [1]}}"#, path: "settings.extra", message: "expected an object of request fields"),
        Case(json: #"{"name": "a", "settings": {"extra": {"model": "gpt"}}}"#, path: "settings.extra.model", message: "Errand sets model itself"),
        Case(json: #"{"name": "a", "settings": {"extra": {"previous_response_id": "resp_1"}}}"#, path: "settings.extra.previous_response_id", message: "Errand sets previous_response_id itself"),
        Case(json: #"{"name": "a", "settings": {"extra": {"temperature": 1}}}"#, path: "settings.extra.temperature", message: "temperature has its own key: set settings.temperature"),
        Case(json: #"{"name": "a", "settings": {"streem": true}}"#, path: "settings.streem", message: "unknown key; did you mean 'stream'?"),
        Case(json: #"{"name": "a", "limits": {"max_turns": 0}}"#, path: "limits.max_turns", message: "must be at least 1, not 0"),
        Case(json: #"{"name": "a", "limits": {"timeout_seconds": "10"}}"#, path: "limits.timeout_seconds", message: #"expected a number, not the string "10""#),
        Case(json: #"{"name": "a", "limits": {"max_tool_concurrency": 0}}"#, path: "limits.max_tool_concurrency", message: "must be at least 1"),
        Case(json: #"{"name": "a", "limits": {"retries": 3}}"#, path: "limits.retries", message: "unknown key"),
        Case(json: #"{"name": "a", "limits": {"max_cost_usd": -1}}"#, path: "limits.max_cost_usd", message: "must be between"),
        Case(json: #"{"name": "a", "limits": {"max_total_tokens": 0}}"#, path: "limits.max_total_tokens", message: "must be at least 1"),
        Case(json: #"{"name": "a", "provider": {"pricing": {"input": 0.4}}}"#, path: "provider.pricing", message: #"needs both "input" and "output""#),
        Case(json: #"{"name": "a", "provider": {"pricing": {"input": "cheap", "output": 1}}}"#, path: "provider.pricing.input", message: "expected a number"),
        Case(json: #"{"name": "a", "provider": {"context_window": 100}}"#, path: "provider.context_window", message: "must be at least 256"),
        Case(json: #"{"name": "a", "context": {"compaction": "sometimes"}}"#, path: "context.compaction", message: "'sometimes' is not one of 'auto', 'server', 'local', 'off'"),
        Case(json: #"{"name": "a", "context": {"threshold": 1.5}}"#, path: "context.threshold", message: "must be between 0.1 and 0.98"),
        Case(json: #"{"name": "a", "context": {"keep_recent": 2}}"#, path: "context.keep_recent", message: "unknown key"),
        Case(json: #"{"name": "a", "workspace": {"root": "missing-folder"}}"#, path: "workspace.root", message: "is not a folder"),
        Case(json: #"{"name": "a", "workspace": {"writable": "yes"}}"#, path: "workspace.writable", message: "expected true or false"),
        Case(json: #"{"name": "a", "instructions": "x", "instructions_file": "instructions.md"}"#, path: "instructions_file", message: "not both"),
        Case(json: #"{"name": "a", "instructions_file": "missing.md"}"#, path: "instructions_file", message: "cannot read"),
        Case(json: #"{"name": "a" "model": "m"}"#, path: "", message: "not valid JSON"),
    ]

    @Test(arguments: cases)
    func eachProblemNamesTheFileAndPath(_ testCase: Case) throws {
        do {
            _ = try parse(testCase.json)
            Issue.record("accepted: \(testCase.json)")
        } catch let error as SpecError {
            let match = error.problems.first { $0.path == testCase.path && $0.message.contains(testCase.message) }
            #expect(match != nil, "got: \(error.description)")
            #expect(error.description.contains(Self.folder.appendingPathComponent("agent.json").path))
        }
    }

    @Test func anMCPEntryBecomesAServerConfiguration() throws {
        let spec = try AgentSpec.parse(Data(#"""
            {"name": "a", "tools": ["read_file",
              {"mcp": {"name": "git", "command": ["sh", "-c", "exec x"], "env": {"TOKEN": "${GIT_TOKEN}"}, "cwd": "sub",
                       "allow_tools": ["git_log"], "timeout_seconds": 5, "start_timeout_seconds": 2, "optional": true}},
              {"hosted": {"type": "web_search"}}],
             "tool_choice": {"type": "function", "name": "git__git_log"}}
            """#.utf8), file: Self.folder.appendingPathComponent("agent.json"),
            environment: ["PATH": "/usr/bin:/bin", "GIT_TOKEN": "t0k", "OPENAI_API_KEY": "sk-secret", "HOME": "/home/x"])
        let server = try #require(spec.mcpServers.first)
        #expect(server.name == "git")
        guard case .stdio(let executable, let arguments, let environment, let workingDirectory) = server.endpoint else {
            Issue.record("not a stdio server: \(server.endpoint)")
            return
        }
        #expect(executable.hasSuffix("/sh"))
        #expect(arguments == ["-c", "exec x"])
        #expect(workingDirectory.lastPathComponent == "sub")
        #expect(server.allowTools == ["git_log"])
        #expect(server.callTimeout == .seconds(5))
        #expect(server.startTimeout == .seconds(2))
        #expect(server.isOptional)
        // It inherits a few variables and gets what the spec names; API keys stay with errand.
        #expect(environment == ["PATH": "/usr/bin:/bin", "HOME": "/home/x", "TOKEN": "t0k"])
        #expect(spec.toolNames == ["read_file"])
        #expect(spec.hostedTools == [["type": "web_search"]])
    }

    @Test func aRemoteMCPEntryBecomesAStreamableHTTPServerWhoseTokenIsNeverJournaled() throws {
        let spec = try AgentSpec.parse(Data(#"""
            {"name": "a", "tools": [
              {"mcp": {"name": "docs", "url": "https://${DOCS_HOST}/mcp", "headers": {"Authorization": "Bearer ${DOCS_TOKEN}", "X-Team": "blue"},
                       "allow_tools": ["search"], "timeout_seconds": 20, "start_timeout_seconds": 30, "optional": true, "idempotent": true}}]}
            """#.utf8), file: Self.folder.appendingPathComponent("agent.json"),
            environment: ["PATH": "/usr/bin:/bin", "DOCS_HOST": "docs.example.com", "DOCS_TOKEN": "tok-secret-42"])
        let server = try #require(spec.mcpServers.first)
        #expect(server.endpoint == .streamableHTTP(
            url: URL(string: "https://docs.example.com/mcp")!, headers: ["Authorization": "Bearer tok-secret-42", "X-Team": "blue"]))
        #expect(server.isRemote)
        #expect(server.location == "https://docs.example.com/mcp", "the location never shows the headers")
        #expect(server.allowTools == ["search"])
        #expect(server.callTimeout == .seconds(20))
        #expect(server.startTimeout == .seconds(30))
        #expect(server.isOptional && server.idempotent)
        #expect(server.unsetVariables.isEmpty)
        // The token's variable is a secret of the journal, as the provider's key is.
        let agent = try spec.agent(environment: ["DOCS_TOKEN": "tok-secret-42", "DOCS_HOST": "docs.example.com", "OPENAI_API_KEY": "sk-x"])
        #expect(agent.journalPolicy.secrets.contains("tok-secret-42"))

        // A variable that is not set is remembered, to be named if the server refuses the credentials.
        let unset = try AgentSpec.parse(Data(#"{"name": "a", "tools": [{"mcp": {"name": "docs", "url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer ${DOCS_TOKEN}"}}}]}"#.utf8),
            file: Self.folder.appendingPathComponent("agent.json"), environment: [:])
        #expect(unset.mcpServers.first?.unsetVariables == ["DOCS_TOKEN"])
    }

    @Test func everyProblemIsReportedAtOnce() throws {
        let error = #expect(throws: SpecError.self) {
            _ = try parse(#"{"name": "a", "modle": "x", "limits": {"max_turns": 0}, "settings": {"temperature": 9}}"#)
        }
        #expect(error?.problems.map(\.path) == ["modle", "settings.temperature", "limits.max_turns"])
    }

    @Test func aGoodSpecBuildsItsAgent() throws {
        let spec = try parse(#"""
            {"$schema": "./schema.json", "name": "helper", "model": "m1", "instructions_file": "instructions.md",
             "provider": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": "MY_KEY", "headers": {"X-Team": "${TEAM}-a"}, "state": "stateless", "max_tokens_field": "max_tokens"},
             "tools": ["read_file", {"name": "search_files"}], "tool_choice": {"type": "function", "name": "read_file"}, "parallel_tool_calls": false,
             "settings": {"temperature": 0.5, "max_output_tokens": 64, "store": false, "metadata": {"k": "v"},
                          "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": true}}},
             "limits": {"max_turns": 4, "max_tool_calls": 9, "timeout_seconds": 1.5, "tool_timeout_seconds": 2, "max_tool_concurrency": 3},
             "workspace": {"root": "sub", "writable": false}}
            """#)
        let environment = ["MY_KEY": "k-123", "TEAM": "blue"]
        let agent = try spec.agent(overrides: SpecOverrides(maxTurns: 2), environment: environment)
        #expect(agent.model == "m1")
        #expect(agent.instructions == "Be brief.")
        #expect(agent.tools.names == ["read_file", "search_files"])
        #expect(agent.toolChoice == .function(name: "read_file"))
        #expect(agent.parallelToolCalls == false)
        #expect(agent.settings.temperature == 0.5)
        #expect(agent.settings.store == false)
        #expect(agent.limits.maxTurns == 2, "the override wins")
        #expect(agent.limits.maxToolCalls == 9)
        #expect(agent.limits.timeout == .milliseconds(1500))
        #expect(agent.limits.toolTimeout == .seconds(2))
        #expect(agent.state == .stateless)
        #expect(agent.workspace?.root.lastPathComponent == "sub")
        let provider = try spec.provider(environment: environment)
        #expect(provider.baseURL == "http://127.0.0.1:9/v1")
        #expect(provider.apiKey == APIKey("k-123"))
        #expect(provider.headers["X-Team"] == "blue-a")
        #expect(provider.maxTokensField == .maxTokens)
        let overridden = try spec.provider(overrides: SpecOverrides(preset: "mume"), environment: environment)
        #expect(overridden.name == "mume")
        #expect(spec.model(overrides: SpecOverrides(model: "m2"), provider: provider) == "m2")
    }

    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    @Test(arguments: ["codebase-explainer", "code-reviewer", "doc-stats", "json-inspector", "time-keeper", "web-summariser"])
    func theExampleSpecsValidate(_ name: String) throws {
        let spec = try AgentSpec.load(Self.repository.appendingPathComponent("agents/\(name).json"))
        #expect(spec.name == name)
        #expect(!spec.toolNames.isEmpty)
        _ = try spec.agent(environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
    }

    @Test func budgetsPricesAndContextReachTheAgent() throws {
        let spec = try parse(#"""
            {"name": "a", "model": "my-local-model",
             "provider": {"pricing": {"input": 0.5, "cached_input": 0.05, "output": 2}, "context_window": 32768},
             "limits": {"max_total_tokens": 50000, "max_input_tokens": 40000, "max_output_tokens": 9000, "max_cost_usd": 0.25},
             "context": {"compaction": "local", "threshold": 0.7, "keep_recent_turns": 2}}
            """#)
        let agent = try spec.agent(environment: ["PATH": "/usr/bin:/bin"])
        #expect(agent.price == ModelPrice(input: 0.5, cachedInput: 0.05, output: 2, source: Self.folder.appendingPathComponent("agent.json").path))
        #expect(agent.limits.maxTotalTokens == 50000 && agent.limits.maxInputTokens == 40000 && agent.limits.maxOutputTokens == 9000)
        #expect(agent.limits.maxCostUSD == 0.25)
        #expect(agent.context == ContextPolicy(window: 32768, compaction: .local, threshold: 0.7, keepRecentTurns: 2))
        // The run's own table and flags win over the spec; a known model gets the built-in price and window.
        let table = try ModelCatalog(json: Data(#"{"models": {"my-local-model": {"input": 0, "output": 0, "context_window": 8192}}}"#.utf8), source: "t.json")
        let overridden = try spec.agent(overrides: SpecOverrides(maxTotalTokens: 10, maxCostUSD: 1, pricing: table), environment: ["PATH": "/usr/bin:/bin"])
        #expect(overridden.price?.input == 0 && overridden.context.window == 8192)
        #expect(overridden.limits.maxTotalTokens == 10 && overridden.limits.maxCostUSD == 1)
        let builtIn = try parse(#"{"name": "a", "model": "gpt-4.1-mini-2025-04-14"}"#).agent(environment: ["PATH": "/usr/bin:/bin"])
        #expect(builtIn.price?.output == 1.6)
        #expect(builtIn.context.window == 1_047_576)
        // A cost budget for a model with no price is refused when the agent is made, saying how to give one.
        do {
            _ = try parse(#"{"name": "a", "model": "mystery", "limits": {"max_cost_usd": 1}}"#).agent(environment: ["PATH": "/usr/bin:/bin"])
            Issue.record("a cost budget without a price was accepted")
        } catch {
            #expect("\(error)".contains("needs the price of mystery"))
            #expect("\(error)".contains("\"pricing\""))
        }
    }

    @Test func theCheckedInSchemaIsTheOneErrandPrints() throws {
        let file = try JSONValue(parsing: Data(contentsOf: Self.repository.appendingPathComponent("agents/schema/agent-spec.schema.json")))
        #expect(file == AgentSpec.jsonSchema, "regenerate it with: swift run errand schema > agents/schema/agent-spec.schema.json")
        // Every key the decoder accepts at the top level is in the schema, and no other.
        let keys = Set(AgentSpec.jsonSchema["properties"]?.objectValue?.keys.map { $0 } ?? [])
        #expect(keys == ["$schema", "name", "description", "model", "instructions", "instructions_file", "provider", "tools", "tool_choice", "parallel_tool_calls", "settings", "limits", "workspace", "journal", "context", "output_schema", "input_schema", "handoffs", "guardrails"])
    }
}
