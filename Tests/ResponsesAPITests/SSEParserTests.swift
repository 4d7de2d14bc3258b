import Testing

@testable import ResponsesAPI

@Suite struct SSEParserTests {
    private func parse(_ text: String) -> [ServerSentEvent] {
        var parser = ServerSentEventParser()
        let events = parser.feed(Array(text.utf8))
        parser.finish()
        return events
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let input: String
        let expected: [ServerSentEvent]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "LF", input: "event: a\ndata: 1\n\n", expected: [ServerSentEvent(event: "a", data: "1")]),
        Case(name: "CRLF", input: "event: a\r\ndata: 1\r\n\r\n", expected: [ServerSentEvent(event: "a", data: "1")]),
        Case(name: "CR alone", input: "event: a\rdata: 1\r\r", expected: [ServerSentEvent(event: "a", data: "1")]),
        Case(name: "comments are skipped", input: ": keep-alive\n\n:another\ndata: x\n\n", expected: [ServerSentEvent(data: "x")]),
        Case(name: "multi-line data joined with LF", input: "data: one\ndata: two\ndata:\n\n", expected: [ServerSentEvent(data: "one\ntwo\n")]),
        Case(name: "only one leading space is removed", input: "data:  two spaces\ndata:none\n\n", expected: [ServerSentEvent(data: " two spaces\nnone")]),
        Case(name: "an event without data is not dispatched", input: "event: ping\n\ndata: after\n\n", expected: [ServerSentEvent(data: "after")]),
        Case(name: "the event type resets after each event", input: "event: a\ndata: 1\n\ndata: 2\n\n", expected: [ServerSentEvent(event: "a", data: "1"), ServerSentEvent(data: "2")]),
        Case(name: "a trailing unterminated event is discarded", input: "data: 1\n\ndata: 2\n", expected: [ServerSentEvent(data: "1")]),
        Case(name: "a leading BOM is ignored", input: "\u{FEFF}data: 1\n\n", expected: [ServerSentEvent(data: "1")]),
        Case(name: "id persists and retry is read", input: "id: 7\nretry: 1500\ndata: a\n\ndata: b\n\n", expected: [ServerSentEvent(data: "a", id: "7", retry: 1500), ServerSentEvent(data: "b", id: "7")]),
        Case(name: "unknown fields and a field without colon are ignored", input: "foo: bar\ndata\ndata: x\n\n", expected: [ServerSentEvent(data: "\nx")]),
        Case(name: "[DONE] is passed through as data", input: "data: [DONE]\n\n", expected: [ServerSentEvent(data: "[DONE]")]),
        Case(name: "UTF-8 text", input: "data: {\"delta\":\"héllo 月\"}\n\n", expected: [ServerSentEvent(data: "{\"delta\":\"héllo 月\"}")]),
    ]

    @Test(arguments: cases)
    func parsesWholeInput(_ testCase: Case) {
        #expect(parse(testCase.input) == testCase.expected)
    }

    @Test(arguments: cases)
    func parsesTheSameWhateverTheBufferBoundaries(_ testCase: Case) {
        let bytes = Array(testCase.input.utf8)
        for split in 0...bytes.count {
            var parser = ServerSentEventParser()
            var events = parser.feed(bytes[..<split])
            events += parser.feed(bytes[split...])
            parser.finish()
            #expect(events == testCase.expected, "split at byte \(split)")
        }
    }

    @Test func crlfSplitAcrossBuffersIsOneLineEnd() {
        var parser = ServerSentEventParser()
        var events = parser.feed(Array("data: 1\r".utf8))
        events += parser.feed(Array("\n\r".utf8))
        events += parser.feed(Array("\ndata: 2\r\n\r\n".utf8))
        #expect(events.map(\.data) == ["1", "2"])
    }

    @Test func byteByByteFeeding() {
        let text = "event: response.output_text.delta\r\ndata: {\"a\":1}\r\n\r\n: c\r\ndata: x\r\n\r\n"
        var parser = ServerSentEventParser()
        var events: [ServerSentEvent] = []
        for byte in text.utf8 { events += parser.feed([byte]) }
        #expect(events == [ServerSentEvent(event: "response.output_text.delta", data: "{\"a\":1}"), ServerSentEvent(data: "x")])
    }

    /// An event larger than the limit stops the parser, whether it grows in one line that never ends or in many data
    /// lines; events before it are delivered; events up to the limit pass.
    @Test func anEventOverTheLimitStopsTheParser() {
        var endless = ServerSentEventParser(maxEventBytes: 64)
        #expect(endless.feed(Array("data: small\n\ndata: ".utf8)) == [ServerSentEvent(data: "small")])
        for _ in 0..<10 { _ = endless.feed(Array(repeating: UInt8(ascii: "x"), count: 10)) }
        #expect(endless.exceededLimit)
        #expect(endless.feed(Array("\n\ndata: later\n\n".utf8)).isEmpty, "nothing after the overflow")

        var many = ServerSentEventParser(maxEventBytes: 64)
        #expect(many.feed(Array(String(repeating: "data: 0123456789\n", count: 10).utf8)).isEmpty)
        #expect(many.exceededLimit)

        var fits = ServerSentEventParser(maxEventBytes: 64)
        let exact = String(repeating: "y", count: 56)  // the line "data: " + 56 bytes + the LF, within 64
        #expect(fits.feed(Array("data: \(exact)\n\n".utf8)) == [ServerSentEvent(data: exact)])
        #expect(!fits.exceededLimit)
    }

    /// What a client resuming a stream sends as Last-Event-ID: the id of the last whole event, set by an event without
    /// data too (an MCP server's priming event), and never by an event the stream cut before its end.
    @Test func theLastEventIDIsTheLastWholeEventsID() {
        var parser = ServerSentEventParser()
        #expect(parser.feed(Array("id: 1\ndata: \nretry: 100\n\n".utf8)) == [ServerSentEvent(data: "", id: "1", retry: 100)])
        #expect(parser.lastEventID == "1")
        #expect(parser.feed(Array("id: 2\nevent: message\ndata: {\"jsonrpc\":".utf8)).isEmpty)
        #expect(parser.lastEventID == "1", "the event with id 2 was cut before its blank line")
        parser.finish()
        #expect(parser.lastEventID == "1")
        var other = ServerSentEventParser()
        _ = other.feed(Array("id: 7\n\n".utf8))
        #expect(other.lastEventID == "7", "an id alone, without data, is committed at the blank line")
    }
}
