import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A remote MCP server (the reference Python SDK's, over Streamable HTTP on loopback) from the command line: `errand
/// tools` lists its tools, a run's journal never holds the token its headers carry, and Ctrl-C ends the session.
@Suite(
    .serialized, .enabled(if: RemoteMCPFixture.unavailableReason == nil, Comment(rawValue: RemoteMCPFixture.unavailableReason ?? "")),
    .timeLimit(.minutes(5)))
struct RemoteMCPCLITests {
    let folder: URL
    let journals: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-remote-cli-\(UUID().uuidString)")
        journals = folder.appendingPathComponent("journals")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    func spec(for server: RemoteMCPFixture, allow: [String]) throws -> URL {
        let file = folder.appendingPathComponent("remote.json")
        let allowed = allow.map { "\"\($0)\"" }.joined(separator: ", ")
        try """
            {"name": "remote-user", "model": "test-model", "tools": [{"mcp": {"name": "docs", "url": "\(server.url.absoluteString)",
              "headers": {"Authorization": "Bearer ${DOCS_TOKEN}"}, "allow_tools": [\(allowed)]}}]}
            """.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    func journalText() -> String {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: journals.path)) ?? []
        return files.compactMap { try? String(contentsOf: journals.appendingPathComponent($0), encoding: .utf8) }.joined()
    }

    @Test(arguments: ["sse", "json", "stateless"])
    func toolsListsARemoteServersTools(_ mode: String) async throws {
        let server = try await RemoteMCPFixture.shared(mode: mode)
        let result = try await runErrand(["tools", try spec(for: server, allow: ["add", "echo"]).path], environment: ["DOCS_TOKEN": "t"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("docs__add\n  Add two whole numbers."), "\(result.stdout)")
        #expect(result.stdout.contains("docs__echo\n  Say the text back."))
        #expect(!result.stdout.contains("docs__slow"), "allow_tools holds")
        let validated = try await runErrand(["validate", try spec(for: server, allow: ["add"]).path])
        #expect(validated.stdout.contains("MCP servers: docs (Streamable HTTP)"), "\(validated.stdout)\(validated.stderr)")
    }

    @Test func theTokenNeverReachesTheJournalAndCtrlCEndsTheSession() async throws {
        try await RemoteMCPFixture.with(mode: "sse", token: "tok-remote-5150") { server in
            let spec = try spec(for: server, allow: ["echo", "slow"]).path
            let environment = ["OPENAI_API_KEY": "sk-test", "DOCS_TOKEN": "tok-remote-5150"]
            // The model repeats the token to a tool: the journal holds [redacted] in its place.
            let turns: [ScriptedTurn] = [.calls(.call("docs__echo", ["text": "my token is tok-remote-5150"], id: "c1")), .message("Done.")]
            try await ScriptedResponsesServer.withServer(turns) { model in
                let result = try await runErrand(["run", spec, "Echo.", "--journal-dir", journals.path, "--base-url", model.baseURL], environment: environment)
                #expect(result.status == 0, "\(result.stderr)")
                #expect(outputs(model.createRequests.last)["c1"] == "echo: my token is tok-remote-5150", "the model itself gets the output")
            }
            let journal = journalText()
            #expect(journal.contains("docs__echo") && journal.contains("[redacted]"))
            #expect(!journal.contains("tok-remote-5150"))

            // Ctrl-C during a remote call: errand cancels the call, ends the session with DELETE, and exits 130.
            let mark = server.requests.count
            try await ScriptedResponsesServer.withServer([.calls(.call("docs__slow", ["seconds": 60], id: "c2")), .message("never")]) { model in
                let running = try Launched(["run", spec, "Wait.", "--journal-dir", journals.path, "--base-url", model.baseURL], environment: environment)
                let call = await server.waitForRequest(after: mark, timeout: .seconds(60)) { $0.hasSuffix("tools/call slow") }
                let session = try #require(call?.split(separator: " ").dropFirst().first.map(String.init))
                kill(running.process.processIdentifier, SIGINT)
                let result = await running.wait()
                #expect(result.status == 130, "\(result.stderr)")
                #expect(await server.waitForRequest(after: mark, timeout: .seconds(5)) { $0.hasPrefix("DELETE \(session)") } != nil, "\(server.requests.dropFirst(mark))")
            }
        }
    }

    func outputs(_ request: RecordedRequest?) -> [String: String] {
        var outputs: [String: String] = [:]
        for item in request?.body?["input"]?.arrayValue ?? [] {
            if let id = item["call_id"]?.stringValue { outputs[id] = item["output"]?.stringValue ?? "" }
        }
        return outputs
    }
}
