import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// The events of a streamed response, as an `AsyncSequence`.
///
/// Iterating sends the request. A stream that breaks after it started (a dropped connection, an idle timeout, an end
/// without a terminal event) is resumed from the last sequence number with
/// `GET /responses/{id}?stream=true&starting_after=N`, without repeating events, when the response can be fetched again:
/// the server said it is a background response, or that it stores it. Otherwise iteration throws a ``ResponsesError`` of
/// kind ``ResponsesError/Kind/streamInterrupted`` that carries what had arrived. Terminal events carry the final
/// response, completed from the streamed items if the server left its output empty.
///
/// Cancelling the iterating task while a background response streams cancels it on the server too (see
/// ``ResponsesClientConfiguration/cancelBackgroundOnCancellation``).
public struct ResponseEventStream: AsyncSequence, Sendable {
    /// Stream elements are typed events.
    public typealias Element = ResponseStreamEvent

    let client: ResponsesClient
    let request: CreateResponseRequest
    /// Whether the terminal response keeps what the server echoes of the request.
    var echoes = true

    /// Starts the request when first iterated.
    public func makeAsyncIterator() -> Iterator {
        Iterator(client: client, request: request, echoes: echoes)
    }

    /// Reads the whole stream, calling `onEvent` for each event, and returns the final response.
    public func finalResponse(
        isolation: isolated (any Actor)? = #isolation, onEvent: (ResponseStreamEvent) async throws -> Void = { _ in }
    ) async throws -> Response {
        var iterator = makeAsyncIterator()
        while let event = try await iterator.next(isolation: isolation) {
            try await onEvent(event)
        }
        return iterator.accumulator.snapshot()
    }

    /// Pulls events: one HTTP body, parsed buffer by buffer, with resumption on a break.
    public struct Iterator: AsyncIteratorProtocol {
        let client: ResponsesClient
        let request: CreateResponseRequest
        private var body: HTTPClientResponse.Body.AsyncIterator?
        private var parser = ServerSentEventParser()
        private var pending: [ResponseStreamEvent] = []
        private var pendingIndex = 0
        private var started = false
        private var finished = false
        private var resumes = 0
        /// Whether the stored response was fetched once already because the body ended without a terminal event.
        private var fetchedAfterEnd = false
        private var lastSequenceNumber: Int?
        private var eventCount = 0
        /// Every server-sent message read, unreadable ones included (for positions in messages).
        private var messageCount = 0
        /// The first message whose data could not be read, and how many could not: skipped, but named if the stream
        /// then ends without its terminal event.
        private var firstUnreadable: String?
        private var unreadableCount = 0
        private var requestID: String?
        /// The response as far as the stream has told it.
        public private(set) var accumulator = ResponseAccumulator()
        private let decoder = JSONDecoder()

        init(client: ResponsesClient, request: CreateResponseRequest, echoes: Bool) {
            self.client = client
            self.request = request
            if !echoes { decoder.userInfo[.responseEchoes] = false }
        }

        /// Whether the response can be fetched again, by what the server said of it (`background`, `store`) and,
        /// where it said nothing, by what the request asked.
        var isResumable: Bool {
            if accumulator.isBackground ?? (request.background == true) { return true }
            return request.store != false && accumulator.isStored
        }

        /// The next event, or `nil` after the terminal event.
        public mutating func next() async throws -> ResponseStreamEvent? {
            do {
                return try await nextEvent()
            } catch {
                guard Task.isCancelled || error is CancellationError else { throw error }
                // The caller gave up: a background response would go on running (and billing) on the server.
                if !finished, accumulator.isBackground ?? (request.background == true), let id = accumulator.responseID,
                    client.configuration.cancelBackgroundOnCancellation
                {
                    finished = true
                    await client.cancelAbandoned(id)
                }
                throw CancellationError()
            }
        }

        private mutating func nextEvent() async throws -> ResponseStreamEvent? {
            while true {
                if pendingIndex < pending.count {
                    defer { pendingIndex += 1 }
                    return pending[pendingIndex]
                }
                pending.removeAll(keepingCapacity: true)
                pendingIndex = 0
                if finished { return nil }
                if !started {
                    started = true
                    var request = request
                    request.stream = true
                    let answer = try await client.send(.POST, "/responses", body: try client.encode(request), acceptStream: true)
                    requestID = answer.headers.first(name: "x-request-id")
                    try await open(answer, initial: true)
                    continue  // a whole JSON answer is already pending
                }
                do {
                    guard var body else {
                        if finished { continue }
                        throw ResponsesError(
                            kind: .streamInterrupted, message: "the stream has no body left to read", requestID: requestID,
                            provider: client.provider.name, partialResponse: accumulator.snapshot())
                    }
                    let chunk = try await body.next()
                    self.body = body
                    if let chunk {
                        try consume(chunk)
                    } else {
                        parser.finish()
                        if !finished { try await resume(after: nil) }
                    }
                } catch let error as ResponsesError {
                    throw error
                } catch {
                    if Task.isCancelled || error is CancellationError { throw CancellationError() }
                    try await resume(after: error)
                }
            }
        }

