import ErrandCore
import ErrandTools
import Foundation
import ResponsesAPI

/// Command-tool manifests: JSON files that describe a program as a tool.
///
/// ```json
/// {"name": "word_count", "description": "Count lines, words and bytes of a file.",
///  "parameters": {"type": "object", "properties": {"path": {"type": "string", "x-errand-path": true}}, "required": ["path"]},
///  "command": ["wc", "-l", "-w", "-c", "{path}"], "timeout_seconds": 10}
/// ```
///
/// A parameter marked `"x-errand-path": true` is a workspace path: it is resolved and confined before it reaches argv
/// (the mark is not sent to the model).
public enum CommandManifest {
    static let keys = [
        "$schema", "name", "description", "parameters", "command", "timeout_seconds", "cwd", "env", "max_output_bytes", "strict", "idempotent",
    ]

    /// Loads a manifest file, checking every key, the placeholders, and that the program exists.
    public static func load(_ url: URL, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> CommandTool {
        let file = url.path
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw SpecError(problems: [SpecProblem(file: file, path: "", message: "cannot read the manifest: \(error.localizedDescription)")])
        }
        let reader = SpecReader(file: file)
        let tool = read(try SpecReader.parse(data, file: file), reader: reader, folder: url.deletingLastPathComponent(), environment: environment)
        if !reader.problems.isEmpty { throw SpecError(problems: reader.problems) }
        return tool!
    }

    static func read(_ json: JSONValue, reader: SpecReader, folder: URL, environment: [String: String]) -> CommandTool? {
        guard let members = reader.object(json, at: "", allowed: keys) else {
            if !json.isNull, json.objectValue == nil { return nil }
            reader.problem("", "expected a manifest object")
            return nil
        }
        let name = reader.string(members, "name", at: "", required: true) ?? ""
        if !name.isEmpty, !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) || name.count > 64 {
            reader.problem("name", "'\(name)' is not a valid tool name: use 1 to 64 letters, digits, '_' or '-'")
        }
        let description = reader.string(members, "description", at: "", required: true) ?? ""
        var parameters: JSONValue = ["type": "object", "properties": [:]]
        var pathParameters: Set<String> = []
        if let schema = members["parameters"] {
            if schema["type"] != "object" {
                reader.problem("parameters", "expected a JSON Schema with \"type\": \"object\"")
            } else {
                if let properties = schema["properties"], properties.objectValue == nil {
                    reader.problem("parameters.properties", "expected an object")
                }
                var cleaned = schema
                var properties = schema["properties"]?.objectValue ?? [:]
                for (key, property) in properties where property["x-errand-path"] != nil {
                    if property["x-errand-path"] == true { pathParameters.insert(key) }
                    var stripped = property
                    stripped["x-errand-path"] = nil
                    if case .object(var object) = stripped {
                        object.removeValue(forKey: "x-errand-path")
                        stripped = .object(object)
                    }
                    properties[key] = stripped
                }
                if schema["properties"] != nil { cleaned["properties"] = .object(properties) }
                parameters = cleaned
            }
        }
        let propertyNames = Set(parameters["properties"]?.objectValue?.keys.map { $0 } ?? [])
        let strict = reader.bool(members, "strict", at: "") ?? false
        if strict {
            let required = Set(parameters["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            if parameters["additionalProperties"] != false || required != propertyNames {
                reader.problem("strict", "a strict schema needs \"additionalProperties\": false and every property in \"required\"")
            }
        }
        var executable = ""
        var argv: [String] = []
        if let command = reader.strings(members, "command", at: "") {
            if command.isEmpty {
                reader.problem("command", "expected at least the program, e.g. [\"wc\", \"-l\", \"{path}\"]")
            } else {
                argv = Array(command.dropFirst())
                if let resolved = findProgram(command[0], folder: folder, environment: environment) {
                    executable = resolved
                } else {
                    reader.problem("command[0]", "program '\(command[0])' not found\(command[0].contains("/") ? "" : " on PATH")")
                }
                for (index, element) in command.enumerated() {
                    for placeholder in CommandTool.placeholders(in: element) where !propertyNames.contains(placeholder) {
                        reader.problem("command[\(index)]", "placeholder {\(placeholder)} names no parameter; the parameters are: \(propertyNames.sorted().joined(separator: ", "))")
                    }
                }
            }
        } else if members["command"] == nil {
            reader.problem("command", "missing; expected an argv array, e.g. [\"wc\", \"-l\", \"{path}\"]")
        }
        let timeout = reader.number(members, "timeout_seconds", at: "", range: 0.001...86_400) ?? 30
        let env = reader.strings(members, "env", at: "") ?? []
        let cap = reader.int(members, "max_output_bytes", at: "", minimum: 1) ?? 64 << 10
        return CommandTool(
            name: name, description: description, parameters: parameters, pathParameters: pathParameters, strict: strict,
            executable: executable, arguments: argv, timeout: .milliseconds(Int64(timeout * 1000)),
            workingDirectory: reader.string(members, "cwd", at: ""), environment: env, maxOutputBytes: cap,
            idempotent: reader.bool(members, "idempotent", at: "") ?? false)
    }

    /// The program's absolute path: relative to the manifest's folder when it contains a '/', else found on PATH.
    static func findProgram(_ program: String, folder: URL, environment: [String: String]) -> String? {
        let manager = FileManager.default
        if program.contains("/") {
            let url = program.hasPrefix("/") ? URL(fileURLWithPath: program) : folder.appendingPathComponent(program)
            return manager.isExecutableFile(atPath: url.path) ? url.standardizedFileURL.path : nil
        }
        for directory in (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            if manager.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
