import ErrandCore
import ErrandSpec
import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

/// The README's example: a Swift program registers its own tool next to a spec's built-ins and runs the agent.
@Suite(.timeLimit(.minutes(3))) struct CustomToolTests {
    // The README example, as it is there.
    struct Dice: Tool {
        struct Arguments: Decodable { var sides: Int }
        let name = "roll_dice"
        let description = "Roll a die with the given number of sides."
        let parameters = JSONSchema.object(["sides": .integer("How many sides, at least 2")])
        func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput {
            guard arguments.sides >= 2 else { throw ToolError("a die needs at least 2 sides") }
            return .json(["rolled": .number(Double(Int.random(in: 1...arguments.sides)))])
        }
    }

    @Test func aCustomToolRunsBesideTheSpecsTools() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-custom-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let specFile = folder.appendingPathComponent("gamer.json")
        try #"{"name": "gamer", "model": "m", "instructions": "Play fair.", "tools": ["read_file"]}"#.write(to: specFile, atomically: true, encoding: .utf8)

        let turns: [ScriptedTurn] = [.calls(.call("roll_dice", ["sides": 6], id: "c1"), .call("roll_dice", ["sides": 1], id: "c2")), .message("Rolled.")]
        try await ScriptedResponsesServer.withServer(turns) { server in
            // --- as in the README ---
            let spec = try AgentSpec.load(specFile)
            var agent = try spec.agent()
            try agent.tools.register(Dice())
            let result = try await ResponsesClient.withClient(provider: server.provider) { client in
                await Runner(client: client).run(agent, input: "Roll a die.")
            }
            // ---
            #expect(result.status == .completed)
            #expect(server.createRequests[0].body?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["read_file", "roll_dice"])
            let rolled = try JSONValue(parsing: result.toolCalls[0].output)["rolled"]?.intValue ?? 0
            #expect((1...6).contains(rolled))
            #expect(result.toolCalls[1].output == "error: a die needs at least 2 sides")
        }
    }
}
