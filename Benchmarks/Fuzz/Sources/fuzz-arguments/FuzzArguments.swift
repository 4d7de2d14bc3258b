import ErrandCore
import Foundation
import ResponsesAPI

/// Schemas used when the input's schema part is absent or not JSON: read_file's strict one, a tool without
/// parameters, a nested strict one, and a loose one with anyOf, enum and a list of types.
let fixedSchemas: [JSONValue] = [
    JSONSchema.object(["path": .string("A path"), "offset": .integer().optional(), "limit": .integer().optional()]).jsonValue(strict: true),
    JSONSchema.object([:]).jsonValue(strict: true),
    JSONSchema.object([
        "filter": .object(["name": .string(), "kind": .string(enum: ["a", "b"]).optional()]),
        "items": .array(of: .object(["id": .integer(), "note": .string().optional()])),
    ]).jsonValue(strict: true),
    [
        "type": "object",
        "properties": [
            "mode": ["enum": ["fast", "slow", nil]],
            "count": ["type": ["integer", "null"]],
            "value": ["anyOf": [["type": "string"], ["type": "array", "items": ["type": "number"]], ["type": "null"]]],
            "choice": ["oneOf": [["const": "x"], ["type": "boolean"]]],
        ],
        "required": ["mode", "count", "value"],
    ],
]

/// Tool arguments read leniently (`ToolArguments.parse`) and then checked (`SchemaValidator.problems`), as the runner
/// does for every call. Input: the schema as JSON, a 0x00 byte, then the arguments text; without a 0x00, or when the
/// schema part is not JSON, one of the fixed schemas (by the input's length) and the whole input as arguments.
/// Invariants: a parse succeeds only with an object; filling omitted nullables is idempotent; a filled property
/// accepts null.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: start, count: count)
    var schema = fixedSchemas[count % fixedSchemas.count]
    var arguments = input[...]
    if let zero = input.firstIndex(of: 0) {
        arguments = input[(zero + 1)...]
        if let decoded = try? JSONValue(parsing: Data(input[..<zero])) { schema = decoded }
    }
    let text = String(decoding: arguments, as: UTF8.self)
    _ = SchemaValidator.acceptsNull(schema)
    switch ToolArguments.parse(text, schema: schema) {
    case .success(let value):
        guard case .object(let members) = value else { fatalError("parse succeeded with a non-object: \(value.kindDescription)") }
        let again = SchemaValidator.fillingOmittedNullables(value, schema: schema)
        precondition(again == value, "filling omitted nullables is not idempotent")
        // What was filled in was absent and accepts null.
        if let parsed = try? JSONValue(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines)), case .object(let original) = parsed,
            let properties = schema["properties"]?.objectValue
        {
            for (name, member) in members where original[name] == nil && member == .null {
                precondition(properties[name].map(SchemaValidator.acceptsNull) == true, "filled '\(name)' with null though its schema does not accept null")
            }
        }
        let problems = SchemaValidator.problems(value, schema: schema)
        _ = problems.count
        if case .object = schema {} else { precondition(problems.isEmpty, "a schema that is not an object constrains nothing") }
    case .failure(let problem):
        _ = problem.message(tool: "fuzz")
    }
    return 0
}
