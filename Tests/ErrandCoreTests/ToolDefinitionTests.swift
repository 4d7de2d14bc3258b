import ErrandCore
import ResponsesAPI
import Testing

@Suite struct ToolDefinitionTests {
    let schema = JSONSchema.object([
        "path": .string("A path"),
        "mode": .string("How", enum: ["fast", "slow"]).optional(),
        "limit": .integer().optional(),
        "tags": .array(of: .object(["name": .string(), "weight": .number().optional()])).optional(),
    ])

    @Test func strictSchemasFollowOpenAIsRules() {
        let strict = schema.jsonValue(strict: true)
        #expect(strict["required"] == ["path", "mode", "limit", "tags"])
        #expect(strict["additionalProperties"] == false)
        #expect(strict["properties"]?["limit"]?["type"] == ["integer", "null"])
        #expect(strict["properties"]?["mode"]?["enum"] == ["fast", "slow", nil])
        #expect(strict["properties"]?["tags"]?["items"]?["additionalProperties"] == false)
        #expect(strict["properties"]?["tags"]?["items"]?["required"] == ["name", "weight"])
        #expect(strict["properties"]?["tags"]?["items"]?["properties"]?["weight"]?["type"] == ["number", "null"])
    }

    @Test func looseSchemasRequireOnlyWhatIsRequired() {
        let loose = schema.jsonValue(strict: false)
        #expect(loose["required"] == ["path"])
        #expect(loose["additionalProperties"] == nil)
        #expect(loose["properties"]?["limit"]?["type"] == "integer")
    }

    static let validations: [(JSONValue, [String])] = [
        (["path": "a", "mode": nil, "limit": nil, "tags": nil], []),
        (["path": "a", "mode": "fast", "limit": 3, "tags": [["name": "x", "weight": 0.5]]], []),
        (["mode": "fast", "limit": 3, "tags": nil], ["missing required field 'path'"]),
        (["path": 1, "mode": nil, "limit": nil, "tags": nil], ["'path' must be a string, not a number (1)"]),
        (["path": "a", "mode": "medium", "limit": nil, "tags": nil], [#"'mode' must be one of "fast", "slow", null, not "medium""#]),
        (["path": "a", "mode": nil, "limit": 2.5, "tags": nil], ["'limit' must be an integer or null, not a number (2.5)"]),
        (["path": "a", "mode": nil, "limit": 1e19, "tags": nil], ["'limit' must be an integer or null, not a number (1e+19)"]),
        (["path": "a", "mode": nil, "limit": nil, "tags": [["weight": 1]]], ["missing required field 'tags[0].name'"]),
        (["path": "a", "mode": nil, "limit": nil, "tags": nil, "extra": true], ["unexpected field 'extra' (allowed: limit, mode, path, tags)"]),
    ]

    @Test(arguments: validations)
    func argumentsAreCheckedAgainstTheSchema(_ value: JSONValue, _ expected: [String]) {
        #expect(SchemaValidator.problems(value, schema: schema.jsonValue(strict: true)) == expected)
    }

    @Test func theRegistryRefusesDuplicateAndInvalidNames() throws {
        var registry = ToolRegistry()
        try registry.register(Echo())
        #expect(throws: CoreError.self) { try registry.register(Echo()) }
        #expect(throws: CoreError.self) {
            try registry.register(name: "bad name!", description: "", parameters: ["type": "object"]) { _, _ in "x" }
        }
        try registry.register(name: "raw_tool", description: "A raw one.", parameters: ["type": "object", "properties": ["q": ["type": "string"]]]) { arguments, _ in
            .text("got \(arguments["q"]?.stringValue ?? "")")
        }
        #expect(registry.names == ["echo", "raw_tool"])
        #expect(registry.definitions.map(\.name) == ["echo", "raw_tool"])
        guard case .function(let raw) = registry.definitions[1] else {
            Issue.record("not a function tool")
            return
        }
        #expect(raw.strict == false)
        #expect(raw.parameters == ["type": "object", "properties": ["q": ["type": "string"]]])
    }
}
