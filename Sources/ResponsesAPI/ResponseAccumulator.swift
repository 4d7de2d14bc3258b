/// Folds stream events into the response they describe, tolerating what servers leave out: a `.done` without
/// deltas, `function_call_arguments.done` without `name`, deltas without an `output_item.added`, and a terminal event
/// whose response carries no output (the items seen in the stream fill it in).
public struct ResponseAccumulator: Sendable {
    private var base: Response?
    private var items: [Int: OutputItem] = [:]
    /// The terminal response, once a terminal event has arrived.
    public private(set) var finalResponse: Response?
    /// The text deltas seen so far, concatenated.
    public private(set) var streamedText = ""
    /// The error events seen so far.
    public private(set) var errors: [ErrorEvent] = []

    /// Creates an empty accumulator.
    public init() {}

    /// The response id, once the stream has named it.
    public var responseID: String? {
        if let id = finalResponse?.id ?? base?.id, !id.isEmpty { return id }
        return nil
    }

    /// Whether the store flag of the response allows retrieving it later (unknown counts as yes).
    public var isStored: Bool { (finalResponse ?? base)?.store ?? true }

    /// Whether the server said this is a background response (`nil` when it did not say).
    public var isBackground: Bool? { (finalResponse ?? base)?.background }

    /// Applies one event.
    public mutating func apply(_ event: ResponseStreamEvent) {
        switch event {
        case .created(let e), .inProgress(let e), .queued(let e):
            base = e.response
        case .completed(let e), .incomplete(let e), .failed(let e):
            finalResponse = complete(e.response)
        case .outputItemAdded(let e):
            items[e.outputIndex] = e.item
        case .outputItemDone(let e):
            items[e.outputIndex] = merged(done: e.item, seen: items[e.outputIndex])
        case .outputTextDelta(let e):
            streamedText += e.delta
            updateText(at: e.outputIndex, contentIndex: e.contentIndex ?? 0, itemID: e.itemID) { $0 += e.delta }
        case .outputTextDone(let e):
            updateText(at: e.outputIndex, contentIndex: e.contentIndex ?? 0, itemID: e.itemID) { $0 = e.text }
        case .contentPartAdded(let e), .contentPartDone(let e):
            guard Self.isContentIndex(e.contentIndex) else { break }
            updateMessage(at: e.outputIndex, itemID: e.itemID) { message in
                while message.content.count <= e.contentIndex { message.content.append(.text(OutputText(text: ""))) }
                if case .text(let part) = e.part, part.text.isEmpty, message.content[e.contentIndex].text?.isEmpty == false { return }
                message.content[e.contentIndex] = e.part
            }
        case .refusalDone(let e):
            guard Self.isContentIndex(e.contentIndex ?? 0) else { break }
            updateMessage(at: e.outputIndex, itemID: e.itemID) { message in
                let index = e.contentIndex ?? 0
                while message.content.count <= index { message.content.append(.refusal("")) }
                message.content[index] = .refusal(e.text)
            }
        case .functionCallArgumentsDelta(let e):
            updateCall(at: e.outputIndex, itemID: e.itemID) { $0.arguments += e.delta }
        case .functionCallArgumentsDone(let e):
            updateCall(at: e.outputIndex, itemID: e.itemID) { call in
                call.arguments = e.arguments
                if let name = e.name, !name.isEmpty { call.name = name }
            }
        case .error(let e):
            errors.append(e)
        default:
            break
        }
    }

    /// The response as far as the stream has told it: the terminal response, or the items seen so far.
    public func snapshot() -> Response {
        if let finalResponse { return finalResponse }
        var response = base ?? Response(id: "", status: .inProgress)
        response.output = items.keys.sorted().compactMap { items[$0] }
        return response
    }

    private func complete(_ terminal: Response) -> Response {
        var response = terminal
        if response.id.isEmpty, let id = base?.id { response.id = id }
        let seen = items.keys.sorted().compactMap { items[$0] }
        if response.output.isEmpty {
            response.output = seen
        } else {
            // Names missing from the terminal output's calls are taken from the stream.
            for index in response.output.indices {
                guard case .functionCall(var call) = response.output[index], call.name.isEmpty else { continue }
                for case .functionCall(let other) in seen where other.callID == call.callID || other.id == call.id {
                    call.name = other.name
                }
                response.output[index] = .functionCall(call)
            }
        }
        if response.usage == nil { response.usage = base?.usage }
        return response
    }

    /// Whether a server's `content_index` can name a part: a negative one names none (and would trap), and a huge one
    /// would have the parts before it allocated (a message has a part or two). Events with other indexes are ignored.
    static func isContentIndex(_ index: Int) -> Bool { (0..<1024).contains(index) }

    private func merged(done: OutputItem, seen: OutputItem?) -> OutputItem {
        switch (done, seen) {
        case (.functionCall(var call), .functionCall(let earlier)?):
            if call.name.isEmpty { call.name = earlier.name }
            if call.arguments.isEmpty { call.arguments = earlier.arguments }
            if call.callID.isEmpty { call.callID = earlier.callID }
            return .functionCall(call)
        case (.message(var message), .message(let earlier)?) where message.content.isEmpty:
            message.content = earlier.content
            return .message(message)
        default:
            return done
        }
    }

    private mutating func updateMessage(at index: Int, itemID: String?, _ change: (inout OutputMessage) -> Void) {
        // Taken out of the dictionary first, so that the text is uniquely referenced and appended in place.
        var message: OutputMessage
        if case .message(let existing)? = items.removeValue(forKey: index) {
            message = existing
        } else {
            message = OutputMessage(id: itemID, status: "in_progress", content: [])
        }
        change(&message)
        items[index] = .message(message)
    }

    private mutating func updateText(at index: Int, contentIndex: Int, itemID: String?, _ change: (inout String) -> Void) {
        guard Self.isContentIndex(contentIndex) else { return }
        updateMessage(at: index, itemID: itemID) { message in
            while message.content.count <= contentIndex { message.content.append(.text(OutputText(text: ""))) }
            var part: OutputText
            if case .text(let existing) = message.content[contentIndex] { part = existing } else { part = OutputText(text: "") }
            message.content[contentIndex] = .refusal("")  // drop the array's reference to the text before changing it
            change(&part.text)
            message.content[contentIndex] = .text(part)
        }
    }

    private mutating func updateCall(at index: Int, itemID: String?, _ change: (inout FunctionCall) -> Void) {
        var call: FunctionCall
        if case .functionCall(let existing)? = items.removeValue(forKey: index) {
            call = existing
        } else {
            call = FunctionCall(id: itemID, callID: itemID ?? "", name: "", arguments: "", status: "in_progress")
        }
        change(&call)
        items[index] = .functionCall(call)
    }
}