        private mutating func open(_ answer: HTTPClientResponse, initial: Bool) async throws {
            let contentType = answer.headers.first(name: "content-type")?.lowercased() ?? ""
            if !contentType.contains("text/event-stream"), contentType.contains("json") {
                // Some servers ignore `stream: true` and answer with the whole response, or (background mode, or a
                // resume that is answered as a plain GET) with one that is not done yet: poll that one to its end.
                var response = try await client.decodeBody(answer, as: Response.self, echoes: decoder.userInfo[.responseEchoes] as? Bool ?? true)
                if !response.status.isTerminal, !response.id.isEmpty {
                    accumulator.apply(.created(ResponseEvent(sequenceNumber: nil, response: response)))
                    client.logger.debug("a JSON answer to a stream that is not done yet; polling", metadata: ["response_id": "\(response.id)"])
                    response = try await client.waitUntilDone(response.id)
                }
                let event = ResponseStreamEvent.completed(ResponseEvent(sequenceNumber: nil, response: response))
                accumulator.apply(event)
                pending.append(.completed(ResponseEvent(sequenceNumber: nil, response: accumulator.snapshot())))
                finished = true
                body = nil
                return
            }
            parser = ServerSentEventParser(maxEventBytes: client.configuration.maxResponseBytes)
            var iterator = answer.body.makeAsyncIterator()
            if !contentType.contains("text/event-stream") {
                // Not announced as a stream: accept it if it reads as one (a proxy that relabels it), otherwise say
                // what came instead (a proxy's HTML error page, a login form) rather than "no events".
                let first = try await iterator.next()
                let head = first.map { String(buffer: $0) } ?? ""
                let start = head.drop { $0.isWhitespace }
                guard start.hasPrefix("event:") || start.hasPrefix("data:") || start.hasPrefix("id:") || start.hasPrefix(":") else {
                    var failure = ResponsesError(
                        kind: .decoding,
                        message: "the server answered the stream with HTTP \(answer.status.code) and \(contentType.isEmpty ? "no content type" : "content type '\(contentType)'"), "
                            + "not an event stream; it began: \(ResponsesClient.preview(head))",
                        requestID: requestID, provider: client.provider.name)
                    failure.redact(client.provider.apiKey?.value)
                    throw failure
                }
                body = iterator
                if let first { try consume(first) }
                return
            }
            body = iterator
        }

        /// A decoding error in a few words: where and what, without the coding path's dump.
        static func brief(_ error: any Error) -> String {
            switch error as? DecodingError {
            case .dataCorrupted(let context)?:
                let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
                return underlying.map { "\(context.debugDescription) \($0)" } ?? context.debugDescription
            case .keyNotFound(let key, _)?: return "the field '\(key.stringValue)' is missing"
            case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?:
                return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
            default: return "\(error)"
            }
        }

        private mutating func consume(_ chunk: ByteBuffer) throws {
            let messages = chunk.withUnsafeReadableBytes { parser.feed($0) }
            for message in messages {
                if finished { return }
                let data = message.data
                if data.utf8.count <= 10, data.trimmingCharacters(in: .whitespaces) == "[DONE]" {
                    // Chat-style servers end with [DONE]; without a terminal event before it, the streamed items are the answer.
                    if accumulator.finalResponse == nil, accumulator.errors.isEmpty {
                        var response = accumulator.snapshot()
                        response.status = .completed
                        let event = ResponseStreamEvent.completed(ResponseEvent(sequenceNumber: nil, response: response))
                        accumulator.apply(event)
                        pending.append(event)
                    }
                    if accumulator.finalResponse != nil { finished = true }
                    continue
                }
                messageCount += 1
                var event: ResponseStreamEvent
                do {
                    event = try decoder.decode(ResponseStreamEvent.self, from: Data(data.utf8))
                } catch {
                    // Skipped (the stream may still complete), and named if it then ends without its terminal event.
                    let name = message.event.map { "'\($0)'" } ?? "without a name"
                    let account = "message \(messageCount) (event \(name)) could not be read: \(Self.brief(error)); its data began: \(ResponsesClient.preview(data))"
                    unreadableCount += 1
                    if firstUnreadable == nil { firstUnreadable = account }
                    client.logger.warning("skipping a stream event that cannot be read", metadata: ["event": "\(account)"])
                    continue
                }
                if let sequence = event.sequenceNumber {
                    if let last = lastSequenceNumber, sequence <= last { continue }  // already delivered before a resume
                    lastSequenceNumber = sequence
                }
                eventCount += 1
                accumulator.apply(event)
                if let final = accumulator.finalResponse, event.terminalResponse != nil {
                    event = event.carrying(final)
                    finished = true
                    if client.gate.countsTokens { client.gate.record(tokens: final.usage?.totalTokens ?? 0) }
                    client.sharedGate?.record(tokens: final.usage?.totalTokens ?? 0)
                }
                pending.append(event)
            }
            if parser.exceededLimit, !finished {
                // Not resumed: the same event would come again.
                body = nil
                var failure = ResponsesError(
                    kind: .streamInterrupted,
                    message: "a stream event was larger than \(parser.maxEventBytes) bytes (the client's maxResponseBytes) after \(eventCount) events; the stream was abandoned",
                    requestID: requestID, provider: client.provider.name, partialResponse: accumulator.snapshot())
                failure.redact(client.provider.apiKey?.value)
                throw failure
            }
        }

