import ErrandCore
import ErrandMCP
import ErrandTools
import Foundation
import ResponsesAPI

/// An agent described by a JSON file: the model and provider, instructions, tools, settings, limits and workspace.
/// Decoded strictly: an unknown key, a wrong type or a bad value is a ``SpecError`` that names the file and the JSON
/// path. See ``AgentSpec/jsonSchema`` for every key.
public struct AgentSpec: Sendable {
    /// A tool the spec names.
    public enum ToolEntry: Sendable {
        /// A built-in tool (`read_file`, …) with its options.
        case builtin(name: String, options: [String: JSONValue])
        /// A command tool from a manifest.
        case command(CommandTool, manifest: URL)
        /// An MCP server over stdio, whose tools join as `NAME__TOOL` when the run starts.
        case mcp(MCPServerConfiguration)
        /// A tool the provider runs (`{"type": "web_search"}`, a hosted MCP server…), sent as given; `approve` answers a
        /// hosted MCP server's approval requests (nil: ask on the terminal when interactive, else refuse).
        case hosted(JSONValue, approve: HostedApproval?)
        /// Another agent's spec used as a tool: a call runs it to completion as a child run.
        indirect case agent(AgentTool)
    }

    /// An agent used as a tool (`{"agent": "reviewer.json", "name": …, "description": …}`).
    public struct AgentTool: Sendable {
        /// The agent's spec.
        public var spec: AgentSpec
        /// The tool's name (default: the agent's name).
        public var name: String
        /// The tool's description (default: the agent's description).
        public var description: String?
    }

    /// A guardrail a spec names.
    public enum GuardrailEntry: Sendable {
        /// A command manifest: `{"kind", "text"}` on stdin; exit 0 passes, another status trips with stdout as the reason.
        case command(CommandTool, manifest: URL, name: String, timeout: Duration)
        /// A judge agent answering `{"pass": boolean, "reason": string}`.
        indirect case agent(AgentSpec, name: String, timeout: Duration?)
    }

    /// How a hosted MCP server's approval requests are answered.
    public enum HostedApproval: String, Sendable, CaseIterable {
        case always, never
    }

    /// The spec file.
    public var file: URL
    /// The agent's name.
    public var name: String
    /// What the agent is for.
    public var description: String?
    /// The model id (`nil`: the provider's usual model).
    public var model: String?
    /// The instructions (from `instructions` or `instructions_file`).
    public var instructions: String?
    /// The provider preset (`openai`, `mume`, `umodelverse`).
    public var preset: String?
    /// A compatible server's base URL.
    public var baseURL: String?
    /// The environment variable that holds the key.
    public var apiKeyEnvironmentVariable: String?
    /// Extra headers; `${VAR}` in a value is replaced from the environment.
    public var headers: [String: String]
    /// How state is carried between turns.
    public var state: StateMode
    /// The name of the token cap's field, when the spec sets it.
    public var maxTokensField: CreateResponseRequest.MaxTokensField?
    /// Whether a structured output's schema also goes as Chat Completions' `response_format` (`provider.response_format`).
    public var sendsResponseFormat: Bool = false
    /// How runs reach the model (`provider.transport`), when the spec says.
    public var transport: ResponsesTransportKind? = nil
    /// The WebSocket mode's URL (`provider.websocket_url`), when it is not the base URL's.
    public var webSocketURL: String? = nil
    /// The tools, in order.
    public var tools: [ToolEntry]
    /// How the model must choose tools.
    public var toolChoice: ToolChoice?
    /// Whether the model may ask for several calls at once.
    public var parallelToolCalls: Bool?
    /// Model settings.
    public var settings: ModelSettings
    /// Run limits.
    public var limits: RunLimits
    /// The workspace root (relative paths are relative to the spec's folder).
    public var workspaceRoot: URL
    /// Whether tools may write in the workspace.
    public var writable: Bool
    /// Whether turns stream (`settings.stream`, default true) or are one JSON call each.
    public var stream: Bool = true
    /// The model's price (`provider.pricing`), over the built-in table's.
    public var pricing: ModelPrice? = nil
    /// The model's context window (`provider.context_window`), when the built-in table does not know it.
    public var contextWindow: Int? = nil
    /// How runs keep within the context window (`context`).
    public var context = ContextPolicy()
    /// How run journals are written (`journal`): durability and tool output kept. Its secrets are filled in when
    /// the agent is built: the provider's key, and the values of `journal.redact_env`'s variables.
    public var journal = JournalPolicy()
    /// Environment variables whose values are never written to a journal (`journal.redact_env`).
    public var redactEnvironment: [String] = []
    /// Environment variables substituted (`${VAR}`) into MCP servers' `env`, `headers` and `url`: credentials, as a rule, so their values are
    /// redacted from journals too (as are those substituted into the provider's headers).
    public var mcpEnvironmentReferences: [String] = []
    /// The shape the final answer must have (`output_schema`).
    public var outputSchema: OutputSchema? = nil
    /// The parameters the agent takes when another agent uses it as a tool (`input_schema`; default: one `task`).
    public var inputSchema: JSONValue? = nil
    /// The specs this agent may hand the conversation to (`handoffs`), by file.
    public var handoffs: [URL] = []
    /// Checks on the task and the final answer (`guardrails`).
    public var guardrails: (input: [GuardrailEntry], output: [GuardrailEntry]) = ([], [])
    /// Every spec the run's agents may hand to, by file path: loaded once with the spec that was loaded first, so
    /// that agents that hand to each other can be built (filled in on that spec only).
    public var linked: [String: AgentSpec] = [:]

