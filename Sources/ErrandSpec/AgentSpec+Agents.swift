import ErrandCore
import ErrandMCP
import ErrandTools
import Foundation
import ResponsesAPI

/// Loads the specs a spec names (agents used as tools, handoffs, judges) once each, and finds cycles: an agent that
/// would call itself (as a tool or a judge, directly or through others) is refused; agents that hand the conversation
/// to each other are not a cycle but a graph, kept in ``handoffTargets``.
final class SpecLoader {
    let environment: [String: String]
    /// The specs being loaded, outermost first, each marked when it is used as a tool or judge (the others are the spec
    /// loaded first and handoff targets).
    var chain: [(path: String, embedded: Bool)] = []
    /// Specs loaded so far, by path.
    var loaded: [String: AgentSpec] = [:]
    /// The specs a handoff names, by path (the run may hand to any of them).
    var handoffTargets: [String: AgentSpec] = [:]
    /// Handoff targets being loaded (a handoff back to one of them is the graph, not a problem).
    var loadingHandoffs: Set<String> = []

    init(environment: [String: String]) { self.environment = environment }

    /// The spec at `url`, loaded once; problems go to `reader` at `path`. `embedded`: used as a tool or judge, where a
    /// spec already on the chain is a cycle.
    func spec(_ url: URL, at path: String, reader: SpecReader, embedded: Bool) -> AgentSpec? {
        let key = url.standardizedFileURL.path
        // A cycle of tools and judges: from the last spec that is not one (where the calling starts) to here.
        let calling = chain[(chain.lastIndex { !$0.embedded } ?? 0)...].map(\.path)
        if embedded, let start = calling.firstIndex(of: key) {
            let names = (calling[start...] + [key]).map { URL(fileURLWithPath: $0).lastPathComponent }
            reader.problem(path, "a cycle: \(names.joined(separator: " → ")); an agent cannot call itself, even through others")
            return nil
        }
        if let done = loaded[key] { return done }
        if loadingHandoffs.contains(key) || chain.contains(where: { $0.path == key }) {
            // A handoff back to a spec being loaded is the graph; a tool or judge that is such a spec is not supported.
            if embedded {
                reader.problem(
                    path,
                    "\(url.lastPathComponent) hands the conversation on to an agent that would use it as a tool or judge; give the tool a spec of its own")
            }
            return nil
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            let why = FileManager.default.fileExists(atPath: url.path) ? error.localizedDescription : "there is no such file"
            reader.problem(path, "cannot read the spec '\(url.path)': \(why)")
            return nil
        }
        if !embedded { loadingHandoffs.insert(key) }
        defer { if !embedded { loadingHandoffs.remove(key) } }
        do {
            let spec = try AgentSpec.parse(data, file: url, environment: environment, loader: self, embedded: embedded)
            loaded[key] = spec
            return spec
        } catch {
            for problem in error.problems {
                reader.problem(path, "\(problem.path.isEmpty ? "" : "\(problem.path): ")\(problem.message) (in \(problem.file))")
            }
            if error.problems.isEmpty { reader.problem(path, "\(error)") }
            return nil
        }
    }

    /// A problem when two agents of the run name MCP servers alike that are not the same server.
    func conflictingMCPServers(_ spec: AgentSpec) -> SpecProblem? {
        var seen: [String: MCPServerConfiguration] = [:]
        for server in spec.allMCPServers {
            if let other = seen[server.name], other.location != server.location {
                return SpecProblem(
                    file: spec.file.path, path: "tools",
                    message: "two agents of this run name an MCP server '\(server.name)' with different commands or URLs; give them different names")
            }
            seen[server.name] = server
        }
        return nil
    }
}

extension AgentSpec {
    /// The MCP servers of every agent the run may use (its own, its agents used as tools and judges, the agents it may
    /// hand to), each name once: they all start with the run.
    public var allMCPServers: [MCPServerConfiguration] {
        var all: [MCPServerConfiguration] = []
        var names: Set<String> = []
        func visit(_ spec: AgentSpec) {
            for server in spec.mcpServers where names.insert(server.name).inserted { all.append(server) }
            for case .agent(let tool) in spec.tools { visit(tool.spec) }
            for case .agent(let judge, _, _) in spec.guardrails.input + spec.guardrails.output { visit(judge) }
        }
        visit(self)
        for key in linked.keys.sorted() { visit(linked[key]!) }
        return all
    }

