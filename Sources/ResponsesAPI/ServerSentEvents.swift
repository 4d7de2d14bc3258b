// Written by hand: the trusted SSE decoder (OpenAPIRuntime's) is an AsyncSequence adaptor over a whole body, not a
// synchronous parser that a resumable stream can feed buffer by buffer, and taking swift-openapi-runtime for ~100 lines
// would add a dependency tree to every build. This follows the WHATWG "event stream interpretation" rules exactly.

/// One dispatched server-sent event.
public struct ServerSentEvent: Sendable, Hashable {
    /// The `event:` field; `nil` when absent (the WHATWG default type is `message`).
    public var event: String?
    /// The `data:` lines joined with `\n`.
    public var data: String
    /// The last `id:` seen so far in the stream.
    public var id: String?
    /// The `retry:` reconnection time in milliseconds, when this event set one.
    public var retry: Int?

    /// Creates an event.
    public init(event: String? = nil, data: String, id: String? = nil, retry: Int? = nil) {
        self.event = event
        self.data = data
        self.id = id
        self.retry = retry
    }
}

/// A synchronous server-sent events parser fed whole buffers (WHATWG rules): CR, LF or CRLF line ends (also split
/// across buffers), `:` comments, multi-line `data:`, one optional space after the colon, a leading BOM, `[DONE]`
/// not needed, and an unterminated trailing event discarded at the end of the stream.
///
/// It scans each buffer for line ends and handles whole lines as slices of the buffer; only a line split across two
/// buffers is copied.
public struct ServerSentEventParser: Sendable {
    private var carry: [UInt8] = []
    private var lastWasCR = false
    private var atStart = true
    private var eventType: String?
    private var data: [UInt8] = []
    private var hasData = false
    /// The id of the last whole event (`id:`), which a client resuming the stream sends as `Last-Event-ID`: kept across
    /// events and set by an event without data too, but not by an event the stream cut before its blank line (WHATWG's
    /// "last event ID string", committed at dispatch).
    public private(set) var lastEventID: String?
    private var idBuffer: String?
    private var retry: Int?
    /// The most bytes one event (its lines, pending or gathered) may take.
    public let maxEventBytes: Int
    /// Set when an event grew past ``maxEventBytes``: the parser then ignores the rest of the stream.
    public private(set) var exceededLimit = false

    /// Creates a parser at the start of a stream, for events of at most `maxEventBytes` bytes.
    public init(maxEventBytes: Int = .max) {
        self.maxEventBytes = maxEventBytes
    }

    /// Feeds bytes and returns the events they complete, in order.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        if exceededLimit { return events }
        let count = bytes.count
        var lineStart = 0
        var index = 0
        while index < count {
            let byte = bytes[index]
            guard byte == Self.lf || byte == Self.cr else {
                index += 1
                continue
            }
            if byte == Self.lf, lastWasCR, index == lineStart, carry.isEmpty {
                // The LF of a CRLF whose CR ended the previous line (possibly in the previous buffer).
                lastWasCR = false
                index += 1
                lineStart = index
                continue
            }
            if exceededLimit { return events }
            if carry.isEmpty {
                processLine(UnsafeRawBufferPointer(rebasing: bytes[lineStart..<index]), into: &events)
            } else {
                carry.append(contentsOf: bytes[lineStart..<index])
                let line = carry
                carry.removeAll(keepingCapacity: true)
                line.withUnsafeBytes { processLine($0, into: &events) }
            }
            lastWasCR = byte == Self.cr
            index += 1
            lineStart = index
        }
        if exceededLimit { return events }
        if lineStart < count {
            // A line without its end yet: kept, unless it alone is already too large.
            guard carry.count + data.count + (count - lineStart) <= maxEventBytes else {
                overflow()
                return events
            }
            carry.append(contentsOf: bytes[lineStart..<count])
            lastWasCR = false
        }
        return events
    }

    /// Feeds bytes and returns the events they complete, in order.
    public mutating func feed(_ bytes: [UInt8]) -> [ServerSentEvent] {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// Feeds bytes and returns the events they complete, in order.
    public mutating func feed(_ bytes: ArraySlice<UInt8>) -> [ServerSentEvent] {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// Ends the stream: an event without its blank line is discarded, as WHATWG requires.
    public mutating func finish() {
        carry.removeAll()
        data.removeAll()
        hasData = false
        eventType = nil
    }

    private static let lf = UInt8(ascii: "\n")
    private static let cr = UInt8(ascii: "\r")
    private static let colon = UInt8(ascii: ":")
    private static let space = UInt8(ascii: " ")

    private static func equals(_ bytes: UnsafeRawBufferPointer, _ name: StaticString) -> Bool {
        guard bytes.count == name.utf8CodeUnitCount else { return false }
        let expected = UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        return bytes.elementsEqual(expected)
    }

    private mutating func processLine(_ raw: UnsafeRawBufferPointer, into events: inout [ServerSentEvent]) {
        // Every line counts, as it does while it is pending: whether an event is too large must not depend on where
        // the buffers break (a long comment or unknown field split across two overflowed, whole it did not).
        guard data.count + raw.count <= maxEventBytes else {
            overflow()
            return
        }
        var line = raw
        if atStart {
            // A UTF-8 byte order mark before the first line is not part of it.
            atStart = false
            if line.count >= 3, line[0] == 0xEF, line[1] == 0xBB, line[2] == 0xBF {
                line = UnsafeRawBufferPointer(rebasing: line[3...])
            }
        }
        if line.isEmpty {
            dispatch(into: &events)
            return
        }
        if line[0] == Self.colon { return }
        let field: UnsafeRawBufferPointer
        let value: UnsafeRawBufferPointer
        if let colon = line.firstIndex(of: Self.colon) {
            field = UnsafeRawBufferPointer(rebasing: line[..<colon])
            var valueStart = colon + 1
            if valueStart < line.count, line[valueStart] == Self.space { valueStart += 1 }
            value = UnsafeRawBufferPointer(rebasing: line[valueStart...])
        } else {
            field = line
            value = UnsafeRawBufferPointer(start: nil, count: 0)
        }
        if Self.equals(field, "data") {
            // Within the limit: the whole line, `data:` and all, was counted above.
            if hasData { data.append(Self.lf) }
            data.append(contentsOf: value)
            hasData = true
        } else if Self.equals(field, "event") {
            eventType = String(decoding: value, as: UTF8.self)
        } else if Self.equals(field, "id") {
            if !value.contains(0) { idBuffer = String(decoding: value, as: UTF8.self) }
        } else if Self.equals(field, "retry") {
            if !value.isEmpty, value.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
                retry = Int(String(decoding: value, as: UTF8.self))
            }
        }
    }

    private mutating func overflow() {
        exceededLimit = true
        carry = []
        data = []
        hasData = false
    }

    private mutating func dispatch(into events: inout [ServerSentEvent]) {
        defer {
            data.removeAll(keepingCapacity: true)
            hasData = false
            eventType = nil
            retry = nil
        }
        lastEventID = idBuffer
        guard hasData else { return }
        let type = (eventType?.isEmpty ?? true) ? nil : eventType
        events.append(ServerSentEvent(event: type, data: String(decoding: data, as: UTF8.self), id: idBuffer, retry: retry))
    }
}
