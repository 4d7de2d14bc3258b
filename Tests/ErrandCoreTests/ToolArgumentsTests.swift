import ErrandCore
import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

/// Liberal in what is accepted: the argument shapes models and servers that do not enforce strict mode send.
@Suite(.timeLimit(.minutes(3))) struct ToolArgumentsTests {
    /// read_file's strict schema: `path` required; `offset` and `limit` optional, so required-and-nullable.
    static let readFile = JSONSchema.object([
        "path": .string("A path"), "offset": .integer().optional(), "limit": .integer().optional(),
    ]).jsonValue(strict: true)
    /// A tool without required parameters.
    static let none = JSONSchema.object([:]).jsonValue(strict: true)
    /// Nested: a filter object whose `kind` is optional, and a list of items whose `note` is optional.
    static let nested = JSONSchema.object([
        "filter": .object(["name": .string(), "kind": .string(enum: ["a", "b"]).optional()]),
        "items": .array(of: .object(["id": .integer(), "note": .string().optional()])),
    ]).jsonValue(strict: true)
    /// A loose (non-strict) schema: optional properties are simply not required.
    static let loose = JSONSchema.object(["path": .string(), "limit": .integer().optional()]).jsonValue(strict: false)

    struct Shape: Sendable, CustomStringConvertible {
        var name: String
        var schema: JSONValue
        var arguments: String
        /// The arguments the tool receives, or `nil` when they are refused.
        var read: JSONValue?
        /// What the refusal (or the schema check after reading) says.
        var problem: String?
        var description: String { name }
    }

    static let shapes: [Shape] = [
        Shape(name: "optional fields left out", schema: readFile, arguments: #"{"path": "notes.txt"}"#,
              read: ["path": "notes.txt", "offset": nil, "limit": nil]),
        Shape(name: "one optional field given", schema: readFile, arguments: #"{"path": "notes.txt", "offset": 3}"#,
              read: ["path": "notes.txt", "offset": 3, "limit": nil]),
        Shape(name: "every field, nulls as strict mode sends them", schema: readFile,
              arguments: #"{"path": "notes.txt", "offset": null, "limit": null}"#, read: ["path": "notes.txt", "offset": nil, "limit": nil]),
        Shape(name: "a required field left out is still an error", schema: readFile, arguments: #"{"offset": 3}"#,
              read: ["offset": 3, "limit": nil], problem: "missing required field 'path'"),
        Shape(name: "empty arguments for a tool with no required parameters", schema: none, arguments: "", read: [:]),
        Shape(name: "blank arguments", schema: none, arguments: "  \n", read: [:]),
        Shape(name: "null arguments", schema: none, arguments: "null", read: [:]),
        Shape(name: "empty arguments for a tool that needs a field", schema: readFile, arguments: "",
              read: ["offset": nil, "limit": nil], problem: "missing required field 'path'"),
        Shape(name: "an object encoded twice", schema: readFile, arguments: #""{\"path\": \"notes.txt\"}""#,
              read: ["path": "notes.txt", "offset": nil, "limit": nil]),
        Shape(name: "nested optional fields left out", schema: nested, arguments: #"{"filter": {"name": "x"}, "items": [{"id": 1}, {"id": 2, "note": "n"}]}"#,
              read: ["filter": ["name": "x", "kind": nil], "items": [["id": 1, "note": nil], ["id": 2, "note": "n"]]]),
        Shape(name: "a loose schema leaves optional fields out", schema: loose, arguments: #"{"path": "p"}"#, read: ["path": "p"]),
        Shape(name: "not JSON", schema: readFile, arguments: "{path: notes.txt", read: nil, problem: "are not valid JSON"),
        Shape(name: "not an object", schema: readFile, arguments: "[1, 2]", read: nil, problem: "must be a JSON object"),
        Shape(name: "a string that is not an object", schema: readFile, arguments: #""notes.txt""#, read: nil, problem: "must be a JSON object"),
    ]

    @Test(arguments: shapes)
    func argumentShapes(_ shape: Shape) {
        switch ToolArguments.parse(shape.arguments, schema: shape.schema) {
        case .success(let value):
            #expect(value == shape.read, "\(value.jsonString)")
            let problems = SchemaValidator.problems(value, schema: shape.schema)
            if let problem = shape.problem {
                #expect(problems.contains { $0.contains(problem) }, "\(problems)")
            } else {
                #expect(problems.isEmpty, "\(problems)")
            }
        case .failure(let refusal):
            #expect(shape.read == nil, "refused: \(refusal.message(tool: "t"))")
            #expect(refusal.message(tool: "t").contains(shape.problem ?? "?"))
        }
    }

    @Test func whatAcceptsNull() {
        #expect(SchemaValidator.acceptsNull(["type": ["integer", "null"]]))
        #expect(SchemaValidator.acceptsNull(["enum": ["a", nil]]))
        #expect(SchemaValidator.acceptsNull(["anyOf": [["type": "string"], ["type": "null"]]]))
        #expect(SchemaValidator.acceptsNull(["const": nil]))
        #expect(!SchemaValidator.acceptsNull(["type": "integer"]))
        #expect(!SchemaValidator.acceptsNull(["type": "string", "enum": ["a", nil]]), "the type decides")
        #expect(!SchemaValidator.acceptsNull([:]), "an unconstrained schema is not read as optional")
    }

    /// A typed tool with optional arguments and a closure tool, in a run, called with the optional fields left out.
    struct Search: Tool {
        struct Arguments: Decodable { var query: String; var limit: Int? }
        let name = "search"
        let description = "Search."
        let parameters = JSONSchema.object(["query": .string(), "limit": .integer().optional()])
        func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput {
            .text("\(arguments.query) limit \(arguments.limit.map(String.init) ?? "none")")
        }
    }

    @Test func typedAndClosureToolsRunWithOptionalFieldsLeftOut() async throws {
        var tools = try registry([Search()])
        try tools.register(
            name: "tag", description: "Tag a thing.", parameters: JSONSchema.object(["thing": .string(), "color": .string().optional()])
        ) { arguments, _ in
            .text("tagged \(arguments["thing"]?.stringValue ?? "?") color \(arguments["color"].map { $0.jsonString } ?? "absent")")
        }
        let turns: [ScriptedTurn] = [
            .calls(
                .functionCall(name: "search", arguments: #"{"query": "moon"}"#, callID: "c1"),
                .item(["type": "function_call", "call_id": "c2", "name": "tag", "arguments": ["thing": "crater"]]),
                .functionCall(name: "search", arguments: #""{\"query\": \"sun\", \"limit\": 2}""#, callID: "c3")),
            .message("done"),
        ]
        try await withRunner(turns) { runner, server in
            let result = await runner.run(Agent(model: "m", tools: tools), input: "go")
            #expect(result.status == .completed)
            #expect(result.toolCalls.map(\.isError) == [false, false, false], "\(result.toolCalls.map(\.output))")
            let outputs = try #require(server.createRequests.last?.functionOutputs)
            #expect(outputs.map(\.1) == ["moon limit none", "tagged crater color null", "sun limit 2"])
        }
    }
}