    /// The built-in tools a spec can name.
    public static let builtinTools = FileTools.names + ["fetch_url"]

    /// The options each built-in tool takes.
    static let builtinOptions: [String: [String]] = [
        "fetch_url": ["allow_hosts", "deny_hosts", "allow_private_network", "max_bytes", "timeout_seconds"],
    ]

    static let rootKeys = [
        "$schema", "name", "description", "model", "instructions", "instructions_file", "provider", "tools", "tool_choice",
        "parallel_tool_calls", "settings", "limits", "workspace", "journal", "context", "output_schema", "input_schema", "handoffs", "guardrails",
    ]

    static let journalKeys = ["durability", "tool_output", "tool_output_max_chars", "redact_env"]

    /// Loads and checks a spec file (and the manifests and specs it names: agents used as tools, handoffs, judges).
    public static func load(_ url: URL, environment: [String: String] = ProcessInfo.processInfo.environment) throws(SpecError) -> AgentSpec {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw SpecError(problems: [SpecProblem(file: url.path, path: "", message: "cannot read the spec: \(error.localizedDescription)")])
        }
        return try parse(data, file: url, environment: environment)
    }

    /// Checks a spec given as JSON; `file` names it in errors and anchors its relative paths.
    public static func parse(_ data: Data, file: URL, environment: [String: String] = ProcessInfo.processInfo.environment) throws(SpecError) -> AgentSpec {
        let loader = SpecLoader(environment: environment)
        var spec = try parse(data, file: file, environment: environment, loader: loader)
        spec.linked = loader.loaded.merging(loader.handoffTargets) { loaded, _ in loaded }
        if let problem = loader.conflictingMCPServers(spec) { throw SpecError(problems: [problem]) }
        return spec
    }

    /// Checks a spec given as JSON, loading the specs it names through `loader`.
    static func parse(_ data: Data, file: URL, environment: [String: String], loader: SpecLoader, embedded: Bool = false) throws(SpecError) -> AgentSpec {
        loader.chain.append((file.standardizedFileURL.path, embedded))
        defer { loader.chain.removeLast() }
        let reader = SpecReader(file: file.path)
        let json = try SpecReader.parse(data, file: file.path)
        let folder = file.deletingLastPathComponent()
        guard let root = reader.object(json, at: "", allowed: rootKeys) else {
            throw SpecError(problems: reader.problems.isEmpty ? [SpecProblem(file: file.path, path: "", message: "expected a spec object")] : reader.problems)
        }
        var spec = AgentSpec(
            file: file, name: reader.string(root, "name", at: "", required: true) ?? "", description: reader.string(root, "description", at: ""),
            model: reader.string(root, "model", at: ""), instructions: reader.string(root, "instructions", at: ""), preset: nil, baseURL: nil,
            apiKeyEnvironmentVariable: nil, headers: [:], state: .auto, maxTokensField: nil, tools: [], toolChoice: nil,
            parallelToolCalls: reader.bool(root, "parallel_tool_calls", at: ""), settings: ModelSettings(), limits: RunLimits(),
            workspaceRoot: folder, writable: false)
        if let path = reader.string(root, "instructions_file", at: "") {
            if spec.instructions != nil { reader.problem("instructions_file", "give instructions or instructions_file, not both") }
            let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : folder.appendingPathComponent(path)
            if let text = try? String(contentsOf: url, encoding: .utf8) {
                spec.instructions = text
            } else {
                reader.problem("instructions_file", "cannot read '\(url.path)'")
            }
        }
        readProvider(root, into: &spec, reader: reader)
        readWorkspace(root, into: &spec, reader: reader, folder: folder)
        readTools(root, into: &spec, reader: reader, folder: folder, environment: environment, loader: loader)
        readSettings(root, into: &spec, reader: reader)
        readLimits(root, into: &spec, reader: reader)
        readAgents(root, into: &spec, reader: reader, folder: folder, environment: environment, loader: loader)
        readContext(root, into: &spec, reader: reader)
        readJournal(root, into: &spec, reader: reader)
        if let choice = root["tool_choice"] {
            switch choice {
            case "auto", "none", "required":
                spec.toolChoice = try? choice.decode(as: ToolChoice.self)
            case .object(let object) where object["type"] == "function":
                _ = reader.object(choice, at: "tool_choice", allowed: ["type", "name"])
                if let name = reader.string(object, "name", at: "tool_choice", required: true) {
                    let names = spec.toolNames
                    if !names.contains(name), !spec.mcpServers.contains(where: { name.hasPrefix($0.name + "__") }) {
                        reader.problem("tool_choice.name", "'\(name)' is not one of the spec's tools (\(names.joined(separator: ", ")))")
                    }
                    spec.toolChoice = .function(name: name)
                }
            default:
                reader.problem("tool_choice", "expected \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"name\": …}")
            }
        }
        if !reader.problems.isEmpty { throw SpecError(problems: reader.problems) }
        return spec
    }

    /// The names of the spec's local tools, in order (an MCP server's tools are known once it runs).
    public var toolNames: [String] {
        tools.compactMap { tool in
            switch tool {
            case .builtin(let name, _): name
            case .command(let command, _): command.name
            case .agent(let tool): tool.name
            case .mcp, .hosted: nil
            }
        }
    }

    /// The MCP servers the spec names.
    public var mcpServers: [MCPServerConfiguration] {
        tools.compactMap { if case .mcp(let server) = $0 { server } else { nil } }
    }

    /// The hosted tools, as they are sent.
    public var hostedTools: [JSONValue] {
        tools.compactMap { if case .hosted(let tool, _) = $0 { tool } else { nil } }
    }

    /// The variables a value substitutes (`${VAR}`).
    static func references(in value: String) -> [String] {
        var names: [String] = []
        walkReferences(in: value, text: { _ in }, variable: { names.append($0) })
        return names
    }

    /// Walks a value's `${VAR}` references in order: `text` gets the literal pieces between them, `variable` each name.
    /// The one reading of `${…}` that expanding a value and listing its references share.
    static func walkReferences(in value: String, text: (Substring) -> Void, variable: (String) -> Void) {
        var rest = value[...]
        while let start = rest.range(of: "${"), let end = rest[start.upperBound...].firstIndex(of: "}") {
            text(rest[..<start.lowerBound])
            variable(String(rest[start.upperBound..<end]))
            rest = rest[rest.index(after: end)...]
        }
        text(rest)
    }

    static let mcpKeys = [
        "name", "command", "env", "cwd", "url", "headers", "allow_tools", "timeout_seconds", "start_timeout_seconds", "optional", "idempotent",
        "max_output_bytes",
    ]

    private static func mcpServer(
        _ value: JSONValue?, at path: String, reader: SpecReader, folder: URL, environment: [String: String], spec: AgentSpec
    ) -> ToolEntry? {
        guard let members = reader.object(value, at: path, allowed: mcpKeys) else { return nil }
        let name = reader.string(members, "name", at: path, required: true)
        if let name {
            let valid = !name.isEmpty && name.count <= 32 && !name.contains("__")
                && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-") }
            if !valid {
                reader.problem("\(path).name", "'\(name)' cannot prefix tool names: use 1 to 32 letters, digits, '-' or '_' (not '__')")
            }
        }
        let allowTools = reader.strings(members, "allow_tools", at: path)
        let timeout = reader.number(members, "timeout_seconds", at: path, range: 0.1...3600) ?? 60
        let startTimeout = reader.number(members, "start_timeout_seconds", at: path, range: 0.1...600) ?? 30
        let optional = reader.bool(members, "optional", at: path) ?? false
        let idempotent = reader.bool(members, "idempotent", at: path) ?? false
        let maxOutputBytes = reader.number(members, "max_output_bytes", at: path, range: 1024...Double(64 << 20)).map { Int($0) }
        func finish(_ configuration: MCPServerConfiguration) -> ToolEntry {
            var configuration = configuration
            if let maxOutputBytes { configuration.maxOutputBytes = maxOutputBytes }
            return .mcp(configuration)
        }
        if members["url"] != nil {
            // A remote server over Streamable HTTP.
            for key in ["command", "env", "cwd"] where members[key] != nil {
                reader.problem("\(path).\(key)", "a server is started with \"command\" or reached at \"url\", not both: \(key) belongs to a server errand starts")
            }
            let written = reader.string(members, "url", at: path, required: true)
            let headers = reader.stringMap(members, "headers", at: path) ?? [:]
            var url: URL?
            if let written {
                let expanded = expand(written, environment: environment)
                if let parsed = URL(string: expanded), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme), parsed.host?.isEmpty == false {
                    url = parsed
                } else {
                    reader.problem("\(path).url", "'\(written)' is not an http(s) URL, e.g. \"https://example.com/mcp\"")
                }
            }
            for (header, _) in headers where header.isEmpty || !header.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 32 && $0 != ":" }) {
                reader.problem("\(path).headers", "'\(header)' is not a header name")
            }
            guard let name, let url else { return nil }
            var configuration = MCPServerConfiguration(
                name: name, url: url, headers: headers.mapValues { expand($0, environment: environment) }, allowTools: allowTools,
                callTimeout: .milliseconds(Int64(timeout * 1000)), startTimeout: .milliseconds(Int64(startTimeout * 1000)), isOptional: optional,
                idempotent: idempotent)
            configuration.unsetVariables = (headers.values.flatMap(references(in:)) + references(in: written ?? "")).filter { environment[$0] == nil }
            return finish(configuration)
        }
        if members["headers"] != nil {
            reader.problem("\(path).headers", "headers go to a remote server (\"url\"); a server errand starts gets variables with \"env\"")
        }
        let variables = reader.stringMap(members, "env", at: path) ?? [:]
        let workingDirectory = reader.folder(members, "cwd", at: path, relativeTo: folder) ?? folder
        var executable = ""
        var arguments: [String] = []
        if let command = reader.strings(members, "command", at: path) {
            if command.isEmpty {
                reader.problem("\(path).command", "expected at least the program, e.g. [\"python3\", \"-m\", \"mcp_server_time\"]")
            } else {
                arguments = Array(command.dropFirst())
                let searchPath = variables["PATH"] ?? environment["PATH"]
                if let resolved = CommandManifest.findProgram(command[0], folder: folder, environment: ["PATH": searchPath ?? ""]) {
                    executable = resolved
                } else {
                    reader.problem("\(path).command[0]", "program '\(command[0])' not found\(command[0].contains("/") ? "" : " on PATH")")
                }
            }
        } else if members["command"] == nil {
            reader.problem("\(path).command", "missing: the server's program and arguments, e.g. [\"python3\", \"-m\", \"mcp_server_time\"]")
        }
        guard let name, !executable.isEmpty else { return nil }
        return finish(MCPServerConfiguration(
            name: name, executable: executable, arguments: arguments, environment: variables.mapValues { expand($0, environment: environment) },
            parentEnvironment: environment, workingDirectory: workingDirectory, allowTools: allowTools,
            callTimeout: .milliseconds(Int64(timeout * 1000)), startTimeout: .milliseconds(Int64(startTimeout * 1000)), isOptional: optional,
            idempotent: idempotent))
    }

    private static func hosted(_ object: [String: JSONValue], at path: String, reader: SpecReader) -> ToolEntry? {
        guard let members = reader.object(.object(object), at: path, allowed: ["hosted", "approve"]) else { return nil }
        guard case .object(let tool)? = members["hosted"], case .string(let type)? = tool["type"], !type.isEmpty else {
            reader.problem("\(path).hosted", "expected the provider's tool object with its \"type\", e.g. {\"type\": \"web_search\"}")
            return nil
        }
        if type == "function" {
            reader.problem("\(path).hosted.type", "a function is a local tool: name a built-in tool, a manifest or an MCP server instead")
            return nil
        }
        let approve = reader.string(members, "approve", at: path, allowed: HostedApproval.allCases.map(\.rawValue)).flatMap(HostedApproval.init(rawValue:))
        if approve != nil, type != "mcp" {
            reader.problem("\(path).approve", "only a hosted MCP server (\"type\": \"mcp\") asks for approval")
        }
        return .hosted(.object(tool), approve: approve)
    }

    private static func readProvider(_ root: [String: JSONValue], into spec: inout AgentSpec, reader: SpecReader) {
        let keys = [
            "preset", "base_url", "api_key_env", "headers", "state", "max_tokens_field", "transport", "websocket_url", "pricing", "context_window",
            "response_format",
        ]
        guard let provider = reader.object(root["provider"], at: "provider", allowed: keys) else { return }
        spec.preset = reader.string(provider, "preset", at: "provider", allowed: Provider.presetNames)
        if let url = reader.string(provider, "base_url", at: "provider") {
            if URL(string: url)?.scheme?.hasPrefix("http") == true { spec.baseURL = url } else {
                reader.problem("provider.base_url", "expected an http(s) URL, not '\(url)'")
            }
        }
        spec.apiKeyEnvironmentVariable = reader.string(provider, "api_key_env", at: "provider")
        spec.headers = reader.stringMap(provider, "headers", at: "provider") ?? [:]
        if let state = reader.string(provider, "state", at: "provider", allowed: StateMode.allCases.map(\.rawValue)) {
            spec.state = StateMode(rawValue: state) ?? .auto
        }
        if let field = reader.string(provider, "max_tokens_field", at: "provider", allowed: ["max_output_tokens", "max_tokens"]) {
            spec.maxTokensField = CreateResponseRequest.MaxTokensField(rawValue: field)
        }
        if let transport = reader.string(provider, "transport", at: "provider", allowed: ResponsesTransportKind.allCases.map(\.rawValue)) {
            spec.transport = ResponsesTransportKind(rawValue: transport)
        }
        spec.contextWindow = reader.int(provider, "context_window", at: "provider", minimum: 256)
        spec.sendsResponseFormat = reader.bool(provider, "response_format", at: "provider") ?? false
        if let pricing = reader.object(provider["pricing"], at: "provider.pricing", allowed: ["input", "cached_input", "output", "source", "as_of"]) {
            let input = reader.number(pricing, "input", at: "provider.pricing", range: 0...1_000_000)
            let output = reader.number(pricing, "output", at: "provider.pricing", range: 0...1_000_000)
            let cached = reader.number(pricing, "cached_input", at: "provider.pricing", range: 0...1_000_000)
            if let input, let output {
                spec.pricing = ModelPrice(
                    input: input, cachedInput: cached, output: output, source: reader.string(pricing, "source", at: "provider.pricing") ?? spec.file.path,
                    asOf: reader.string(pricing, "as_of", at: "provider.pricing"))
            } else if pricing["input"] == nil || pricing["output"] == nil {
                reader.problem("provider.pricing", "needs both \"input\" and \"output\": USD per million tokens, e.g. {\"input\": 0.4, \"cached_input\": 0.1, \"output\": 1.6}")
            }
        }
        if let url = reader.string(provider, "websocket_url", at: "provider") {
            let scheme = URL(string: url)?.scheme?.lowercased()
            if (scheme == "ws" || scheme == "wss"), URL(string: url)?.host != nil { spec.webSocketURL = url } else {
                reader.problem("provider.websocket_url", "expected a ws:// or wss:// URL, not '\(url)'")
            }
        }
    }

    private static func readWorkspace(_ root: [String: JSONValue], into spec: inout AgentSpec, reader: SpecReader, folder: URL) {
        guard let workspace = reader.object(root["workspace"], at: "workspace", allowed: ["root", "writable"]) else { return }
        if let root = reader.folder(workspace, "root", at: "workspace", relativeTo: folder) { spec.workspaceRoot = root }
        spec.writable = reader.bool(workspace, "writable", at: "workspace") ?? false
    }

    private static func readTools(
        _ root: [String: JSONValue], into spec: inout AgentSpec, reader: SpecReader, folder: URL, environment: [String: String], loader: SpecLoader
    ) {
        guard let value = root["tools"] else { return }
        guard case .array(let entries) = value else {
            reader.problem("tools", "expected an array of tools, not \(SpecReader.kind(value))")
            return
        }
        var seen: Set<String> = []
        for (index, entry) in entries.enumerated() {
            let path = "tools[\(index)]"
            var tool: ToolEntry?
            switch entry {
            case .string(let name):
                tool = builtin(name, options: [:], at: path, reader: reader, spec: spec)
            case .object(let object) where object["manifest"] != nil:
                guard let members = reader.object(entry, at: path, allowed: ["manifest", "idempotent"]),
                    let file = reader.string(members, "manifest", at: path)
                else { continue }
                let url = file.hasPrefix("/") ? URL(fileURLWithPath: file) : folder.appendingPathComponent(file)
                do {
                    var command = try CommandManifest.load(url, environment: environment)
                    if let idempotent = reader.bool(members, "idempotent", at: path) { command.idempotent = idempotent }
                    tool = .command(command, manifest: url.standardizedFileURL)
                } catch let error as SpecError {
                    for problem in error.problems {
                        reader.problem("\(path).manifest", "\(problem.path.isEmpty ? "" : "\(problem.path): ")\(problem.message) (in \(problem.file))")
                    }
                } catch {
                    reader.problem("\(path).manifest", "\(error)")
                }
            case .object(let object) where object["mcp"] != nil:
                _ = reader.object(entry, at: path, allowed: ["mcp"])
                tool = mcpServer(object["mcp"], at: "\(path).mcp", reader: reader, folder: folder, environment: environment, spec: spec)
                // Variables substituted into a server's env, headers or URL carry credentials, as a rule.
                if case .object(let server)? = object["mcp"] {
                    for key in ["env", "headers"] {
                        if case .object(let variables)? = server[key] {
                            for case .string(let value) in variables.values { spec.mcpEnvironmentReferences += Self.references(in: value) }
                        }
                    }
                    if case .string(let url)? = server["url"] { spec.mcpEnvironmentReferences += Self.references(in: url) }
                }
            case .object(let object) where object["hosted"] != nil:
                tool = hosted(object, at: path, reader: reader)
            case .object(let object) where object["agent"] != nil:
                tool = agentTool(object, at: path, reader: reader, folder: folder, loader: loader)
            case .object(let object):
                guard let name = reader.string(object, "name", at: path, required: true) else { continue }
                var options = object
                options.removeValue(forKey: "name")
                tool = builtin(name, options: options, at: path, reader: reader, spec: spec)
            default:
                reader.problem(path, "expected a built-in tool's name, {\"name\": …, options}, {\"manifest\": \"tools/….json\"}, {\"mcp\": {…}}, {\"hosted\": {…}} or {\"agent\": \"….json\"}, not \(SpecReader.kind(entry))")
            }
            guard let tool else { continue }
            spec.tools.append(tool)
            let name: String
            switch tool {
            case .builtin(let builtin, _): name = builtin
            case .command(let command, _): name = command.name
            case .mcp(let server): name = "mcp:\(server.name)"
            case .agent(let agent): name = agent.name
            case .hosted: continue
            }
            if !seen.insert(name).inserted {
                reader.problem(path, name.hasPrefix("mcp:") ? "a second MCP server named '\(name.dropFirst(4))'" : "a second tool named '\(name)'")
            }
        }
    }

    private static func builtin(_ name: String, options: [String: JSONValue], at path: String, reader: SpecReader, spec: AgentSpec) -> ToolEntry? {
        guard builtinTools.contains(name) else {
            reader.problem(path, "'\(name)' is not a built-in tool; the built-in tools are \(builtinTools.joined(separator: ", "))")
            return nil
        }
        let allowed = builtinOptions[name] ?? []
        for key in options.keys.sorted() where !allowed.contains(key) {
            reader.problem("\(path).\(key)", allowed.isEmpty ? "unknown option of \(name); it takes none" : "unknown option of \(name); its options are \(allowed.joined(separator: ", "))")
        }
        if name == "fetch_url" {
            _ = reader.strings(options, "allow_hosts", at: path)
            _ = reader.strings(options, "deny_hosts", at: path)
            _ = reader.bool(options, "allow_private_network", at: path)
            _ = reader.int(options, "max_bytes", at: path, minimum: 1024)
            _ = reader.number(options, "timeout_seconds", at: path, range: 0.1...600)
        }
        if name == "write_file", !spec.writable {
            reader.problem(path, "write_file needs \"workspace\": {\"writable\": true}")
        }
        return .builtin(name: name, options: options)
    }

    /// The `settings` keys: the request fields a spec sets, each as the API names it (`stream` and `extra` aside).
    static let settingsKeys = [
        "temperature", "top_p", "max_output_tokens", "reasoning", "text", "store", "metadata", "include", "stream", "background",
        "prompt_cache_key", "safety_identifier", "service_tier", "truncation", "max_tool_calls", "top_logprobs", "context_management",
        "extra",
    ]

    /// Request fields `extra` may not set: Errand sends them each turn from the spec, or the spec has a key for them.
    static let managedFields: [String: String] = [
        "model": "set \"model\" at the top of the spec", "input": "the task and --input give the input",
        "instructions": "set \"instructions\" at the top of the spec", "tools": "list tools in \"tools\"",
        "tool_choice": "set \"tool_choice\" at the top of the spec", "parallel_tool_calls": "set \"parallel_tool_calls\" at the top of the spec",
        "previous_response_id": "Errand chains turns itself (provider.state)", "conversation": "Errand chains turns with previous_response_id, which cannot be combined with a conversation",
        "max_tokens": "set settings.max_output_tokens (and provider.max_tokens_field for servers that want max_tokens)",
    ]

    private static func readSettings(_ root: [String: JSONValue], into spec: inout AgentSpec, reader: SpecReader) {
        guard let settings = reader.object(root["settings"], at: "settings", allowed: settingsKeys) else { return }
        spec.settings.temperature = reader.number(settings, "temperature", at: "settings", range: 0...2)
        spec.settings.topP = reader.number(settings, "top_p", at: "settings", range: 0...1)
        spec.settings.maxOutputTokens = reader.int(settings, "max_output_tokens", at: "settings", minimum: 16)
        spec.settings.store = reader.bool(settings, "store", at: "settings")
        spec.settings.metadata = reader.stringMap(settings, "metadata", at: "settings")
        spec.settings.include = reader.strings(settings, "include", at: "settings")
        spec.stream = reader.bool(settings, "stream", at: "settings") ?? true
        spec.settings.background = reader.bool(settings, "background", at: "settings")
        spec.settings.promptCacheKey = reader.string(settings, "prompt_cache_key", at: "settings", required: settings["prompt_cache_key"] != nil)
        spec.settings.safetyIdentifier = reader.string(settings, "safety_identifier", at: "settings", required: settings["safety_identifier"] != nil)
        spec.settings.serviceTier = reader.string(settings, "service_tier", at: "settings", required: settings["service_tier"] != nil)
        spec.settings.truncation = reader.string(settings, "truncation", at: "settings", allowed: ["auto", "disabled"])
        spec.settings.maxToolCalls = reader.int(settings, "max_tool_calls", at: "settings", minimum: 1)
        if let count = reader.int(settings, "top_logprobs", at: "settings", minimum: 0) {
            if count > 20 { reader.problem("settings.top_logprobs", "must be at most 20, not \(count)") } else { spec.settings.topLogprobs = count }
        }
        switch settings["context_management"] {
        case nil, .null?:
            break
        case .object(let entry)?:
            // The API takes a list of entries; one entry written alone is that list.
            spec.settings.contextManagement = [.object(entry)]
        case .array(let entries)?:
            for (index, entry) in entries.enumerated() where entry.objectValue?["type"]?.stringValue == nil {
                reader.problem("settings.context_management[\(index)]", "expected an object with a \"type\", e.g. {\"type\": \"compaction\", \"compact_threshold\": 200000}")
            }
            spec.settings.contextManagement = .array(entries)
        case let other?:
            reader.problem("settings.context_management", "expected an object (or a list of them) such as {\"type\": \"compaction\", \"compact_threshold\": 200000}, not \(SpecReader.kind(other))")
        }
        if let extra = settings["extra"], !extra.isNull {
            if case .object(let fields) = extra {
                for key in fields.keys.sorted() {
                    if let reason = managedFields[key] {
                        reader.problem("settings.extra.\(key)", "Errand sets \(key) itself: \(reason)")
                    } else if settingsKeys.contains(key), key != "extra" {
                        reader.problem("settings.extra.\(key)", "\(key) has its own key: set settings.\(key)")
                    }
                }
                spec.settings.extra = fields
            } else {
                reader.problem("settings.extra", "expected an object of request fields to send as they are, not \(SpecReader.kind(extra))")
            }
        }
        if let reasoning = reader.object(settings["reasoning"], at: "settings.reasoning", allowed: ["effort", "summary"]) {
            spec.settings.reasoning = ReasoningOptions(
                effort: reader.string(reasoning, "effort", at: "settings.reasoning", allowed: ["none", "minimal", "low", "medium", "high", "xhigh", "max"]),
                summary: reader.string(reasoning, "summary", at: "settings.reasoning", allowed: ["auto", "concise", "detailed"]))
        }
        if let text = reader.object(settings["text"], at: "settings.text", allowed: ["format", "verbosity"]) {
            var options = TextOptions(verbosity: reader.string(text, "verbosity", at: "settings.text", allowed: ["low", "medium", "high"]))
            let formatKeys = ["type", "name", "schema", "description", "strict"]
            if let format = reader.object(text["format"], at: "settings.text.format", allowed: formatKeys) {
                switch reader.string(format, "type", at: "settings.text.format", required: true, allowed: ["text", "json_object", "json_schema"]) {
                case "text": options.format = .text
                case "json_object": options.format = .jsonObject
                case "json_schema":
                    let name = reader.string(format, "name", at: "settings.text.format", required: true) ?? ""
                    guard let schema = format["schema"], schema.objectValue != nil else {
                        reader.problem("settings.text.format.schema", "missing; expected the JSON Schema of the answer")
                        break
                    }
                    options.format = .jsonSchema(
                        name: name, schema: schema, description: reader.string(format, "description", at: "settings.text.format"),
                        strict: reader.bool(format, "strict", at: "settings.text.format"))
                default: break
                }
            }
            spec.settings.text = options
        }
    }

    private static func readJournal(_ root: [String: JSONValue], into spec: inout AgentSpec, reader: SpecReader) {
        guard let journal = reader.object(root["journal"], at: "journal", allowed: journalKeys) else { return }
        if let durability = reader.string(journal, "durability", at: "journal", allowed: JournalPolicy.Durability.allCases.map(\.rawValue)) {
            spec.journal.durability = JournalPolicy.Durability(rawValue: durability) ?? .process
        }
        let limit = reader.int(journal, "tool_output_max_chars", at: "journal", minimum: 0)
        switch reader.string(journal, "tool_output", at: "journal", allowed: ["full", "truncated", "none"]) {
        case "none": spec.journal.toolOutput = .none
        case "truncated": spec.journal.toolOutput = .truncated(limit ?? 2000)
        default:
            if limit != nil { reader.problem("journal.tool_output_max_chars", "applies only with \"tool_output\": \"truncated\"") }
        }
        if let names = reader.strings(journal, "redact_env", at: "journal") { spec.redactEnvironment = names }
    }

    private static func readLimits(_ root: [String: JSONValue], into spec: inout AgentSpec, reader: SpecReader) {
        let keys = [
            "max_turns", "max_tool_calls", "timeout_seconds", "tool_timeout_seconds", "max_tool_concurrency", "max_total_tokens", "max_input_tokens",
            "max_output_tokens", "max_cost_usd", "output_retries", "max_agent_depth", "max_handoffs",
        ]
        guard let limits = reader.object(root["limits"], at: "limits", allowed: keys) else { return }
        if let turns = reader.int(limits, "max_turns", at: "limits", minimum: 1) { spec.limits.maxTurns = turns }
        spec.limits.maxToolCalls = reader.int(limits, "max_tool_calls", at: "limits", minimum: 0)
        if let seconds = reader.number(limits, "timeout_seconds", at: "limits", range: 0.001...604_800) {
            spec.limits.timeout = .milliseconds(Int64(seconds * 1000))
        }
        if let seconds = reader.number(limits, "tool_timeout_seconds", at: "limits", range: 0.001...86_400) {
            spec.limits.toolTimeout = .milliseconds(Int64(seconds * 1000))
        }
        if let concurrency = reader.int(limits, "max_tool_concurrency", at: "limits", minimum: 1) { spec.limits.maxToolConcurrency = concurrency }
        spec.limits.maxTotalTokens = reader.int(limits, "max_total_tokens", at: "limits", minimum: 1)
        spec.limits.maxInputTokens = reader.int(limits, "max_input_tokens", at: "limits", minimum: 1)
        spec.limits.maxOutputTokens = reader.int(limits, "max_output_tokens", at: "limits", minimum: 1)
        spec.limits.maxCostUSD = reader.number(limits, "max_cost_usd", at: "limits", range: 0.000001...1_000_000)
        if let retries = reader.int(limits, "output_retries", at: "limits", minimum: 0) { spec.limits.outputRetries = retries }
        if let depth = reader.int(limits, "max_agent_depth", at: "limits", minimum: 0) { spec.limits.maxAgentDepth = depth }
        if let handoffs = reader.int(limits, "max_handoffs", at: "limits", minimum: 0) { spec.limits.maxHandoffs = handoffs }
    }

    static let contextKeys = ["window", "compaction", "threshold", "keep_recent_turns"]

    private static func readContext(_ root: [String: JSONValue], into spec: inout AgentSpec, reader: SpecReader) {
        guard let context = reader.object(root["context"], at: "context", allowed: contextKeys) else { return }
        spec.context.window = reader.int(context, "window", at: "context", minimum: 256)
        if let mode = reader.string(context, "compaction", at: "context", allowed: ContextPolicy.Compaction.allCases.map(\.rawValue)) {
            spec.context.compaction = ContextPolicy.Compaction(rawValue: mode) ?? .auto
        }
        if let threshold = reader.number(context, "threshold", at: "context", range: 0.1...0.98) { spec.context.threshold = threshold }
        if let keep = reader.int(context, "keep_recent_turns", at: "context", minimum: 1) { spec.context.keepRecentTurns = keep }
    }
}