        /// Resumes a stored response's stream after a break, or throws what ended it.
        private mutating func resume(after cause: (any Error)?) async throws {
            body = nil
            parser.finish()
            if cause == nil, let streamError = accumulator.errors.last {
                throw ResponsesError(
                    kind: .streamError, message: "the stream reported an error and ended",
                    providerError: ProviderErrorBody(message: streamError.message, type: streamError.type, param: streamError.param, code: streamError.code),
                    requestID: requestID, provider: client.provider.name, partialResponse: accumulator.snapshot())
            }
            let reason = cause.map { "\(client.connectionError($0, doing: "reading the stream").message)" } ?? "the stream ended before a terminal event"
            if cause == nil, !fetchedAfterEnd, isResumable, let id = accumulator.responseID {
                // The body ended cleanly but said nothing of the end (a server that forgets the terminal event): the
                // stored response says whether it is done, in one GET.
                fetchedAfterEnd = true
                if let fetched = try? await client.retrieve(id), fetched.status.isTerminal {
                    client.logger.notice("the stream ended without a terminal event; the stored response is done", metadata: ["response_id": "\(id)"])
                    let event: ResponseStreamEvent = switch fetched.status {
                    case .failed: .failed(ResponseEvent(sequenceNumber: nil, response: fetched))
                    case .incomplete: .incomplete(ResponseEvent(sequenceNumber: nil, response: fetched))
                    default: .completed(ResponseEvent(sequenceNumber: nil, response: fetched))
                    }
                    accumulator.apply(event)
                    pending.append(event)
                    finished = true
                    return
                }
            }
            guard client.configuration.resumeStreams, isResumable, let id = accumulator.responseID, let last = lastSequenceNumber,
                resumes < client.configuration.maxStreamResumes
            else {
                let why: String
                if resumes > 0 {
                    why = "it was resumed \(resumes) times already"
                } else if !client.configuration.resumeStreams {
                    why = "resuming streams is turned off"
                } else if !isResumable {
                    why = "the server neither stores the response nor runs it in background mode"
                } else if accumulator.responseID == nil {
                    why = "no event named the response's id"
                } else if lastSequenceNumber == nil {
                    why = "the events carry no sequence_number to resume after"
                } else {
                    why = "it cannot be resumed"
                }
                let unread = firstUnreadable.map {
                    "; \(unreadableCount == 1 ? "one message" : "\(unreadableCount) messages") could not be read, the first: \($0)"
                } ?? ""
                var failure = ResponsesError(
                    kind: .streamInterrupted,
                    message: "\(reason) after \(eventCount) events, and it cannot be resumed: \(why)\(unread)",
                    requestID: requestID, provider: client.provider.name, underlying: cause, partialResponse: accumulator.snapshot())
                failure.redact(client.provider.apiKey?.value)
                throw failure
            }
            client.logger.warning(
                "stream broke, resuming", metadata: ["response_id": "\(id)", "starting_after": "\(last)", "reason": "\(reason)"])
            try await Task.sleep(for: client.configuration.retry.delay(attempt: resumes))
            resumes += 1
            let answer: HTTPClientResponse
            do {
                answer = try await client.send(
                    .GET, "/responses/\(id)", query: [("stream", "true"), ("starting_after", String(last))], acceptStream: true)
            } catch let error as ResponsesError {
                // The server said it keeps the response, and does not: what had arrived is still the caller's.
                var failure = ResponsesError(
                    kind: .streamInterrupted, message: "\(reason) after \(eventCount) events, and resuming it failed: \(error.message)",
                    status: error.status, providerError: error.providerError, requestID: error.requestID ?? requestID, provider: client.provider.name,
                    underlying: error, partialResponse: accumulator.snapshot())
                failure.redact(client.provider.apiKey?.value)
                throw failure
            }
            try await open(answer, initial: false)
        }
    }
}
