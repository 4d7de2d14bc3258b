import ErrandCore
import ErrandTesting
import Foundation
import ResponsesAPI
import Synchronization

/// `echo {text}` → `echo: text`.
struct Echo: Tool {
    struct Arguments: Decodable { var text: String }
    let name = "echo"
    let description = "Repeat the text."
    let parameters = JSONSchema.object(["text": .string("What to repeat")])
    var isIdempotent: Bool { true }
    func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput { .text("echo: \(arguments.text)") }
}

/// `add {a, b}` → `{"sum": a + b}`.
struct Add: Tool {
    struct Arguments: Decodable { var a: Int; var b: Int }
    let name = "add"
    let description = "Add two integers."
    let parameters = JSONSchema.object(["a": .integer(), "b": .integer()])
    var isIdempotent: Bool { true }
    func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput { .json(["sum": .number(Double(arguments.a + arguments.b))]) }
}

/// Counts how many calls run at once.
final class Concurrency: Sendable {
    private let state = Mutex<(now: Int, peak: Int)>((0, 0))
    var peak: Int { state.withLock { $0.peak } }
    func enter() { state.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) } }
    func leave() { state.withLock { $0.now -= 1 } }
    /// Waits (polling) until at least `count` are in at once, or `timeout` has passed.
    func gather(_ count: Int, timeout: Duration = .seconds(5)) async {
        let deadline = ContinuousClock.now + timeout
        while state.withLock({ $0.now }) < count, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
    }
}

/// `sleep {ms, label}`: waits (cancellably), then answers its label.
struct Sleep: Tool {
    struct Arguments: Decodable { var ms: Int; var label: String }
    let name = "sleep"
    let description = "Wait."
    let parameters = JSONSchema.object(["ms": .integer(), "label": .string()])
    let concurrency: Concurrency
    /// When set, each call first waits (up to 5 s) until this many calls are in at once: a bound can then be shown to
    /// be reached without depending on timing.
    var gather: Int? = nil
    func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput {
        concurrency.enter()
        defer { concurrency.leave() }
        if let gather { await concurrency.gather(gather) }
        try await Task.sleep(for: .milliseconds(arguments.ms))
        return .text(arguments.label)
    }
}

/// `stubborn {}`: waits `seconds` (5 by default) and ignores cancellation; `finished` says when it is done.
struct Stubborn: Tool {
    struct Arguments: Decodable {}
    let name = "stubborn"
    let description = "Never stops early."
    let parameters = JSONSchema.object([:])
    var seconds: Double = 5
    var finished = Marker()
    func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { continuation.resume() }
        }
        finished.set()
        return "finally"
    }
}

/// A flag set once.
final class Marker: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

/// `fail {}`: throws.
struct Fail: Tool {
    struct Arguments: Decodable {}
    let name = "fail"
    let description = "Always fails."
    let parameters = JSONSchema.object([:])
    func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput { throw ToolError("disk on fire") }
}

func registry(_ tools: [any Tool]) throws -> ToolRegistry {
    var registry = ToolRegistry()
    for tool in tools { try registry.add(RegisteredTool(tool)) }
    return registry
}

/// Collects run events.
final class EventLog: Sendable {
    private let storage = Mutex<[RunEvent]>([])
    var events: [RunEvent] { storage.withLock { $0 } }
    func record(_ event: RunEvent) { storage.withLock { $0.append(event) } }
    var responseIDs: [String] { events.compactMap { if case .turnFinished(_, let id, _, _) = $0 { id } else { nil } } }
    var text: String { events.compactMap { if case .textDelta(let text) = $0 { text } else { nil } }.joined() }
}

func fastClientConfiguration() -> ResponsesClientConfiguration {
    ResponsesClientConfiguration(retry: RetryPolicy(maxRetries: 1, initialDelay: .milliseconds(5), maxDelay: .milliseconds(10)))
}

/// Runs `body` with a scripted server and a runner on a client pointed at it.
func withRunner<Result>(
    _ turns: [ScriptedTurn], dialect: ScriptedDialect = .spec,
    isolation: isolated (any Actor)? = #isolation, _ body: (Runner, ScriptedResponsesServer) async throws -> Result
) async throws -> Result {
    try await ScriptedResponsesServer.withServer(turns, dialect: dialect) { server in
        try await ResponsesClient.withClient(provider: server.provider, configuration: fastClientConfiguration()) { client in
            try await body(Runner(client: client), server)
        }
    }
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("errand-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

extension RecordedRequest {
    /// The `function_call_output` items of the request's input: (call_id, output).
    var functionOutputs: [(String, String)] {
        (body?["input"]?.arrayValue ?? []).compactMap { item in
            guard item["type"] == "function_call_output" else { return nil }
            return (item["call_id"]?.stringValue ?? "", item["output"]?.stringValue ?? "")
        }
    }
    var inputTypes: [String] {
        (body?["input"]?.arrayValue ?? []).map { $0["type"]?.stringValue ?? "message" }
    }
}

/// `append {line}`: appends a line to a file (a side effect that must not happen twice), counting its calls.
struct Append: Tool {
    struct Arguments: Decodable { var line: String }
    let name = "append"
    let description = "Append a line to the log."
    let parameters = JSONSchema.object(["line": .string()])
    let file: URL
    func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput {
        let handle = try FileHandle(forWritingTo: file)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((arguments.line + "\n").utf8))
        return "appended"
    }
}

/// A result with what differs between two runs of the same script left out: the ids the server gives (by order of
/// first appearance), how long tool calls took, and the journal's path.
func canonical(_ result: RunResult) -> RunResult {
    var ids: [String: String] = [:]
    func map(_ id: String) -> String {
        if let mapped = ids[id] { return mapped }
        let mapped = "id-\(ids.count)"
        ids[id] = mapped
        return mapped
    }
    func walk(_ value: JSONValue, key: String? = nil) -> JSONValue {
        switch value {
        case .object(let members):
            return .object(Dictionary(uniqueKeysWithValues: members.map { ($0.key, walk($0.value, key: $0.key)) }))
        case .array(let elements):
            return .array(elements.map { walk($0) })
        case .string(let text) where key == "id":
            return .string(map(text))
        default:
            return value
        }
    }
    var copy = result
    copy.items = result.items.map { item in
        (try? walk(JSONValue(encoding: item)).decode(as: OutputItem.self)) ?? item
    }
    copy.lastResponseID = result.lastResponseID.map(map)
    copy.toolCalls = result.toolCalls.map { record in
        var record = record
        record.duration = 0
        return record
    }
    copy.journal = nil
    return copy
}
