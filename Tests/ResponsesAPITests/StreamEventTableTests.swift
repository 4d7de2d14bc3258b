import Foundation
import Testing

@testable import ResponsesAPI

/// One example of every stream event type in the wire reference, decoded into its typed case.
@Suite struct StreamEventTableTests {
    static let lines: [String] = {
        guard let url = Bundle.module.url(forResource: "stream-events", withExtension: "jsonl", subdirectory: "Fixtures"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else { return [] }
        return text.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }()

    static func type(of line: String) -> String {
        (try? JSONValue(parsing: line))?["type"]?.stringValue ?? "?"
    }

    /// The case each type must decode into.
    static func caseName(_ event: ResponseStreamEvent) -> String {
        switch event {
        case .created: "created"
        case .inProgress: "inProgress"
        case .queued: "queued"
        case .completed: "completed"
        case .incomplete: "incomplete"
        case .failed: "failed"
        case .outputItemAdded: "outputItemAdded"
        case .outputItemDone: "outputItemDone"
        case .contentPartAdded: "contentPartAdded"
        case .contentPartDone: "contentPartDone"
        case .outputTextDelta: "outputTextDelta"
        case .outputTextDone: "outputTextDone"
        case .outputTextAnnotationAdded: "outputTextAnnotationAdded"
        case .refusalDelta: "refusalDelta"
        case .refusalDone: "refusalDone"
        case .functionCallArgumentsDelta: "functionCallArgumentsDelta"
        case .functionCallArgumentsDone: "functionCallArgumentsDone"
        case .reasoningSummaryPartAdded: "reasoningSummaryPartAdded"
        case .reasoningSummaryPartDone: "reasoningSummaryPartDone"
        case .reasoningSummaryTextDelta: "reasoningSummaryTextDelta"
        case .reasoningSummaryTextDone: "reasoningSummaryTextDone"
        case .reasoningTextDelta: "reasoningTextDelta"
        case .reasoningTextDone: "reasoningTextDone"
        case .audioDelta: "audioDelta"
        case .audioDone: "audioDone"
        case .audioTranscriptDelta: "audioTranscriptDelta"
        case .audioTranscriptDone: "audioTranscriptDone"
        case .hostedToolCall: "hostedToolCall"
        case .error: "error"
        case .unknown: "unknown"
        }
    }

    static let expectedCase: [String: String] = [
        "response.created": "created", "response.in_progress": "inProgress", "response.queued": "queued",
        "response.completed": "completed", "response.incomplete": "incomplete", "response.failed": "failed",
        "response.output_item.added": "outputItemAdded", "response.output_item.done": "outputItemDone",
        "response.content_part.added": "contentPartAdded", "response.content_part.done": "contentPartDone",
        "response.output_text.delta": "outputTextDelta", "response.output_text.done": "outputTextDone",
        "response.output_text.annotation.added": "outputTextAnnotationAdded", "response.refusal.delta": "refusalDelta",
        "response.refusal.done": "refusalDone", "response.function_call_arguments.delta": "functionCallArgumentsDelta",
        "response.function_call_arguments.done": "functionCallArgumentsDone",
        "response.reasoning_summary_part.added": "reasoningSummaryPartAdded", "response.reasoning_summary_part.done": "reasoningSummaryPartDone",
        "response.reasoning_summary_text.delta": "reasoningSummaryTextDelta", "response.reasoning_summary_text.done": "reasoningSummaryTextDone",
        "response.reasoning_text.delta": "reasoningTextDelta", "response.reasoning_text.done": "reasoningTextDone",
        "response.audio.delta": "audioDelta", "response.audio.done": "audioDone",
        "response.audio.transcript.delta": "audioTranscriptDelta", "response.audio.transcript.done": "audioTranscriptDone",
        "error": "error",
    ]

    @Test func theFixtureHasEveryTypeOnce() {
        let types = Self.lines.map(Self.type(of:))
        #expect(types.count == 58)
        #expect(Set(types).count == types.count)
        let expected = Set(Self.expectedCase.keys).union(ResponseStreamEvent.hostedToolCallEventTypes)
        #expect(Set(types) == expected)
    }

    @Test(arguments: lines)
    func decodesIntoItsTypedCase(_ line: String) throws {
        let type = Self.type(of: line)
        let event = try JSONDecoder().decode(ResponseStreamEvent.self, from: Data(line.utf8))
        let expected = Self.expectedCase[type] ?? "hostedToolCall"
        #expect(Self.caseName(event) == expected, "\(type)")
        #expect(event.sequenceNumber != nil, "\(type) keeps its sequence number")
        if case .hostedToolCall(let hosted) = event {
            #expect(hosted.type == type)
            #expect("response.\(hosted.tool).\(hosted.phase)" == type)
        }
    }

    @Test func payloadsAreRead() throws {
        func decode(_ json: String) throws -> ResponseStreamEvent {
            try JSONDecoder().decode(ResponseStreamEvent.self, from: Data(json.utf8))
        }
        guard case .outputTextDelta(let delta) = try decode(#"{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":1,"content_index":0,"delta":"Hi","obfuscation":"x"}"#) else {
            Issue.record("not a text delta")
            return
        }
        #expect(delta == DeltaEvent(sequenceNumber: 4, itemID: "msg_1", outputIndex: 1, contentIndex: 0, delta: "Hi"))
        guard case .functionCallArgumentsDone(let done) = try decode(#"{"type":"response.function_call_arguments.done","item_id":"fc_1","output_index":0,"arguments":"{\"a\":1}","name":"f"}"#) else {
            Issue.record("not arguments done")
            return
        }
        #expect(done.name == "f")
        #expect(done.arguments == #"{"a":1}"#)
        guard case .completed(let completed) = try decode(#"{"type":"response.completed","sequence_number":9,"response":{"id":"resp_1","status":"completed","output":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"ok","annotations":[]}]}]}}"#) else {
            Issue.record("not completed")
            return
        }
        #expect(completed.response.outputText == "ok")
    }

    @Test func unknownTypesAndBrokenPayloadsNeverThrow() throws {
        let unknown = try JSONDecoder().decode(ResponseStreamEvent.self, from: Data(#"{"type":"response.brand_new.thing","x":[1,2]}"#.utf8))
        #expect(unknown == .unknown(type: "response.brand_new.thing", raw: ["type": "response.brand_new.thing", "x": [1, 2]]))
        // A known type whose payload does not fit its shape is kept raw instead of failing the stream.
        let broken = try JSONDecoder().decode(ResponseStreamEvent.self, from: Data(#"{"type":"response.output_item.added","item":"not an object"}"#.utf8))
        guard case .unknown(let type, _) = broken else {
            Issue.record("expected unknown, got \(broken)")
            return
        }
        #expect(type == "response.output_item.added")
    }
}
