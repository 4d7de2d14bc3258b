import ArgumentParser
import ErrandCore
import ErrandMCP
import ErrandSpec
import ErrandTools
import Foundation
import ResponsesAPI

/// Pretty JSON with sorted keys.
func pretty(_ value: JSONValue) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? value.jsonString
}

/// `errand validate`: checks specs and the manifests they name, without calling a model.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check agent specs (and the manifests they name) without calling a model.")

    @Argument(help: "The spec files.")
    var specs: [String]

    func run() throws {
        var failed = false
        for path in specs {
            do {
                let spec = try AgentSpec.load(URL(fileURLWithPath: path))
                let tools = spec.toolNames
                var parts = ["\(tools.count) tool\(tools.count == 1 ? "" : "s")\(tools.isEmpty ? "" : ": " + tools.joined(separator: ", "))"]
                if !spec.mcpServers.isEmpty { parts.append("MCP servers: " + spec.mcpServers.map { $0.isRemote ? "\($0.name) (Streamable HTTP)" : $0.name }.joined(separator: ", ")) }
                if !spec.hostedTools.isEmpty { parts.append("hosted: " + spec.hostedTools.map { $0["type"]?.stringValue ?? "?" }.joined(separator: ", ")) }
                let agents = spec.tools.compactMap { if case .agent(let tool) = $0 { "\(tool.name) → \(tool.spec.name)" } else { nil } }
                if !agents.isEmpty { parts.append("agents as tools: " + agents.joined(separator: ", ")) }
                let targets = spec.handoffs.compactMap { spec.linked[$0.path]?.name }
                if !targets.isEmpty { parts.append("handoffs: " + targets.joined(separator: ", ")) }
                let checks = spec.guardrails.input.count + spec.guardrails.output.count
                if checks > 0 { parts.append("guardrails: \(spec.guardrails.input.count) input, \(spec.guardrails.output.count) output") }
                if let schema = spec.outputSchema { parts.append("output schema \(schema.name)\(schema.isStrict ? " (strict)" : "")") }
                writeOut("✓ \(path): \(spec.name) (\(parts.joined(separator: "; ")))\n")
            } catch {
                failed = true
                printError(error.description)
            }
        }
        if failed { throw ExitCode(2) }
    }
}

/// `errand tools`: the tools a spec gives the model.
struct Tools: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the tools a spec gives the model, with their schemas (the built-in tools without a spec).",
        discussion: "A spec's MCP servers are started to ask them for their tools, then stopped.")

    @Argument(help: "The spec file.")
    var spec: String?

    @Flag(help: "Print the exact `tools` array sent to the model.")
    var json = false

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let registry: ToolRegistry
        var hosted: [JSONValue] = []
        if let spec {
            let loaded = try loadSpec(spec)
            do {
                registry = try await loaded.withMCPServers(logger: logging.bootstrap()) { servers in
                    for line in servers.skipped { printError("errand: \(line)") }
                    return try loaded.registry(workspace: try Workspace(root: loaded.workspaceRoot, writable: loaded.writable), mcp: servers)
                }
            } catch {
                printError("errand: \(error)")
                throw ExitCode(error is CoreError ? 2 : 1)
            }
            hosted = loaded.hostedTools
        } else {
            var all = ToolRegistry()
            try FileTools.register(into: &all, workspace: try Workspace(root: URL(fileURLWithPath: "."), writable: true))
            registry = all
        }
        if json {
            writeOut(pretty(try JSONValue(encoding: registry.definitions + hosted.map(ResponseTool.hosted))) + "\n")
            return
        }
        for tool in registry.all {
            writeOut("\(tool.name)\(tool.isStrict ? "" : " (not strict)")\n  \(tool.description.replacingOccurrences(of: "\n", with: "\n  "))\n")
            writeOut("  parameters: " + pretty(tool.parameters).replacingOccurrences(of: "\n", with: "\n  ") + "\n\n")
        }
        for tool in hosted {
            writeOut("\(tool["type"]?.stringValue ?? "hosted") (run by the provider)\n  " + pretty(tool).replacingOccurrences(of: "\n", with: "\n  ") + "\n\n")
        }
    }
}

/// `errand schema`: the spec's JSON Schema.
struct Schema: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the JSON Schema of agent specs.")

    func run() throws {
        writeOut(pretty(AgentSpec.jsonSchema) + "\n")
    }
}
