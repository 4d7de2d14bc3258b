import ResponsesAPI

/// The SSE parser fed the same bytes in arbitrary chunks must dispatch exactly the events it dispatches when fed them
/// at once (WHATWG interpretation does not depend on buffer boundaries: CRLF split across buffers, a BOM split, a line
/// carried over several buffers).
///
/// Input: two bytes that seed the chunking, then the stream. Chunk lengths (zero included) come from a small PRNG, so
/// libFuzzer mutates the split points by mutating the seed; the three `feed` overloads are used in turn, the slice one
/// with a non-zero start index. The second byte's high nibble also picks `maxEventBytes` (none, or 8 bytes to 4 KiB):
/// whether a stream exceeds it must not depend on the chunking either.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count >= 2 else { return 0 }
    let input = UnsafeRawBufferPointer(start: start, count: count)
    var state = UInt32(input[0]) << 8 | UInt32(input[1]) | 0x1_0000
    let stream = UnsafeRawBufferPointer(rebasing: input[2...])

    let limits = [8, 16, 32, 64, 128, 256, 1024, 4096]
    let choice = Int(input[1] >> 4)
    let limit = choice < 8 ? Int.max : limits[choice - 8]

    var oneShot = ServerSentEventParser(maxEventBytes: limit)
    let expected = oneShot.feed(stream)
    oneShot.finish()

    // The largest chunk: 1, 2, 4, … 128 bytes, or the whole remainder, by the seed's low bits.
    let shift = state & 0xF
    let maxChunk = shift < 8 ? 1 << shift : stream.count + 1
    var chunked = ServerSentEventParser(maxEventBytes: limit)
    var events: [ServerSentEvent] = []
    var offset = 0
    var turn = 0
    while offset < stream.count {
        state ^= state << 13
        state ^= state >> 17
        state ^= state << 5
        let length = min(Int(state % UInt32(maxChunk + 1)), stream.count - offset)
        let chunk = UnsafeRawBufferPointer(rebasing: stream[offset..<(offset + length)])
        switch turn % 3 {
        case 0:
            events += chunked.feed(chunk)
        case 1:
            events += chunked.feed(Array(chunk))
        default:
            let padded = [0x7A] + Array(chunk) + [0x7A]
            events += chunked.feed(padded[1..<(padded.count - 1)])
        }
        offset += length
        turn += 1
    }
    chunked.finish()

    if chunked.exceededLimit != oneShot.exceededLimit {
        fatalError("maxEventBytes \(limit): the chunked parse \(chunked.exceededLimit ? "exceeded" : "kept within") the limit, the one-shot parse \(oneShot.exceededLimit ? "exceeded" : "kept within") it")
    }
    if events != expected {
        fatalError("chunked parse differs from one-shot parse: \(events.count) vs \(expected.count) events; first difference at \(zip(events, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(events.count, expected.count))")
    }
    for event in expected {
        // A dispatched event always had a data line; a retry is only read from digits.
        precondition(event.retry.map { $0 >= 0 } ?? true, "negative retry")
        precondition(event.event.map { !$0.isEmpty } ?? true, "an empty event type must read as nil")
    }
    return 0
}
