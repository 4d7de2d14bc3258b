import ErrandCore
import ErrandMCP
import ErrandSpec
import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

/// A model that does not follow strict mode leaves optional fields out. Every kind of tool still gets the call: a
/// built-in tool, a command tool from a manifest, an MCP server's tool and a closure tool registered in Swift.
extension MCPTests {
    @Suite(.timeLimit(.minutes(5))) struct LenientArgumentsRunTests {
        @Test func everyKindOfToolAcceptsCallsWithOptionalFieldsLeftOut() async throws {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-lenient-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try "line one\nline two\n".write(to: folder.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
            try #"""
                {"name": "greet", "description": "Greet someone.",
                 "parameters": {"type": "object", "additionalProperties": false, "required": ["name", "greeting"],
                                "properties": {"name": {"type": "string"}, "greeting": {"type": ["string", "null"]}}},
                 "command": ["echo", "{greeting}", "{name}"], "strict": true}
                """#.write(to: folder.appendingPathComponent("greet.json"), atomically: true, encoding: .utf8)
            let file = folder.appendingPathComponent("agent.json")
            try """
                {"name": "lenient", "tools": ["read_file", {"manifest": "greet.json"}, {"mcp": {"name": "fx", "command": ["\(fixture)", "--tag", "\(fixtureTag)"], "allow_tools": ["add"]}}]}
                """.write(to: file, atomically: true, encoding: .utf8)
            let spec = try AgentSpec.load(file)
            let servers = try await spec.startMCPServers(logger: quietLogger)
            var agent = try spec.agent(mcp: servers)
            try agent.tools.register(
                name: "shout", description: "Upper-case a word.", parameters: JSONSchema.object(["word": .string(), "times": .integer().optional()])
            ) { arguments, _ in
                .text(String(repeating: (arguments["word"]?.stringValue ?? "").uppercased(), count: arguments["times"]?.intValue ?? 1))
            }
            // The schemas sent are strict: the optional fields are required and nullable.
            let readFile = try #require(agent.tools["read_file"]?.parameters)
            #expect(readFile["required"] == ["path", "offset", "limit"] || Set(readFile["required"]?.arrayValue ?? []) == ["path", "offset", "limit"])
            let turns: [ScriptedTurn] = [
                .calls(
                    .functionCall(name: "read_file", arguments: #"{"path": "notes.txt"}"#, callID: "c_read"),
                    .functionCall(name: "greet", arguments: #"{"name": "Ada"}"#, callID: "c_greet"),
                    .item(["type": "function_call", "call_id": "c_add", "name": "fx__add", "arguments": ["a": 40, "b": 2]]),
                    .functionCall(name: "shout", arguments: #"{"word": "hey"}"#, callID: "c_shout")),
                .message("all done"),
            ]
            let result = try await ScriptedResponsesServer.withServer(turns) { server in
                let result = try await ResponsesClient.withClient(provider: server.provider) { client in
                    await Runner(client: client).run(agent, input: "Use every tool.")
                }
                let outputs = Dictionary(uniqueKeysWithValues: (server.createRequests.last?.body?["input"]?.arrayValue ?? []).map {
                    ($0["call_id"]?.stringValue ?? "", $0["output"]?.stringValue ?? "")
                })
                #expect(outputs["c_read"]?.contains("line one") == true, "\(outputs["c_read"] ?? "")")
                #expect(outputs["c_greet"]?.trimmingCharacters(in: .whitespacesAndNewlines) == "Ada", "an absent value drops its argument")
                #expect(outputs["c_add"] == "42", "the absent optional field is not sent to the MCP server")
                #expect(outputs["c_shout"] == "HEY")
                return result
            }
            await servers.stop()
            #expect(result.status == .completed)
            #expect(result.toolCalls.allSatisfy { !$0.isError }, "\(result.toolCalls.map(\.output))")
        }
    }
}
