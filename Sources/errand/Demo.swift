import ArgumentParser
import ErrandCore
import ErrandSpec
import ErrandTesting
import Foundation
import Logging
import ResponsesAPI
import Synchronization

/// `errand demo`: an agent spec run end to end on this machine, with no network and no key.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an example agent end to end with no network and no key (a scripted server stands in for the model).",
        discussion: "Everything but the model is real: the spec, the file tools reading this folder, the loop, the journal."
    )

    @Option(help: "The folder the agent explores (default: the current one).")
    var workspace: String = "."

    @Option(help: "Where the journal is written (default: ERRAND_JOURNAL_DIR, or .errand/runs).")
    var journalDir: String?

    @OptionGroup var logging: LoggingOptions

    static let spec = """
        {
          "name": "codebase-explainer-demo",
          "description": "Explains the code base in its workspace.",
          "model": "scripted-model",
          "instructions": "You explain code bases. Look before you answer: list the files, read the README, search the sources.",
          "tools": ["list_directory", "read_file", "search_files"],
          "parallel_tool_calls": true,
          "limits": {"max_turns": 6, "tool_timeout_seconds": 20}
        }
        """

    func run() async throws {
        let logger = logging.bootstrap(quietLevel: .error)
        let environment = ProcessInfo.processInfo.environment
        let root = URL(fileURLWithPath: workspace).standardizedFileURL
        let spec = try AgentSpec.parse(Data(Self.spec.utf8), file: root.appendingPathComponent("demo-spec.json"), environment: environment)
        let agent = try spec.agent(overrides: SpecOverrides(workspace: root), environment: environment)
        printError("errand demo: the model is the scripted server from ErrandTesting on 127.0.0.1 (no network, no key);")
        let shown = root.path == FileManager.default.currentDirectoryPath ? "this folder" : root.path
        printError("errand demo: the spec, the tools reading \(shown), the loop and the journal are real.\n")
        let store = FileRunStore.standard(folder: journalDir, environment: environment)
        let display = RunDisplay(mode: .normal, interactive: false)
        let result = try await ScriptedResponsesServer.withServer(Self.script()) { server in
            try await ResponsesClient.withClient(provider: server.provider, logger: logger) { client in
                let runID = Runner.makeRunID()
                return await Runner(client: client, logger: logger).run(
                    agent, input: "What is this code base, and how is it organised?", journal: store.journal(for: runID),
                    runID: runID, onEvent: display.show)
            }
        }
        display.finish(result)
        if result.status != .completed { throw ExitCode(1) }
    }

    /// What the scripted model does: look around, then answer from what the tools returned.
    static func script() -> [ScriptedTurn] {
        let seen = ToolOutputs()
        let remember: @Sendable (RecordedRequest) -> Void = { request in
            for item in request.body?["input"]?.arrayValue ?? [] where item["type"] == "function_call_output" {
                if let id = item["call_id"]?.stringValue, let output = item["output"]?.stringValue { seen.outputs.withLock { $0[id] = output } }
            }
        }
        return [
            .calls(
                .call("list_directory", ["path": ".", "recursive": false, "max_entries": 40], id: "call_ls"),
                .call("read_file", ["path": "README.md", "offset": nil, "limit": 12], id: "call_readme")),
            .respond { request in
                remember(request)
                return .calls(.call("search_files", ["pattern": "^public (struct|final class|enum|protocol) \\w+", "path": "Sources", "glob": "*.swift"], id: "call_types"))
            },
            .respond { request in
                remember(request)
                return .message(answer(seen.outputs.withLock { $0 }))
            },
        ]
    }

    static func answer(_ outputs: [String: String]) -> String {
        let listing = outputs["call_ls"] ?? ""
        let entries = listing.split(separator: "\n").filter { !$0.hasPrefix("[") && !$0.hasPrefix("error") }
        let readme = (outputs["call_readme"] ?? "").split(separator: "\n").map { line in
            let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            return parts.count == 2 ? String(parts[1]) : ""
        }
        let title = readme.first { $0.hasPrefix("# ") }.map { String($0.dropFirst(2)) }
        let pitch = readme.first { !$0.isEmpty && !$0.hasPrefix("#") && !$0.hasPrefix("[") }
        let types = (outputs["call_types"] ?? "").split(separator: "\n").compactMap { line -> String? in
            guard let code = line.split(separator: ":", maxSplits: 2).last else { return nil }
            // `public struct Name`, `public final class Name`: the name is the word after the keyword.
            let words = code.split(separator: " ")
            guard let keyword = words.firstIndex(where: { ["struct", "class", "enum", "protocol"].contains($0) }), keyword + 1 < words.count else { return nil }
            return String(words[keyword + 1].prefix { $0.isLetter || $0.isNumber })
        }
        var text = "From what I read here:\n\n"
        if let title {
            text += "- **\(title)**: \(pitch ?? "the README has no summary line")\n"
        } else {
            text += "- There is no README.md here, so I went by the files alone.\n"
        }
        let folders = entries.filter { $0.hasSuffix("/") }.map(String.init)
        text += "- The top level holds \(entries.count) entries\(folders.isEmpty ? "" : ", among them the folders \(folders.prefix(6).joined(separator: ", "))").\n"
        if types.isEmpty {
            text += "- I found no public Swift types under Sources/.\n"
        } else {
            let unique = Array(NSOrderedSet(array: types)) as? [String] ?? types
            text += "- Sources/ declares \(types.count) public types, such as \(unique.prefix(8).joined(separator: ", ")).\n"
        }
        text += "\nEvery step of this run is in its journal; `errand run --resume <run id>` would go on from any of them."
        return text
    }
}

/// The tool outputs the scripted model has seen, by call id.
final class ToolOutputs: Sendable {
    let outputs = Mutex<[String: String]>([:])
}
