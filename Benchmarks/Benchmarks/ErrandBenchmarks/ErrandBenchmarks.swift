import AsyncHTTPClient
import Benchmark
import ErrandCore
import Foundation
import NIOCore
import NIOHTTP1
import ResponsesAPI

/// One streamed tool turn as the shared mock server (and OpenAI) sends it: created, in_progress, the function call's
/// added/arguments/done events, completed with usage.
enum Wire {
    static func response(_ id: String, status: String, output: String, usage: Bool) -> String {
        """
        {"id":"\(id)","object":"response","created_at":1764600000,"status":"\(status)","error":null,"incomplete_details":null,\
        "instructions":"Use tools.","model":"mock","output":[\(output)],"parallel_tool_calls":true,"temperature":1.0,"top_p":1.0,\
        "tool_choice":"auto","tools":[{"type":"function","name":"noop","description":"Does nothing.","parameters":{"type":"object","properties":{}},"strict":false}],\
        "metadata":{},"previous_response_id":null,"store":true,"text":{"format":{"type":"text"}},"truncation":"disabled",\
        "usage":\(usage ? #"{"input_tokens":50,"input_tokens_details":{"cached_tokens":0},"output_tokens":10,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":60}"# : "null")}
        """
    }

    static func call(_ n: Int) -> String {
        #"{"type":"function_call","id":"fc_\#(n)","call_id":"call_\#(n)","name":"noop","arguments":"{}","status":"completed"}"#
    }

    static func message(_ n: Int) -> String {
        #"{"type":"message","id":"msg_\#(n)","role":"assistant","status":"completed","content":[{"type":"output_text","text":"Done.","annotations":[],"logprobs":[]}]}"#
    }

    /// The SSE body of turn `n`: a function call, or the final message when `last`.
    static func stream(_ n: Int, last: Bool) -> String {
        let id = "resp_\(n)"
        let item = last ? message(n) : call(n)
        var events: [(String, String)] = [
            ("response.created", #"{"type":"response.created","response":\#(response(id, status: "in_progress", output: "", usage: false))}"#),
            ("response.in_progress", #"{"type":"response.in_progress","response":\#(response(id, status: "in_progress", output: "", usage: false))}"#),
            ("response.output_item.added", #"{"type":"response.output_item.added","output_index":0,"item":\#(item)}"#),
        ]
        if !last {
            events.append(("response.function_call_arguments.delta", #"{"type":"response.function_call_arguments.delta","item_id":"fc_\#(n)","output_index":0,"delta":"{}"}"#))
            events.append(("response.function_call_arguments.done", #"{"type":"response.function_call_arguments.done","item_id":"fc_\#(n)","output_index":0,"arguments":"{}"}"#))
        }
        events.append(("response.output_item.done", #"{"type":"response.output_item.done","output_index":0,"item":\#(item)}"#))
        events.append(("response.completed", #"{"type":"response.completed","response":\#(response(id, status: "completed", output: item, usage: true))}"#))
        var text = ""
        for (index, event) in events.enumerated() {
            var data = event.1
            data.removeLast()
            text += "event: \(event.0)\ndata: \(data),\"sequence_number\":\(index)}\n\n"
        }
        return text
    }

    static func answer(_ body: String) -> HTTPClientResponse {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/event-stream")
        return HTTPClientResponse(status: .ok, headers: headers, body: .bytes(ByteBuffer(string: body)))
    }
}

/// A client whose transport answers from memory: the per-request cost of Errand's client without a socket.
func memoryClient(_ answer: @escaping @Sendable (Int) -> HTTPClientResponse) -> ResponsesClient {
    let counter = Counter()
    return ResponsesClient(
        provider: Provider(name: "bench", baseURL: "http://127.0.0.1:1/v1", apiKey: APIKey("sk-bench")),
        transport: InMemoryTransport { _ in answer(counter.next()) })
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.withLock { value += 1; return value } }
}

struct Noop: Tool {
    struct Arguments: Decodable {}
    let name = "noop"
    let description = "Does nothing."
    let parameters = JSONSchema.object([:])
    func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput { "ok" }
}

let turnsPerRun = 10

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        // No retain/release counts: on Linux with Swift 6.3 their runtime hooks crash async benchmarks (ordo-one/benchmark#349).
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .instructions],
        maxDuration: .seconds(3), maxIterations: 100_000)

    let turn = Array(Wire.stream(1, last: false).utf8)
    Benchmark("SSE parse, one streamed tool turn") { benchmark in
        for _ in benchmark.scaledIterations {
            var parser = ServerSentEventParser()
            blackHole(parser.feed(turn))
        }
    }

    let request = CreateResponseRequest(model: "mock", input: .items([.user("go")]), instructions: "Use tools.", tools: [
        .function(FunctionTool(name: "noop", description: "Does nothing.", parameters: .object(["type": "object", "properties": .object([:])])))
    ])
    let encoder = JSONEncoder()
    Benchmark("Request encode (JSONEncoder, one tool)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try encoder.encode(request))
        }
    }

    // An answer's body can be read once: each request gets a new one (the benchmark counts that too).
    let streamed = Wire.stream(1, last: false)
    Benchmark("Client request, streamed tool turn (in memory: encode, SSE, decode, accumulate)") { benchmark in
        let client = memoryClient { _ in Wire.answer(streamed) }
        for _ in benchmark.scaledIterations {
            blackHole(try await client.stream(request, echoes: false).finalResponse())
        }
    }

    var tools = ToolRegistry()
    try? tools.register(Noop())
    let agent = Agent(model: "mock", instructions: "Use tools.", tools: tools, limits: RunLimits(maxTurns: turnsPerRun + 1), streaming: true)
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-benchmarks-\(getpid())")
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let bodies = (1...turnsPerRun + 1).map { Wire.stream($0, last: $0 == turnsPerRun + 1) }
    Benchmark(
        "Run of \(turnsPerRun) tool turns + answer, journaled (in memory; divide by \(turnsPerRun + 1) for a turn)",
        configuration: .init(maxDuration: .seconds(5), maxIterations: 5_000)
    ) { benchmark in
        for iteration in benchmark.scaledIterations {
            let counter = Counter()
            let client = memoryClient { _ in Wire.answer(bodies[min(counter.next(), bodies.count) - 1]) }
            let journal = folder.appendingPathComponent("run-\(iteration).jsonl")
            let result = await Runner(client: client).run(agent, input: "go", journal: journal)
            precondition(result.status == .completed && result.turns == turnsPerRun + 1, "the run ended \(result.status): \(result.error ?? "")")
            try? FileManager.default.removeItem(at: journal)
        }
    }
}
