import ErrandCore
import ErrandMCP
import ErrandSpec
import ErrandTesting
import Foundation
import ResponsesAPI
import Synchronization
import Testing

/// MCP servers and hosted tools in the same loop as local tools, from a spec, against the scripted model server over
/// loopback HTTP.
extension MCPTests {
    @Suite(.timeLimit(.minutes(5))) struct MCPRunTests {
        func writeSpec(_ json: String) throws -> URL {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-mcp-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try "north wing, shelf 4\n".write(to: folder.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
            let file = folder.appendingPathComponent("agent.json")
            try json.write(to: file, atomically: true, encoding: .utf8)
            return file
        }

        @Test func theModelCallsAnMCPToolAndALocalToolInTheSameTurn() async throws {
            let file = try writeSpec("""
                {"name": "mixed", "tools": ["read_file", {"mcp": {"name": "fx", "command": ["\(fixture)", "--tag", "\(fixtureTag)"], "allow_tools": ["add", "echo", "crash"]}}]}
                """)
            let spec = try AgentSpec.load(file)
            #expect(spec.mcpServers.map(\.name) == ["fx"])
            let servers = try await spec.startMCPServers(logger: quietLogger)
            let pid = try #require(servers.processIDs.first)
            let agent = try spec.agent(mcp: servers)
            // The spec's order, and the server's own order within its tools.
            #expect(agent.tools.names == ["read_file", "fx__echo", "fx__add", "fx__crash"])
            let turns: [ScriptedTurn] = [
                .calls(.call("fx__add", ["a": 40, "b": 2, "note": .null], id: "c_mcp"), .call("read_file", ["path": "notes.txt", "offset": .null, "limit": .null], id: "c_local")),
                .calls(.call("fx__crash", [:], id: "c_crash")),
                .message("The answer is 42, on shelf 4."),
            ]
            let result = try await ScriptedResponsesServer.withServer(turns) { server in
                let result = try await ResponsesClient.withClient(provider: server.provider) { client in
                    await Runner(client: client).run(agent, input: "Add 40 and 2, and read the notes.")
                }
                let requests = server.createRequests
                try #require(requests.count == 3)
                let tools = requests[0].body?["tools"]?.arrayValue ?? []
                #expect(tools.compactMap { $0["name"]?.stringValue } == ["read_file", "fx__echo", "fx__add", "fx__crash"])
                #expect(tools[2]["strict"] == true)
                let outputs = (requests[1].body?["input"]?.arrayValue ?? []).map { ($0["call_id"]?.stringValue ?? "", $0["output"]?.stringValue ?? "") }
                #expect(outputs.map(\.0) == ["c_mcp", "c_local"], "outputs in call order")
                #expect(outputs.first?.1 == "42")
                #expect(outputs.last?.1.contains("north wing, shelf 4") == true, "\(outputs.last?.1 ?? "")")
                // The crash is an output the model reads, not the end of the run.
                let crash = requests[2].body?["input"]?[0]?["output"]?.stringValue ?? ""
                #expect(crash.contains("the MCP server 'fx' stopped during the crash call (exit status 7)"))
                return result
            }
            #expect(result.status == .completed)
            #expect(result.finalText == "The answer is 42, on shelf 4.")
            #expect(result.toolCalls.map(\.name) == ["fx__add", "read_file", "fx__crash"])
            #expect(result.toolCalls.map(\.isError) == [false, false, true])
            await servers.stop()
            #expect(!isRunning(pid))
            #expect(leftoverFixtures.isEmpty)
        }

        @Test func hostedToolsAreSentAsGivenAndTheirItemsAreShownNotRun() async throws {
            let file = try writeSpec("""
                {"name": "hosted", "tools": ["read_file",
                  {"hosted": {"type": "web_search", "search_context_size": "low"}},
                  {"hosted": {"type": "mcp", "server_label": "wiki", "server_url": "https://wiki.example/mcp"}, "approve": "always"},
                  {"hosted": {"type": "mcp", "server_label": "shop", "server_url": "https://shop.example/mcp"}, "approve": "never"}]}
                """)
            let spec = try AgentSpec.load(file)
            let agent = try spec.agent()
            let search: JSONValue = ["type": "web_search_call", "id": "ws_1", "status": "completed", "action": ["type": "search", "query": "errand swift"]]
            let listed: JSONValue = ["type": "mcp_list_tools", "id": "ml_1", "server_label": "wiki", "tools": [["name": "ask", "input_schema": ["type": "object"]]]]
            let askWiki: JSONValue = ["type": "mcp_approval_request", "id": "apr_1", "server_label": "wiki", "name": "ask", "arguments": "{}"]
            let askShop: JSONValue = ["type": "mcp_approval_request", "id": "apr_2", "server_label": "shop", "name": "buy", "arguments": "{\"item\":\"all\"}"]
            let called: JSONValue = ["type": "mcp_call", "id": "mc_1", "server_label": "wiki", "name": "ask", "arguments": "{}", "output": "Errand is a runtime.", "status": "completed"]
            let turns: [ScriptedTurn] = [
                ScriptedTurn(output: [.item(search), .item(listed), .item(askWiki), .item(askShop)]),
                ScriptedTurn(output: [.item(called), .message("Errand is a runtime.")]),
            ]
            let events = EventLog()
            let journal = file.deletingLastPathComponent().appendingPathComponent("run.jsonl")
            let result = try await ScriptedResponsesServer.withServer(turns) { server in
                let result = try await ResponsesClient.withClient(provider: server.provider) { client in
                    await Runner(client: client).run(agent, input: "What is errand?", journal: journal, onEvent: events.record)
                }
                let requests = server.createRequests
                try #require(requests.count == 2)
                let tools = requests[0].body?["tools"]?.arrayValue ?? []
                #expect(tools.count == 4)
                #expect(tools[1] == ["type": "web_search", "search_context_size": "low"], "a hosted tool is sent as given")
                #expect(tools[2]["server_url"] == "https://wiki.example/mcp")
                // The approvals answer by the spec, and nothing was run locally.
                let input = requests[1].body?["input"]?.arrayValue ?? []
                #expect(input == [
                    ["type": "mcp_approval_response", "approval_request_id": "apr_1", "approve": true],
                    ["type": "mcp_approval_response", "approval_request_id": "apr_2", "approve": false],
                ])
                return result
            }
            #expect(result.status == .completed)
            #expect(result.toolCalls.isEmpty, "hosted calls are never mistaken for local function calls")
            #expect(result.finalText == "Errand is a runtime.")
            let shown = events.events.compactMap { event -> String? in
                switch event {
                case .hostedToolCall(_, let call): call.summary
                case .hostedApproval(_, let request, let approved): "\(request.summary) \(approved)"
                default: nil
                }
            }
            #expect(shown == [
                "web_search_call \"errand swift\" completed", "mcp_list_tools wiki 1 tools", "mcp_approval_request wiki.ask true",
                "mcp_approval_request shop.buy false", "mcp_call wiki.ask completed",
            ])
            let lines = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").compactMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
            #expect(lines.filter { $0["type"] == "hosted_tool_call" }.count == 3)
            #expect(lines.filter { $0["type"] == "approval" }.compactMap { $0["approved"]?.boolValue } == [true, false])
        }

        @Test func aServerThatFailsToStartEndsTheRunBeforeAnyModelCall() async throws {
            let file = try writeSpec("""
                {"name": "broken", "tools": [{"mcp": {"name": "repo", "command": ["\(fixture)", "--fail", "--tag", "\(fixtureTag)"]}}]}
                """)
            let spec = try AgentSpec.load(file)
            await #expect { try await spec.startMCPServers(logger: quietLogger) } throws: { error in
                "\(error)".contains("MCP server 'repo' did not start") && "\(error)".contains("refusing to start")
            }
            #expect(leftoverFixtures.isEmpty)
        }
    }
}

/// Collects run events.
final class EventLog: Sendable {
    private let storage = Mutex<[RunEvent]>([])
    var events: [RunEvent] { storage.withLock { $0 } }
    func record(_ event: RunEvent) { storage.withLock { $0.append(event) } }
}
