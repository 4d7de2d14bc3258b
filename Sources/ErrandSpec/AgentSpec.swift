import ErrandCore
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

    /// The built-in tools a spec can name.
    public static let builtinTools = FileTools.names + ["fetch_url"]

    /// The options each built-in tool takes.
    static let builtinOptions: [String: [String]] = [
        "fetch_url": ["allow_hosts", "deny_hosts", "allow_private_network", "max_bytes", "timeout_seconds"],
    ]

    static let rootKeys = [
        "$schema", "name", "description", "model", "instructions", "instructions_file", "provider", "tools", "tool_choice",
        "parallel_tool_calls", "settings", "limits", "workspace",
    ]

    /// Loads and checks a spec file (and the manifests it names).
    public static func load(_ url: URL, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AgentSpec {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw SpecError(problems: [SpecProblem(file: url.path, path: "", message: "cannot read the spec: \(error.localizedDescription)")])
        }
        return try parse(data, file: url, environment: environment)
    }

    /// Checks a spec given as JSON; `file` names it in errors and anchors its relative paths.
    public static func parse(_ data: Data, file: URL, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AgentSpec {
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
        readTools(root, into: &spec, reader: reader, folder: folder, environment: environment)
        readSettings(root, into: &spec, reader: reader)
        readLimits(root, into: &spec, reader: reader)
        if let choice = root["tool_choice"] {
            switch choice {
            case "auto", "none", "required":
                spec.toolChoice = try? choice.decode(as: ToolChoice.self)
            case .object(let object) where object["type"] == "function":
                _ = reader.object(choice, at: "tool_choice", allowed: ["type", "name"])
                if let name = reader.string(object, "name", at: "tool_choice", required: true) {
                    let names = spec.toolNames
                    if !names.contains(name) {
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

    /// The names of the spec's tools, in order.
    public var toolNames: [String] {
        tools.map { tool in
            switch tool {
            case .builtin(let name, _): name
            case .command(let command, _): command.name
            }
        }
    }

    private static func readProvider(_ root: [String: JSONValue], into spec: inout AgentSpec, reader: SpecReader) {
        let keys = ["preset", "base_url", "api_key_env", "headers", "state", "max_tokens_field"]
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
    }

    private static func readWorkspace(_ root: [String: JSONValue], into spec: inout AgentSpec, reader: SpecReader, folder: URL) {
        guard let workspace = reader.object(root["workspace"], at: "workspace", allowed: ["root", "writable"]) else { return }
        if let path = reader.string(workspace, "root", at: "workspace") {
            let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : folder.appendingPathComponent(path)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
                spec.workspaceRoot = url.standardizedFileURL
            } else {
                reader.problem("workspace.root", "'\(url.standardizedFileURL.path)' is not a folder")
            }
        }
        spec.writable = reader.bool(workspace, "writable", at: "workspace") ?? false
    }

    private static func readTools(
        _ root: [String: JSONValue], into spec: inout AgentSpec, reader: SpecReader, folder: URL, environment: [String: String]
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
                guard let members = reader.object(entry, at: path, allowed: ["manifest"]),
                    let file = reader.string(members, "manifest", at: path)
                else { continue }
                let url = file.hasPrefix("/") ? URL(fileURLWithPath: file) : folder.appendingPathComponent(file)
                do {
                    tool = .command(try CommandManifest.load(url, environment: environment), manifest: url.standardizedFileURL)
                } catch let error as SpecError {
                    for problem in error.problems {
                        reader.problem("\(path).manifest", "\(problem.path.isEmpty ? "" : "\(problem.path): ")\(problem.message) (in \(problem.file))")
                    }
                } catch {
                    reader.problem("\(path).manifest", "\(error)")
                }
            case .object(let object) where object["mcp"] != nil:
                reader.problem("\(path).mcp", "MCP tool sources are not supported by this version of errand yet")
            case .object(let object) where object["hosted"] != nil:
                reader.problem("\(path).hosted", "hosted tools are not supported by this version of errand yet")
            case .object(let object):
                guard let name = reader.string(object, "name", at: path, required: true) else { continue }
                var options = object
                options.removeValue(forKey: "name")
                tool = builtin(name, options: options, at: path, reader: reader, spec: spec)
            default:
                reader.problem(path, "expected a built-in tool's name, {\"name\": …, options}, {\"manifest\": \"tools/….json\"} or {\"mcp\": {…}}, not \(SpecReader.kind(entry))")
            }
            guard let tool else { continue }
            spec.tools.append(tool)
            let name = spec.toolNames.last ?? ""
            if !seen.insert(name).inserted { reader.problem(path, "a second tool named '\(name)'") }
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

    private static func readSettings(_ root: [String: JSONValue], into spec: inout AgentSpec, reader: SpecReader) {
        let keys = ["temperature", "top_p", "max_output_tokens", "reasoning", "text", "store", "metadata", "include"]
        guard let settings = reader.object(root["settings"], at: "settings", allowed: keys) else { return }
        spec.settings.temperature = reader.number(settings, "temperature", at: "settings", range: 0...2)
        spec.settings.topP = reader.number(settings, "top_p", at: "settings", range: 0...1)
        spec.settings.maxOutputTokens = reader.int(settings, "max_output_tokens", at: "settings", minimum: 16)
        spec.settings.store = reader.bool(settings, "store", at: "settings")
        spec.settings.metadata = reader.stringMap(settings, "metadata", at: "settings")
        spec.settings.include = reader.strings(settings, "include", at: "settings")
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

    private static func readLimits(_ root: [String: JSONValue], into spec: inout AgentSpec, reader: SpecReader) {
        let keys = ["max_turns", "max_tool_calls", "timeout_seconds", "tool_timeout_seconds", "max_tool_concurrency"]
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
    }
}
