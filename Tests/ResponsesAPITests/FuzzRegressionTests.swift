import Foundation
import ResponsesAPI
import Testing

/// Inputs the libFuzzer targets in Benchmarks/Fuzz found (`Benchmarks/fuzz.sh`), kept as they were found.
@Suite struct FuzzRegressionTests {
    /// A stream read the way the client reads it: SSE messages decoded into events and folded into the accumulator.
    static func accumulate(_ stream: Data) -> ResponseAccumulator {
        var parser = ServerSentEventParser()
        let messages = parser.feed(Array(stream))
        parser.finish()
        var accumulator = ResponseAccumulator()
        for message in messages {
            if let event = try? JSONDecoder().decode(ResponseStreamEvent.self, from: Data(message.data.utf8)) {
                accumulator.apply(event)
            }
        }
        return accumulator
    }

    /// fuzz-events: a negative `content_index` trapped (array index out of range) in the accumulator, for
    /// `content_part.added`/`.done`, `refusal.done` and the output text events alike; the first is the fuzzer's input,
    /// minimized, the second as it found it.
    @Test(arguments: [
        "ZGF0YTp7InR5cGUiOiJyZXNwb25zZS5yZWZ1c2FsLmRvbmUiLCJjb250ZW50X2luZGV4IjotNX0KCg==",
        "ZXZlZXJ/JWQKZGF0ZTogbrZ1dWlvbiI6eyJ0eXBlIjoidXJsX2NpdGF0aW9uIiwidXJsIjoiaHR0cHM6Ly9leGFtcGxlLmNvbS9oZWxsbyIsInRpdGxlIjoiSGVsbG8iLCJzdGFydF9pbmRleCI6MCwiZW5kX2luZGV4Ijo2fX0KOiJyZXNwb25zZS5vdXRwdWFyZ3VtZW50cyI6IiIsInN0YXR1cyI6ImluX3Byb2dyZXNzIn19CgpldmVudDogcmVzcG9uc2UuY29udGVudF9wYXJ0LmFkZGVkCmRhdGE6IHsidHlwZSI6InJlc3BvbnNlLmNvbnRlbnRfcGFydC5hZGRlZCIsInNlcXVlbmNlX251bWJlciI6NCwiaXRlbV9pZCI6Im0ub3V0cHV0X3RleHQuYW5ub3RhdGlvbi5hZGRlZCIsInNlcXVlbmNlX251bWJlciI6NiwiaXRlbV9pZCI6Im1zZ18xIiwib3V0cHV0X2luZGV4IjowLCJjb250ZW50X2luZGV4IjotMTUsImFubm90YXRpb25faW5kZXgiOjAsImFubm90YXRpb24iOnsidHlwZSI6InVybF9jaXRhdGlvbiIsInVybCI6Imh0dHBzOi8vZXhhbXBsZS5jb20vaGVsbG8iLCJ0aXRsZSI6IkhlbGxvIiwic3RhcnRfaW5kZXgiOjAsImVuZF9pbmRleCI6Nn19Cgpldgo=",
    ])
    func negativeContentIndexFromTheFuzzer(_ base64: String) throws {
        let accumulator = Self.accumulate(try #require(Data(base64Encoded: base64)))
        #expect(accumulator.snapshot().output.isEmpty)
    }

    /// The same for every event that places a part, and a huge index, which allocated every part before it (an
    /// out-of-memory in the fuzzer): such events are ignored, and the events around them still count.
    @Test(arguments: [
        #"{"type":"response.content_part.added","content_index":-1}"#,
        #"{"type":"response.content_part.done","content_index":-3,"part":{"type":"output_text","text":"x"}}"#,
        #"{"type":"response.output_text.delta","content_index":-2,"delta":"x"}"#,
        #"{"type":"response.output_text.done","content_index":-1,"text":"x"}"#,
        #"{"type":"response.refusal.done","content_index":-1,"refusal":"x"}"#,
        #"{"type":"response.output_text.done","content_index":100000000,"text":"x"}"#,
        #"{"type":"response.content_part.added","content_index":9007199254740991}"#,
    ])
    func outOfRangeContentIndexIsIgnored(_ event: String) throws {
        let stream = """
            data: {"type":"response.output_text.delta","output_index":0,"content_index":0,"delta":"Hi"}

            data: \(event)

            data: {"type":"response.output_text.delta","output_index":0,"content_index":0,"delta":"!"}


            """
        let accumulator = Self.accumulate(Data(stream.utf8))
        guard case .message(let message)? = accumulator.snapshot().output.first else {
            Issue.record("no message: \(accumulator.snapshot().output)")
            return
        }
        #expect(message.content.count == 1)
        #expect(message.content.first?.text == "Hi!")
    }

    struct LimitCase: Sendable, CustomTestStringConvertible {
        var limit: Int
        var stream: [UInt8]
        var exceeds: Bool
        var testDescription: String { "\(limit) bytes: \(String(decoding: stream, as: UTF8.self).debugDescription)" }
    }

    /// fuzz-sse: with `maxEventBytes`, a line the parser ignores (an unknown field, a comment) longer than the limit
    /// ended the stream when it arrived in two buffers and not when it arrived in one, and a data line within a few
    /// bytes of the limit likewise (the pending line counted its field name, the whole one only its value). The first
    /// is the fuzzer's input (after its two chunking bytes, which chose an 8-byte limit and the split).
    @Test(arguments: [
        LimitCase(limit: 8, stream: Array(Data(base64Encoded: "//////////8wCg==")!), exceeds: true),
        LimitCase(limit: 16, stream: Array(": a comment longer than sixteen bytes\ndata: x\n\n".utf8), exceeds: true),
        LimitCase(limit: 16, stream: Array("data: 0123456789\n\n".utf8), exceeds: false),
        LimitCase(limit: 16, stream: Array("data: 01234567890\n\n".utf8), exceeds: true),
    ])
    func whetherAnEventIsTooLargeDoesNotDependOnTheBuffers(_ limitCase: LimitCase) {
        var whole = ServerSentEventParser(maxEventBytes: limitCase.limit)
        let expected = whole.feed(limitCase.stream)
        #expect(whole.exceededLimit == limitCase.exceeds)
        for split in 0...limitCase.stream.count {
            var parser = ServerSentEventParser(maxEventBytes: limitCase.limit)
            var events = parser.feed(limitCase.stream[..<split])
            events += parser.feed(limitCase.stream[split...])
            #expect(parser.exceededLimit == whole.exceededLimit, "split at byte \(split)")
            #expect(events == expected, "split at byte \(split)")
        }
    }
}
