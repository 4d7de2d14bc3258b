import ArgumentParser
import ErrandCore
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
                writeOut("✓ \(path): \(spec.name) (\(tools.count) tool\(tools.count == 1 ? "" : "s")\(tools.isEmpty ? "" : ": " + tools.joined(separator: ", ")))\n")
            } catch let error as SpecError {
                failed = true
                printError(error.description)
            }
        }
        if failed { throw ExitCode(2) }
    }
}

/// `errand tools`: the tools a spec gives the model.
struct Tools: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the tools a spec gives the model, with their schemas (the built-in tools without a spec).")

    @Argument(help: "The spec file.")
    var spec: String?

    @Flag(help: "Print the exact `tools` array sent to the model.")
    var json = false

    func run() throws {
        let registry: ToolRegistry
        if let spec {
            let loaded = try loadSpec(spec)
            registry = try loaded.registry(workspace: try Workspace(root: loaded.workspaceRoot, writable: loaded.writable))
        } else {
            var all = ToolRegistry()
            try FileTools.register(into: &all, workspace: try Workspace(root: URL(fileURLWithPath: "."), writable: true))
            registry = all
        }
        if json {
            writeOut(pretty(try JSONValue(encoding: registry.definitions)) + "\n")
            return
        }
        for tool in registry.all {
            writeOut("\(tool.name)\(tool.isStrict ? "" : " (not strict)")\n  \(tool.description.replacingOccurrences(of: "\n", with: "\n  "))\n")
            writeOut("  parameters: " + pretty(tool.parameters).replacingOccurrences(of: "\n", with: "\n  ") + "\n\n")
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