    /// `{"agent": "reviewer.json", "name": …, "description": …}`.
    static func agentTool(_ object: [String: JSONValue], at path: String, reader: SpecReader, folder: URL, loader: SpecLoader) -> ToolEntry? {
        guard let members = reader.object(.object(object), at: path, allowed: ["agent", "name", "description"]),
            let file = reader.string(members, "agent", at: path, required: true)
        else { return nil }
        let url = file.hasPrefix("/") ? URL(fileURLWithPath: file) : folder.appendingPathComponent(file)
        let name = reader.string(members, "name", at: path)
        if let name, name.isEmpty || name.count > 64 || !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) {
            reader.problem("\(path).name", "'\(name)' is not a valid tool name: use 1 to 64 letters, digits, '_' or '-'")
        }
        let description = reader.string(members, "description", at: path)
        guard let spec = loader.spec(url, at: "\(path).agent", reader: reader, embedded: true) else { return nil }
        let toolName = name ?? WireName.of(spec.name)
        return .agent(AgentTool(spec: spec, name: toolName, description: description ?? spec.description))
    }

    /// `output_schema`, `input_schema`, `handoffs` and `guardrails`.
    static func readAgents(
        _ root: [String: JSONValue], into spec: inout AgentSpec, reader: SpecReader, folder: URL, environment: [String: String], loader: SpecLoader
    ) {
        if let schema = readSchema(root["output_schema"], at: "output_schema", reader: reader, folder: folder) {
            let name = WireName.of(spec.name)
            spec.outputSchema = OutputSchema(name: name.isEmpty ? "output" : name, schema: schema)
        }
        spec.inputSchema = readSchema(root["input_schema"], at: "input_schema", reader: reader, folder: folder)
        if let files = reader.strings(root, "handoffs", at: "") {
            var names: Set<String> = []
            for (index, file) in files.enumerated() {
                let url = (file.hasPrefix("/") ? URL(fileURLWithPath: file) : folder.appendingPathComponent(file)).standardizedFileURL
                let path = "handoffs[\(index)]"
                if url.path == spec.file.standardizedFileURL.path {
                    reader.problem(path, "an agent cannot hand the conversation to itself")
                    continue
                }
                spec.handoffs.append(url)
                guard let target = loader.spec(url, at: path, reader: reader, embedded: false) else { continue }
                loader.handoffTargets[url.path] = target
                if !names.insert(target.name).inserted { reader.problem(path, "a second handoff to an agent named '\(target.name)'") }
                if spec.toolNames.contains(Handoff.toolName(for: target.name)) {
                    reader.problem(path, "the handoff's tool transfer_to_\(target.name) has the name of one of the spec's tools")
                }
            }
        }
        if let guardrails = reader.object(root["guardrails"], at: "guardrails", allowed: ["input", "output"]) {
            for kind in ["input", "output"] {
                guard let value = guardrails[kind] else { continue }
                guard case .array(let entries) = value else {
                    reader.problem("guardrails.\(kind)", "expected a list of checks: {\"manifest\": \"deny.json\"} or {\"agent\": \"judge.json\"}")
                    continue
                }
                var names: Set<String> = []
                for (index, entry) in entries.enumerated() {
                    let path = "guardrails.\(kind)[\(index)]"
                    guard let check = guardrail(entry, at: path, reader: reader, folder: folder, environment: environment, loader: loader) else { continue }
                    let name: String
                    switch check {
                    case .command(_, _, let n, _): name = n
                    case .agent(_, let n, _): name = n
                    }
                    if !names.insert(name).inserted { reader.problem(path, "a second \(kind) guardrail named '\(name)'; give one a \"name\"") }
                    if kind == "input" { spec.guardrails.input.append(check) } else { spec.guardrails.output.append(check) }
                }
            }
        }
    }

    private static func guardrail(
        _ entry: JSONValue, at path: String, reader: SpecReader, folder: URL, environment: [String: String], loader: SpecLoader
    ) -> GuardrailEntry? {
        guard let members = reader.object(entry, at: path, allowed: ["manifest", "agent", "name", "timeout_seconds"]) else { return nil }
        let name = reader.string(members, "name", at: path)
        let seconds = reader.number(members, "timeout_seconds", at: path, range: 0.1...3600)
        func locate(_ file: String) -> URL { file.hasPrefix("/") ? URL(fileURLWithPath: file) : folder.appendingPathComponent(file) }
        switch (reader.string(members, "manifest", at: path), reader.string(members, "agent", at: path)) {
        case (let manifest?, nil):
            let url = locate(manifest)
            do {
                let command = try CommandManifest.load(url, environment: environment)
                let timeout = seconds.map { Duration.milliseconds(Int64($0 * 1000)) } ?? command.timeout
                return .command(command, manifest: url.standardizedFileURL, name: name ?? command.name, timeout: timeout)
            } catch let error as SpecError {
                for problem in error.problems {
                    reader.problem("\(path).manifest", "\(problem.path.isEmpty ? "" : "\(problem.path): ")\(problem.message) (in \(problem.file))")
                }
            } catch {
                reader.problem("\(path).manifest", "\(error)")
            }
            return nil
        case (nil, let file?):
            guard let judge = loader.spec(locate(file), at: "\(path).agent", reader: reader, embedded: true) else { return nil }
            if let schema = judge.outputSchema?.schema {
                if schema["properties"]?["pass"]?["type"] != "boolean" || schema["properties"]?["reason"]?["type"] != "string" {
                    reader.problem(
                        "\(path).agent",
                        "a judge's output_schema must be {\"pass\": boolean, \"reason\": string} (in \(judge.file.path)); leave it out and Errand sets it")
                }
            }
            return .agent(judge, name: name ?? judge.name, timeout: seconds.map { .milliseconds(Int64($0 * 1000)) })
        default:
            reader.problem(path, "expected one of {\"manifest\": \"deny.json\"} (a command) or {\"agent\": \"judge.json\"} (a judge agent)")
            return nil
        }
    }

    /// The output schema in a JSON Schema file (`--output-schema FILE`), checked as a spec's `output_schema` is; named
    /// after the file (`word.schema.json` is `word`).
    public static func outputSchema(file url: URL) throws(SpecError) -> OutputSchema {
        let reader = SpecReader(file: url.path)
        let schema = readSchema(["file": .string(url.path)], at: "", reader: reader, folder: url.deletingLastPathComponent())
        guard let schema, reader.problems.isEmpty else { throw SpecError(problems: reader.problems) }
        var stem = url.deletingPathExtension().lastPathComponent
        if stem.hasSuffix(".schema") { stem.removeLast(".schema".count) }
        let name = WireName.of(stem)
        return OutputSchema(name: name.isEmpty ? "output" : name, schema: schema)
    }

    /// A JSON Schema given inline or as `{"file": "schema.json"}`, checked.
    static func readSchema(_ value: JSONValue?, at path: String, reader: SpecReader, folder: URL) -> JSONValue? {
        guard let value, !value.isNull else { return nil }
        var schema = value
        var shownPath = path
        if case .object(let members) = value, members.count == 1, let file = members["file"]?.stringValue {
            let url = file.hasPrefix("/") ? URL(fileURLWithPath: file) : folder.appendingPathComponent(file)
            guard let data = try? Data(contentsOf: url) else {
                reader.problem("\(path).file", "cannot read '\(url.path)'")
                return nil
            }
            guard let parsed = try? JSONDecoder().decode(JSONValue.self, from: data) else {
                reader.problem("\(path).file", "'\(url.path)' is not valid JSON")
                return nil
            }
            schema = parsed
            shownPath = "\(path) (\(url.lastPathComponent))"
        }
        guard schema.objectValue != nil else {
            reader.problem(path, "expected a JSON Schema object, or {\"file\": \"schema.json\"}, not \(SpecReader.kind(schema))")
            return nil
        }
        let problems = SchemaValidator.schemaProblems(schema)
        for problem in problems { reader.problem(shownPath, problem) }
        if problems.isEmpty, schema["type"] != "object" {
            reader.problem(shownPath, "the schema must describe an object (\"type\": \"object\"): structured outputs and tool parameters take no other")
            return nil
        }
        return problems.isEmpty ? schema : nil
    }
}
