// Benchmarks, each beside a baseline measured in the same run. Run in release:
//   swift run -c release errand-bench          (all)
//   swift run -c release errand-bench stream   (SSE parsing and decoding)
//   swift run -c release errand-bench loop     (the agent loop's own cost per turn)
//   swift run -c release errand-bench extract FOLDER   (HTML extraction speed; see Benchmarks/scripts/extraction.sh)
//   swift run -c release errand-bench soak ERRAND [turns] [tasks] [fault-rate]   (memory and outcomes under faults)
//   swift run -c release errand-bench mcp URL [calls]   (remote MCP calls; see Benchmarks/scripts/remote-mcp.sh)
import AsyncHTTPClient
import ErrandCore
import ErrandTesting
import Foundation
import NIOCore
import NIOHTTP1
import ResponsesAPI

/// The median of `runs` timings of `body`, in seconds.
func measure(runs: Int = 7, _ body: () throws -> Void) rethrows -> Double {
    var times: [Double] = []
    let clock = ContinuousClock()
    for _ in 0..<runs {
        let start = clock.now
        try body()
        let elapsed = clock.now - start
        times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
    return times.sorted()[runs / 2]
}

func measureAsync(runs: Int = 7, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> Void) async rethrows -> Double {
    var times: [Double] = []
    let clock = ContinuousClock()
    for _ in 0..<runs {
        let start = clock.now
        try await body()
        let elapsed = clock.now - start
        times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
    return times.sorted()[runs / 2]
}

/// A realistic stream: one long assistant message in small deltas (with OpenAI's `obfuscation` padding), then a
/// few function calls, then `response.completed`.
func syntheticStream(deltas: Int) -> [UInt8] {
    var text = ""
    var sequence = 0
    func emit(_ type: String, _ json: String) {
        text += "event: \(type)\ndata: {\"type\":\"\(type)\",\"sequence_number\":\(sequence),\(json)}\n\n"
        sequence += 1
    }
    let response = #""response":{"id":"resp_1","object":"response","created_at":1741290958,"status":"in_progress","model":"gpt-4.1-mini","output":[],"usage":null}"#
    emit("response.created", response)
    emit("response.in_progress", response)
    emit("response.output_item.added", #""output_index":0,"item":{"id":"msg_1","type":"message","role":"assistant","status":"in_progress","content":[]}"#)
    emit("response.content_part.added", #""item_id":"msg_1","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}"#)
    for index in 0..<deltas {
        emit("response.output_text.delta", #""item_id":"msg_1","output_index":0,"content_index":0,"delta":"word\#(index % 10) ","logprobs":[],"obfuscation":"Xy7pQ2""#)
    }
    emit("response.output_text.done", #""item_id":"msg_1","output_index":0,"content_index":0,"text":"…","logprobs":[]"#)
    for call in 0..<5 {
        emit("response.output_item.added", #""output_index":\#(call + 1),"item":{"id":"fc_\#(call)","type":"function_call","call_id":"call_\#(call)","name":"read_file","arguments":"","status":"in_progress"}"#)
        for piece in ["{\\\"pa", "th\\\":", "\\\"Sourc", "es/a.swift\\\"}"] {
            emit("response.function_call_arguments.delta", #""item_id":"fc_\#(call)","output_index":\#(call + 1),"delta":"\#(piece)""#)
        }
        emit("response.function_call_arguments.done", #""item_id":"fc_\#(call)","output_index":\#(call + 1),"arguments":"{\"path\":\"Sources/a.swift\"}""#)
    }
    emit("response.completed", #""response":{"id":"resp_1","object":"response","created_at":1741290958,"status":"completed","model":"gpt-4.1-mini","output":[],"usage":{"input_tokens":10,"output_tokens":20,"total_tokens":30}}"#)
    return Array(text.utf8)
}

func chunks(_ bytes: [UInt8], size: Int = 16_384) -> [ArraySlice<UInt8>] {
    stride(from: 0, to: bytes.count, by: size).map { bytes[$0..<min($0 + size, bytes.count)] }
}

func row(_ name: String, seconds: Double, bytes: Int, events: Int) {
    let mb = Double(bytes) / 1_048_576 / seconds
    let perSecond = Double(events) / seconds
    print(name.padding(toLength: 52, withPad: " ", startingAt: 0)
        + String(format: "%9.2f ms %9.1f MB/s %12.0f events/s", seconds * 1000, mb, perSecond))
}

@main
struct Bench {
    static func main() async throws {
        let which = CommandLine.arguments.dropFirst().first ?? "all"
        if which == "all" || which == "stream" { try await streamBenchmarks() }
        if which == "all" || which == "loop" { try await LoopBenchmark.run() }
        if which == "mcp" {
            try await RemoteMCPBenchmark.run(Array(CommandLine.arguments.dropFirst(2)))
            return
        }
        if which == "soak" {
            try await SoakBenchmark.run(Array(CommandLine.arguments.dropFirst(2)))
            return
        }
        if which == "extract" {
            guard CommandLine.arguments.count > 2 else {
                print("usage: errand-bench extract FOLDER   (a folder of .html files; Benchmarks/scripts/extraction.sh prepares one)")
                return
            }
            try ExtractBenchmark.run(folder: CommandLine.arguments[2])
        }
    }

    static func streamBenchmarks() async throws {
        let stream = syntheticStream(deltas: 20_000)
        let pieces = chunks(stream)
        var parser = ServerSentEventParser()
        let eventCount = parser.feed(stream).count
        print("stream: \(stream.count) bytes, \(eventCount) events, fed in \(pieces.count) buffers of 16 KiB\n")

        // 1. SSE framing alone.
        let sse = measure {
            var parser = ServerSentEventParser()
            var count = 0
            for piece in pieces { count += parser.feed(piece).count }
            precondition(count == eventCount)
        }
        row("SSE parser alone", seconds: sse, bytes: stream.count, events: eventCount)

        // 2. Baseline: SSE + untyped JSONSerialization of every event (what a dynamic client does).
        let untyped = measure {
            var parser = ServerSentEventParser()
            for piece in pieces {
                for event in parser.feed(piece) { _ = try? JSONSerialization.jsonObject(with: Data(event.data.utf8)) }
            }
        }
        row("baseline: SSE + JSONSerialization (untyped)", seconds: untyped, bytes: stream.count, events: eventCount)

        // 3. Errand: SSE + typed events + accumulation into the final Response.
        let typed = try measure {
            var parser = ServerSentEventParser()
            var accumulator = ResponseAccumulator()
            let decoder = JSONDecoder()
            for piece in pieces {
                for event in parser.feed(piece) {
                    accumulator.apply(try decoder.decode(ResponseStreamEvent.self, from: Data(event.data.utf8)))
                }
            }
            precondition(accumulator.finalResponse?.functionCalls.count == 5)
        }
        row("errand: SSE + typed decode + accumulator", seconds: typed, bytes: stream.count, events: eventCount)

        // 4. Over loopback: the raw transfer (baseline) and the whole client path, against the scripted server.
        let answer = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 2_000)
        try await ScriptedResponsesServer.withServer(Array(repeating: ScriptedTurn.message(answer), count: 40)) { server in
            var configuration = ResponsesClientConfiguration()
            configuration.retry = .none
            try await ResponsesClient.withClient(provider: server.provider, configuration: configuration) { client in
                var bytes = 0
                var events = 0
                let raw = try await measureAsync(runs: 9) {
                    var request = HTTPClientRequest(url: server.baseURL + "/responses")
                    request.method = .POST
                    request.body = .bytes(ByteBuffer(string: #"{"model":"m","input":"x","stream":true}"#))
                    let answer = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                    bytes = try await answer.body.collect(upTo: 1 << 30).readableBytes
                }
                let full = try await measureAsync(runs: 9) {
                    var count = 0
                    let response = try await client.stream(CreateResponseRequest(model: "m", input: "x")).finalResponse { _ in count += 1 }
                    precondition(response.outputText == answer)
                    events = count
                }
                print()
                row("loopback baseline: raw HTTP body, no parsing", seconds: raw, bytes: bytes, events: events)
                row("loopback errand: client.stream → final Response", seconds: full, bytes: bytes, events: events)
            }
        }
    }
}
