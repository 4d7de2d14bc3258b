import Foundation
import ResponsesAPI

/// A problem in a spec or manifest file: the file, the JSON path (`tools[2].allow_hosts`) and what was expected.
public struct SpecProblem: Sendable, Hashable, CustomStringConvertible {
    /// The file.
    public var file: String
    /// The JSON path, e.g. `limits.max_turns`; empty for the whole document.
    public var path: String
    /// What is wrong and what was expected.
    public var message: String

    /// `file: path: message`.
    public var description: String { path.isEmpty ? "\(file): \(message)" : "\(file): \(path): \(message)" }
}

/// Why a spec cannot be run: problems in the spec or a manifest it names (each with its file and JSON path), or an
/// agent that cannot be set up from a valid spec (a provider that cannot be resolved, a workspace that is gone, a tool
/// that does not register), carrying the provider's or the core's error. New kinds may be added without breaking
/// callers.
public struct SpecError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalid = "invalid spec", setup = "cannot set up the agent"
        }
        private let base: Base

        /// The spec, a manifest it names or a tasks file has problems (see ``SpecError/problems``).
        public static let invalid = Kind(base: .invalid)
        /// The spec is valid, but the agent cannot be made from it (see ``SpecError/underlying``).
        public static let setup = Kind(base: .setup)

        /// The kind in words.
        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var kind: Kind
    /// Every problem found, for ``Kind/invalid``.
    public var problems: [SpecProblem]
    /// What was being set up when it failed (`task 'a'`), when that helps.
    public var context: String?
    /// The provider's (``ResponsesAPI/ResponsesError``) or the core's (``ErrandCore/CoreError``) error, for ``Kind/setup``.
    public var underlying: (any Error)?

    /// A spec with problems.
    public init(problems: [SpecProblem]) {
        self.kind = .invalid
        self.problems = problems
    }

    /// An agent that cannot be set up, because of `underlying`.
    public init(setup underlying: any Error, context: String? = nil) {
        self.kind = .setup
        self.problems = []
        self.underlying = underlying
        self.context = context
    }

    /// The same error, saying what was being set up.
    func named(_ context: String) -> SpecError {
        var error = self
        error.context = error.context.map { "\(context): \($0)" } ?? context
        return error
    }

    /// One line per problem, or the setup failure in one line.
    public var description: String {
        if kind == .invalid { return problems.map(\.description).joined(separator: "\n") }
        let cause = underlying.map { "\($0)" } ?? "unknown cause"
        return context.map { "\($0): \(cause)" } ?? cause
    }
}

/// Reads a JSON document strictly, collecting every problem with its path instead of stopping at the first.
final class SpecReader {
    let file: String
    private(set) var problems: [SpecProblem] = []

    init(file: String) { self.file = file }

    func problem(_ path: String, _ message: String) {
        problems.append(SpecProblem(file: file, path: path, message: message))
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The members of an object, reporting keys outside `allowed`.
    func object(_ value: JSONValue?, at path: String, allowed: [String]) -> [String: JSONValue]? {
        guard let value else { return nil }
        guard case .object(let members) = value else {
            problem(path, "expected an object, not \(Self.kind(value))")
            return nil
        }
        for key in members.keys.sorted() where !allowed.contains(key) {
            let close = allowed.filter { Self.distance($0, key) <= 2 }
            let hint = close.isEmpty ? "allowed keys: \(allowed.filter { $0 != "$schema" }.joined(separator: ", "))" : "did you mean '\(close[0])'?"
            problem(Self.join(path, key), "unknown key; \(hint)")
        }
        return members
    }

    /// A folder: `key`'s path, relative to `base` unless absolute, which must name an existing folder.
    func folder(_ members: [String: JSONValue]?, _ key: String, at path: String, relativeTo base: URL) -> URL? {
        guard let text = string(members, key, at: path) else { return nil }
        let url = (text.hasPrefix("/") ? URL(fileURLWithPath: text) : base.appendingPathComponent(text)).standardizedFileURL
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            problem(Self.join(path, key), "'\(url.path)' is not a folder")
            return nil
        }
        return url
    }

