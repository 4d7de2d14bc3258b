import ResponsesAPI

/// Checks tool arguments against a parameter schema and says what is wrong in words a model can act on.
///
/// Written by hand: the arguments of one call are small and the schemas are the subset tools use (`type` or a list of
/// types, `enum`, `properties`, `required`, `additionalProperties: false`, `items`, `anyOf`/`oneOf`); a full JSON
/// Schema validator package is not among the dependencies this project trusts.
public enum SchemaValidator {
    /// The problems with `value` against `schema`; empty when it conforms.
    public static func problems(_ value: JSONValue, schema: JSONValue, path: String = "") -> [String] {
        guard case .object(let rules) = schema else { return [] }
        var problems: [String] = []
        let place = path.isEmpty ? "the arguments" : "'\(path)'"
        if let alternatives = (rules["anyOf"] ?? rules["oneOf"])?.arrayValue {
            if !alternatives.contains(where: { Self.problems(value, schema: $0, path: path).isEmpty }) {
                problems.append("\(place) matches none of the allowed forms")
            }
        }
        if let types = types(rules["type"]), !types.contains(where: { matches(value, $0) }) {
            problems.append("\(place) must be \(types.map(article).joined(separator: " or ")), not \(describe(value))")
            return problems
        }
        if let allowed = rules["enum"]?.arrayValue, !allowed.contains(value) {
            problems.append("\(place) must be one of \(allowed.map(\.jsonString).joined(separator: ", ")), not \(value.jsonString)")
        }
        if case .object(let members) = value {
            let properties = rules["properties"]?.objectValue ?? [:]
            for case .string(let name) in rules["required"]?.arrayValue ?? [] where members[name] == nil {
                problems.append("missing required field '\(join(path, name))'")
            }
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                if let propertySchema = properties[name] {
                    problems += Self.problems(member, schema: propertySchema, path: join(path, name))
                } else if rules["additionalProperties"] == false {
                    problems.append("unexpected field '\(join(path, name))' (allowed: \(properties.keys.sorted().joined(separator: ", ")))")
                }
            }
        }
        if case .array(let elements) = value, let items = rules["items"] {
            for (index, element) in elements.enumerated() {
                problems += Self.problems(element, schema: items, path: "\(path)[\(index)]")
            }
        }
        return problems
    }

    /// What is wrong with `schema` as a JSON Schema, each problem with its path (`properties.tags.items`): the parts this
    /// validator reads must have the shapes the standard gives them (`type` a known type or a list of them,
    /// `properties` an object of schemas, `required` a list of names it defines, `items` a schema, `enum` a non-empty
    /// list, `anyOf`/`oneOf`/`allOf` non-empty lists of schemas). Empty when it can be used.
    public static func schemaProblems(_ schema: JSONValue, path: String = "") -> [String] {
        let here = path.isEmpty ? "the schema" : "'\(path)'"
        guard case .object(let rules) = schema else {
            if case .bool = schema { return [] }
            return ["\(here) must be an object (a JSON Schema), not \(describe(schema))"]
        }
        var problems: [String] = []
        let known: Set<String> = ["null", "boolean", "object", "array", "number", "string", "integer"]
        switch rules["type"] {
        case nil: break
        case .string(let type)?:
            if !known.contains(type) { problems.append("\(join(path, "type")): '\(type)' is not a JSON Schema type (\(known.sorted().joined(separator: ", ")))") }
        case .array(let types)?:
            for type in types where type.stringValue.map({ !known.contains($0) }) ?? true {
                problems.append("\(join(path, "type")): \(type.jsonString) is not a JSON Schema type")
            }
        case let other?:
            problems.append("\(join(path, "type")) must be a type name or a list of them, not \(describe(other))")
        }
        var defined: Set<String>?
        if let properties = rules["properties"] {
            if case .object(let members) = properties {
                defined = Set(members.keys)
                for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                    problems += schemaProblems(member, path: join(join(path, "properties"), name))
                }
            } else {
                problems.append("\(join(path, "properties")) must be an object of schemas, not \(describe(properties))")
            }
        }
        if let required = rules["required"] {
            if case .array(let names) = required, names.allSatisfy({ $0.stringValue != nil }) {
                for case .string(let name) in names where defined.map({ !$0.contains(name) }) ?? false {
                    problems.append("\(join(path, "required")) names '\(name)', which is not among the properties")
                }
            } else {
                problems.append("\(join(path, "required")) must be a list of property names")
            }
        }
        if let items = rules["items"] { problems += schemaProblems(items, path: join(path, "items")) }
        if let additional = rules["additionalProperties"], additional.boolValue == nil {
            problems += schemaProblems(additional, path: join(path, "additionalProperties"))
        }
        if let values = rules["enum"], (values.arrayValue?.isEmpty ?? true) {
            problems.append("\(join(path, "enum")) must be a non-empty list of values")
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            guard let forms = rules[key] else { continue }
            guard case .array(let list) = forms, !list.isEmpty else {
                problems.append("\(join(path, key)) must be a non-empty list of schemas")
                continue
            }
            for (index, form) in list.enumerated() { problems += schemaProblems(form, path: "\(join(path, key))[\(index)]") }
        }
        return problems
    }

    /// `value` with `null` in place of every property that `schema` requires but would accept as `null` and that is
    /// absent, in nested objects and array elements too. Strict mode makes a tool's optional properties required and
    /// nullable; a model that does not follow strict mode leaves them out, and this reads them as the `null` they stand for.
    public static func fillingOmittedNullables(_ value: JSONValue, schema: JSONValue) -> JSONValue {
        guard case .object(let rules) = schema else { return value }
        switch value {
        case .object(var members):
            let properties = rules["properties"]?.objectValue ?? [:]
            for case .string(let name) in rules["required"]?.arrayValue ?? [] where members[name] == nil {
                if let property = properties[name], acceptsNull(property) { members[name] = .null }
            }
            for (name, member) in members {
                if let property = properties[name] { members[name] = fillingOmittedNullables(member, schema: property) }
            }
            return .object(members)
        case .array(let elements):
            guard let items = rules["items"] else { return value }
            return .array(elements.map { fillingOmittedNullables($0, schema: items) })
        default:
            return value
        }
    }

    /// Whether `schema` accepts `null`: its `type` is or lists `null`, its `enum` lists it (with no `type` saying
    /// otherwise), its `const` is `null`, or one of its `anyOf`/`oneOf` forms accepts it.
    public static func acceptsNull(_ schema: JSONValue) -> Bool {
        guard case .object(let rules) = schema else { return false }
        if let alternatives = (rules["anyOf"] ?? rules["oneOf"])?.arrayValue, alternatives.contains(where: acceptsNull) { return true }
        if let types = types(rules["type"]) { return types.contains("null") }
        if let allowed = rules["enum"]?.arrayValue { return allowed.contains(.null) }
        if let constant = rules["const"] { return constant == .null }
        return false
    }

    private static func join(_ path: String, _ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    private static func types(_ value: JSONValue?) -> [String]? {
        switch value {
        case .string(let type)?: [type]
        case .array(let list)?: list.compactMap(\.stringValue)
        default: nil
        }
    }

    private static func matches(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object), ("number", .number): true
        case ("integer", .number(let number)): number.rounded() == number && abs(number) < 0x1p63  // 2^63: every smaller whole number fits an Int
        default: false
        }
    }

    private static func article(_ type: String) -> String {
        switch type {
        case "integer", "array", "object": "an \(type)"
        case "null": "null"
        default: "a \(type)"
        }
    }

    private static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let flag): "a boolean (\(flag))"
        case .number(let number): "a number (\(JSONValue.number(number).jsonString))"
        case .string(let text): "a string (\(JSONValue.string(String(text.prefix(40)))))"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
