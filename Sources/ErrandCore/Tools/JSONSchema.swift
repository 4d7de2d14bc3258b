import ResponsesAPI

/// A JSON Schema for tool parameters, written without string-typing:
///
/// ```swift
/// let schema = JSONSchema.object([
///     "path": .string("A path relative to the workspace"),
///     "limit": .integer("Lines to read").optional(),
/// ])
/// ```
///
/// In strict mode (OpenAI's structured outputs rules) every object has `additionalProperties: false`, every property is
/// listed in `required`, and an optional property's type becomes a union with `null`.
public struct JSONSchema: Sendable, Hashable {
    /// What kind of value the schema describes.
    public indirect enum Kind: Sendable, Hashable {
        /// A string, optionally one of `enumValues`.
        case string(enumValues: [String]?)
        /// Any number.
        case number
        /// A whole number.
        case integer
        /// `true` or `false`.
        case boolean
        /// A list of `items`.
        case array(items: JSONSchema)
        /// An object with these properties, in order.
        case object(properties: [Property])
        /// A schema given as JSON, used as it is.
        case raw(JSONValue)
    }

    /// A named property of an object schema.
    public struct Property: Sendable, Hashable {
        /// The property name.
        public var name: String
        /// Its schema.
        public var schema: JSONSchema
    }

    /// What kind of value the schema describes.
    public var kind: Kind
    /// The description shown to the model.
    public var description: String?
    /// Whether the property may be left out (or `null` in strict mode).
    public var isOptional: Bool

    /// Creates a schema.
    public init(kind: Kind, description: String? = nil, isOptional: Bool = false) {
        self.kind = kind
        self.description = description
        self.isOptional = isOptional
    }

    /// A string, optionally restricted to `values`.
    public static func string(_ description: String? = nil, enum values: [String]? = nil) -> JSONSchema {
        JSONSchema(kind: .string(enumValues: values), description: description)
    }
    /// A number.
    public static func number(_ description: String? = nil) -> JSONSchema { JSONSchema(kind: .number, description: description) }
    /// A whole number.
    public static func integer(_ description: String? = nil) -> JSONSchema { JSONSchema(kind: .integer, description: description) }
    /// A Boolean.
    public static func boolean(_ description: String? = nil) -> JSONSchema { JSONSchema(kind: .boolean, description: description) }
    /// A list of `items`.
    public static func array(of items: JSONSchema, _ description: String? = nil) -> JSONSchema {
        JSONSchema(kind: .array(items: items), description: description)
    }
    /// An object with these properties, in the order given.
    public static func object(_ properties: KeyValuePairs<String, JSONSchema>, description: String? = nil) -> JSONSchema {
        JSONSchema(kind: .object(properties: properties.map { Property(name: $0.key, schema: $0.value) }), description: description)
    }
    /// A schema written as JSON, used as it is.
    public static func raw(_ json: JSONValue) -> JSONSchema { JSONSchema(kind: .raw(json)) }

    /// This schema as an optional property.
    public func optional() -> JSONSchema {
        var copy = self
        copy.isOptional = true
        return copy
    }

    /// The schema as JSON; `strict` applies OpenAI's strict-mode rules.
    public func jsonValue(strict: Bool) -> JSONValue {
        var object: [String: JSONValue]
        switch kind {
        case .raw(let raw):
            return raw
        case .string(let values):
            object = ["type": "string"]
            if let values { object["enum"] = .array(values.map(JSONValue.string) + (strict && isOptional ? [.null] : [])) }
        case .number: object = ["type": "number"]
        case .integer: object = ["type": "integer"]
        case .boolean: object = ["type": "boolean"]
        case .array(let items):
            object = ["type": "array", "items": items.jsonValue(strict: strict)]
        case .object(let properties):
            var members: [String: JSONValue] = [:]
            for property in properties { members[property.name] = property.schema.jsonValue(strict: strict) }
            object = ["type": "object", "properties": .object(members)]
            let required = strict ? properties : properties.filter { !$0.schema.isOptional }
            object["required"] = .array(required.map { .string($0.name) })
            if strict { object["additionalProperties"] = false }
        }
        if strict, isOptional, let type = object["type"] { object["type"] = [type, "null"] }
        if let description { object["description"] = .string(description) }
        return .object(object)
    }
}