    func string(_ members: [String: JSONValue]?, _ key: String, at path: String, required: Bool = false, allowed: [String]? = nil) -> String? {
        let where_ = Self.join(path, key)
        guard let value = members?[key], !value.isNull else {
            if required { problem(where_, "missing; expected a string") }
            return nil
        }
        guard case .string(let text) = value else {
            problem(where_, "expected a string, not \(Self.kind(value))")
            return nil
        }
        if let allowed, !allowed.contains(text) {
            problem(where_, "'\(text)' is not one of \(allowed.map { "'\($0)'" }.joined(separator: ", "))")
            return nil
        }
        if required, text.trimmingCharacters(in: .whitespaces).isEmpty { problem(where_, "must not be empty") }
        return text
    }

    func bool(_ members: [String: JSONValue]?, _ key: String, at path: String) -> Bool? {
        guard let value = members?[key], !value.isNull else { return nil }
        guard case .bool(let flag) = value else {
            problem(Self.join(path, key), "expected true or false, not \(Self.kind(value))")
            return nil
        }
        return flag
    }

    func int(_ members: [String: JSONValue]?, _ key: String, at path: String, minimum: Int) -> Int? {
        guard let value = members?[key], !value.isNull else { return nil }
        guard let number = value.intValue else {
            problem(Self.join(path, key), "expected a whole number, not \(Self.kind(value))")
            return nil
        }
        guard number >= minimum else {
            problem(Self.join(path, key), "must be at least \(minimum), not \(number)")
            return nil
        }
        return number
    }

    func number(_ members: [String: JSONValue]?, _ key: String, at path: String, range: ClosedRange<Double>) -> Double? {
        guard let value = members?[key], !value.isNull else { return nil }
        guard let number = value.doubleValue else {
            problem(Self.join(path, key), "expected a number, not \(Self.kind(value))")
            return nil
        }
        guard range.contains(number) else {
            problem(Self.join(path, key), "must be between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound)), not \(Self.format(number))")
            return nil
        }
        return number
    }

    func strings(_ members: [String: JSONValue]?, _ key: String, at path: String) -> [String]? {
        guard let value = members?[key], !value.isNull else { return nil }
        guard case .array(let elements) = value else {
            problem(Self.join(path, key), "expected an array of strings, not \(Self.kind(value))")
            return nil
        }
        var result: [String] = []
        for (index, element) in elements.enumerated() {
            guard case .string(let text) = element else {
                problem("\(Self.join(path, key))[\(index)]", "expected a string, not \(Self.kind(element))")
                continue
            }
            result.append(text)
        }
        return result
    }

    func stringMap(_ members: [String: JSONValue]?, _ key: String, at path: String) -> [String: String]? {
        guard let value = members?[key], !value.isNull else { return nil }
        guard case .object(let object) = value else {
            problem(Self.join(path, key), "expected an object of strings, not \(Self.kind(value))")
            return nil
        }
        var result: [String: String] = [:]
        for (name, member) in object {
            guard case .string(let text) = member else {
                problem(Self.join(Self.join(path, key), name), "expected a string, not \(Self.kind(member))")
                continue
            }
            result[name] = text
        }
        return result
    }

    static func kind(_ value: JSONValue) -> String { value.kindDescription }

    static func format(_ number: Double) -> String {
        number.rounded() == number && abs(number) < 1e15 ? String(Int(number)) : String(number)
    }

    /// The edit distance of two short strings, for "did you mean" hints.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// Parses a file's JSON, reporting a syntax error with its place.
    static func parse(_ data: Data, file: String) throws(SpecError) -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch let DecodingError.dataCorrupted(context) {
            let detail = (context.underlyingError as NSError?)?.userInfo["NSDebugDescription"] as? String ?? context.debugDescription
            throw SpecError(problems: [SpecProblem(file: file, path: "", message: "not valid JSON: \(detail)")])
        } catch {
            throw SpecError(problems: [SpecProblem(file: file, path: "", message: "not valid JSON: \(error)")])
        }
    }
}
