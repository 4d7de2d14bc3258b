import Foundation
import ResponsesAPI

/// A server-sent event stream read the way `ResponseEventStream` reads one: each message's data decoded as a
/// `ResponseStreamEvent` (undecodable ones skipped, `[DONE]` completing the response, sequence numbers deduplicated),
/// applied to a `ResponseAccumulator`, the terminal event's response replaced by the accumulated one; then the
/// snapshot, encoded and read back as the journal would. Nothing may trap. An odd first byte decodes without echoes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: start, count: count)
    var parser = ServerSentEventParser()
    let messages = parser.feed(input)
    parser.finish()

    let decoder = JSONDecoder()
    if let first = input.first, first & 1 == 1 { decoder.userInfo[.responseEchoes] = false }
    var accumulator = ResponseAccumulator()
    var lastSequenceNumber: Int?
    var delivered: [ResponseStreamEvent] = []
    for message in messages {
        let data = message.data
        if data.utf8.count <= 10, data.trimmingCharacters(in: .whitespaces) == "[DONE]" {
            if accumulator.finalResponse == nil, accumulator.errors.isEmpty {
                var response = accumulator.snapshot()
                response.status = .completed
                accumulator.apply(.completed(ResponseEvent(sequenceNumber: nil, response: response)))
            }
            if accumulator.finalResponse != nil { break }
            continue
        }
        guard var event = try? decoder.decode(ResponseStreamEvent.self, from: Data(data.utf8)) else { continue }
        if let sequence = event.sequenceNumber {
            if let last = lastSequenceNumber, sequence <= last { continue }
            lastSequenceNumber = sequence
        }
        accumulator.apply(event)
        if let final = accumulator.finalResponse, event.terminalResponse != nil {
            switch event {
            case .completed(let e): event = .completed(ResponseEvent(sequenceNumber: e.sequenceNumber, response: final))
            case .incomplete(let e): event = .incomplete(ResponseEvent(sequenceNumber: e.sequenceNumber, response: final))
            case .failed(let e): event = .failed(ResponseEvent(sequenceNumber: e.sequenceNumber, response: final))
            default: break
            }
            delivered.append(event)
            break
        }
        if case .hostedToolCall(let call) = event { _ = (call.tool, call.phase, call.delta) }
        _ = event.response
        delivered.append(event)
    }
    let snapshot = accumulator.snapshot()
    _ = (accumulator.responseID, accumulator.isStored, accumulator.isBackground, accumulator.streamedText.utf8.count)
    _ = snapshot.output.count
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    if let encoded = try? encoder.encode(snapshot) {
        _ = try? JSONDecoder().decode(Response.self, from: encoded)
    }
    return 0
}
