import Foundation

/// The keys of the text events, position and payload together, so that each event is read from one container.
enum TextEventKey: String, CodingKey {
    case sequenceNumber = "sequence_number", itemID = "item_id", outputIndex = "output_index", contentIndex = "content_index"
    case summaryIndex = "summary_index", delta, text, refusal, arguments, transcript
}

/// Where an event points: the fields most stream events share.
struct EventLocation {
    var sequenceNumber: Int?
    var itemID: String?
    var outputIndex: Int
    var contentIndex: Int?
    var summaryIndex: Int?

    init(_ container: KeyedDecodingContainer<TextEventKey>) {
        sequenceNumber = try? container.decodeIfPresent(Int.self, forKey: .sequenceNumber)
        itemID = try? container.decodeIfPresent(String.self, forKey: .itemID)
        outputIndex = (try? container.decodeIfPresent(Int.self, forKey: .outputIndex)) ?? 0
        contentIndex = try? container.decodeIfPresent(Int.self, forKey: .contentIndex)
        summaryIndex = try? container.decodeIfPresent(Int.self, forKey: .summaryIndex)
    }
}

/// A lifecycle event that carries the whole response (`response.created`, `.in_progress`, `.queued`, `.completed`, `.incomplete`, `.failed`).
public struct ResponseEvent: Decodable, Sendable, Hashable {
    /// The event's position in the stream, when the server numbers events.
    public var sequenceNumber: Int?
    /// The response as of this event.
    public var response: Response

    /// Creates the event.
    public init(sequenceNumber: Int?, response: Response) {
        self.sequenceNumber = sequenceNumber
        self.response = response
    }

    enum CodingKeys: String, CodingKey { case sequenceNumber = "sequence_number", response }

    /// Decodes the event; a missing `response` reads as an empty one (some servers send bare terminal events).
    public init(from decoder: any Decoder) throws {
        try self.init(from: decoder, progress: false)
    }

    /// Decodes the event; a progress event (`created`, `in_progress`, `queued`) without what the server echoes of the
    /// request, which the terminal event carries again.
    init(from decoder: any Decoder, progress: Bool) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sequenceNumber = try? container.decodeIfPresent(Int.self, forKey: .sequenceNumber)
        let response = progress ? try container.decodeIfPresent(Progress.self, forKey: .response)?.response : try container.decodeIfPresent(Response.self, forKey: .response)
        self.response = response ?? Response(id: "", status: .inProgress)
    }

    /// A response as a progress event carries it.
    private struct Progress: Decodable {
        var response: Response
        init(from decoder: any Decoder) throws { response = try Response(from: decoder, keepingEchoes: false) }
    }
}

/// An output item was added or finished (`response.output_item.added` / `.done`).
public struct OutputItemEvent: Decodable, Sendable, Hashable {
    /// The event's position in the stream.
    public var sequenceNumber: Int?
    /// The item's index in `output`.
    public var outputIndex: Int
    /// The item.
    public var item: OutputItem

    enum CodingKeys: String, CodingKey { case sequenceNumber = "sequence_number", outputIndex = "output_index", item }

    /// Decodes the event.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sequenceNumber = try? container.decodeIfPresent(Int.self, forKey: .sequenceNumber)
        outputIndex = try container.decodeIfPresent(Int.self, forKey: .outputIndex) ?? 0
        item = try container.decode(OutputItem.self, forKey: .item)
    }
}

/// A content part was added or finished (`response.content_part.added` / `.done`).
public struct ContentPartEvent: Decodable, Sendable, Hashable {
    /// The event's position in the stream.
    public var sequenceNumber: Int?
    /// The message item's id.
    public var itemID: String?
    /// The item's index in `output`.
    public var outputIndex: Int
    /// The part's index in the message's content.
    public var contentIndex: Int
    /// The part.
    public var part: OutputContent

    enum CodingKeys: String, CodingKey {
        case sequenceNumber = "sequence_number", itemID = "item_id", outputIndex = "output_index", contentIndex = "content_index", part
    }

    /// Decodes the event.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sequenceNumber = try? container.decodeIfPresent(Int.self, forKey: .sequenceNumber)
        itemID = try container.decodeIfPresent(String.self, forKey: .itemID)
        outputIndex = try container.decodeIfPresent(Int.self, forKey: .outputIndex) ?? 0
        contentIndex = try container.decodeIfPresent(Int.self, forKey: .contentIndex) ?? 0
        part = try container.decodeIfPresent(OutputContent.self, forKey: .part) ?? .text(OutputText(text: ""))
    }
}

/// A piece of streamed text: output text, refusal, function arguments, reasoning, audio (`….delta`).
public struct DeltaEvent: Decodable, Sendable, Hashable {
    /// The event's position in the stream.
    public var sequenceNumber: Int?
    /// The item's id.
    public var itemID: String?
    /// The item's index in `output`.
    public var outputIndex: Int
    /// The content part's index, for content deltas.
    public var contentIndex: Int?
    /// The summary part's index, for reasoning summary deltas.
    public var summaryIndex: Int?
    /// The new text.
    public var delta: String

    /// Creates a delta.
    public init(sequenceNumber: Int? = nil, itemID: String? = nil, outputIndex: Int = 0, contentIndex: Int? = nil, summaryIndex: Int? = nil, delta: String) {
        self.sequenceNumber = sequenceNumber
        self.itemID = itemID
        self.outputIndex = outputIndex
        self.contentIndex = contentIndex
        self.summaryIndex = summaryIndex
        self.delta = delta
    }

    /// Decodes the event; a missing delta reads as empty.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: TextEventKey.self)
        let location = EventLocation(container)
        (sequenceNumber, itemID, outputIndex) = (location.sequenceNumber, location.itemID, location.outputIndex)
        (contentIndex, summaryIndex) = (location.contentIndex, location.summaryIndex)
        delta = try container.decodeIfPresent(String.self, forKey: .delta) ?? ""
    }
}

/// The whole of a streamed text once it is finished (`….done`): `text`, `refusal`, `arguments` or `transcript`, whichever the event carries.
public struct DoneEvent: Decodable, Sendable, Hashable {
    /// The event's position in the stream.
    public var sequenceNumber: Int?
    /// The item's id.
    public var itemID: String?
    /// The item's index in `output`.
    public var outputIndex: Int
    /// The content part's index, for content events.
    public var contentIndex: Int?
    /// The summary part's index, for reasoning summary events.
    public var summaryIndex: Int?
    /// The finished text (empty for events that carry none, such as `response.audio.done`).
    public var text: String

    /// Decodes the event.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: TextEventKey.self)
        let location = EventLocation(container)
        (sequenceNumber, itemID, outputIndex) = (location.sequenceNumber, location.itemID, location.outputIndex)
        (contentIndex, summaryIndex) = (location.contentIndex, location.summaryIndex)
        text = try container.decodeIfPresent(String.self, forKey: .text)
            ?? container.decodeIfPresent(String.self, forKey: .refusal)
            ?? container.decodeIfPresent(String.self, forKey: .arguments)
            ?? container.decodeIfPresent(String.self, forKey: .transcript) ?? ""
    }
}

/// A function call's arguments are complete (`response.function_call_arguments.done`). `name` is often absent on the wire.
public struct FunctionCallArgumentsDoneEvent: Decodable, Sendable, Hashable {
    /// The event's position in the stream.
    public var sequenceNumber: Int?
    /// The function call item's id.
    public var itemID: String?
    /// The item's index in `output`.
    public var outputIndex: Int
    /// The function name, when the server sends it (the spec requires it; OpenAI and Azure omit it).
    public var name: String?
    /// The complete arguments JSON string.
    public var arguments: String

    enum CodingKeys: String, CodingKey {
        case sequenceNumber = "sequence_number", itemID = "item_id", outputIndex = "output_index", name, arguments
    }

    /// Decodes the event.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sequenceNumber = try? container.decodeIfPresent(Int.self, forKey: .sequenceNumber)
        itemID = try container.decodeIfPresent(String.self, forKey: .itemID)
        outputIndex = try container.decodeIfPresent(Int.self, forKey: .outputIndex) ?? 0
        name = try container.decodeIfPresent(String.self, forKey: .name)
        if let text = try? container.decodeIfPresent(String.self, forKey: .arguments) {
            arguments = text
        } else {
            arguments = try container.decodeIfPresent(JSONValue.self, forKey: .arguments)?.jsonString ?? ""
        }
    }
}

/// An annotation was added to output text (`response.output_text.annotation.added`).
public struct AnnotationEvent: Decodable, Sendable, Hashable {
    /// The event's position in the stream.
    public var sequenceNumber: Int?
    /// The message item's id.
    public var itemID: String?
    /// The item's index in `output`.
    public var outputIndex: Int
    /// The content part's index.
    public var contentIndex: Int
    /// The annotation's index in the part.
    public var annotationIndex: Int
    /// The annotation (`url_citation`, `file_citation`, …) as sent.
    public var annotation: JSONValue

    enum CodingKeys: String, CodingKey {
        case sequenceNumber = "sequence_number", itemID = "item_id", outputIndex = "output_index", contentIndex = "content_index"
        case annotationIndex = "annotation_index", annotation
    }

    /// Decodes the event.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sequenceNumber = try? container.decodeIfPresent(Int.self, forKey: .sequenceNumber)
        itemID = try container.decodeIfPresent(String.self, forKey: .itemID)
        outputIndex = try container.decodeIfPresent(Int.self, forKey: .outputIndex) ?? 0
        contentIndex = try container.decodeIfPresent(Int.self, forKey: .contentIndex) ?? 0
        annotationIndex = try container.decodeIfPresent(Int.self, forKey: .annotationIndex) ?? 0
        annotation = try container.decodeIfPresent(JSONValue.self, forKey: .annotation) ?? .null
    }
}

/// A reasoning summary part was added or finished (`response.reasoning_summary_part.added` / `.done`).
public struct ReasoningSummaryPartEvent: Decodable, Sendable, Hashable {
    /// The event's position in the stream.
    public var sequenceNumber: Int?
    /// The reasoning item's id.
    public var itemID: String?
    /// The item's index in `output`.
    public var outputIndex: Int
    /// The summary part's index.
    public var summaryIndex: Int
    /// The part's text so far.
    public var text: String

    enum CodingKeys: String, CodingKey {
        case sequenceNumber = "sequence_number", itemID = "item_id", outputIndex = "output_index", summaryIndex = "summary_index", part
    }
    private struct Part: Decodable { var text: String? }

    /// Decodes the event.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sequenceNumber = try? container.decodeIfPresent(Int.self, forKey: .sequenceNumber)
        itemID = try container.decodeIfPresent(String.self, forKey: .itemID)
        outputIndex = try container.decodeIfPresent(Int.self, forKey: .outputIndex) ?? 0
        summaryIndex = try container.decodeIfPresent(Int.self, forKey: .summaryIndex) ?? 0
        text = try container.decodeIfPresent(Part.self, forKey: .part)?.text ?? ""
    }
}

/// Progress of a tool the provider runs itself: web and file search, code interpreter, image generation, hosted MCP,
/// custom tool input and the shell (`response.web_search_call.searching`, `response.mcp_call_arguments.delta`, …).
public struct HostedToolCallEvent: Decodable, Sendable, Hashable {
    /// The event type as sent, e.g. `response.web_search_call.searching`.
    public var type: String
    /// The event's position in the stream.
    public var sequenceNumber: Int?
    /// The item's id, when the event names one.
    public var itemID: String?
    /// The item's index in `output`.
    public var outputIndex: Int?
    /// The whole event as sent (`delta`, `code`, `arguments`, `input`, `partial_image_b64`, `command`, …).
    public var raw: JSONValue

    /// The item kind, e.g. `web_search_call`, `mcp_call_arguments`, `code_interpreter_call_code`.
    public var tool: String {
        let parts = type.split(separator: ".")
        return parts.count >= 3 ? String(parts[1]) : type
    }

    /// The phase, e.g. `in_progress`, `searching`, `completed`, `delta`, `done`.
    public var phase: String { String(type.split(separator: ".").last ?? "") }

    /// The `delta` text of a delta event.
    public var delta: String? { raw["delta"]?.stringValue }

    /// Decodes the event, keeping it whole.
    public init(from decoder: any Decoder) throws {
        raw = try JSONValue(from: decoder)
        type = raw["type"]?.stringValue ?? ""
        sequenceNumber = raw["sequence_number"]?.intValue
        itemID = raw["item_id"]?.stringValue
        outputIndex = raw["output_index"]?.intValue
    }
}

/// An error reported inside a stream (`error`). Read from the spec's flat shape and from the shape nested under `error` seen on the wire.
public struct ErrorEvent: Decodable, Sendable, Hashable {
    /// The event's position in the stream.
    public var sequenceNumber: Int?
    /// The error code, e.g. `rate_limit_exceeded`, `insufficient_quota`.
    public var code: String?
    /// What went wrong.
    public var message: String
    /// The request parameter at fault.
    public var param: String?
    /// The error type, when given (nested shape).
    public var type: String?

    /// Creates an error event.
    public init(sequenceNumber: Int? = nil, code: String?, message: String, param: String? = nil, type: String? = nil) {
        self.sequenceNumber = sequenceNumber
        self.code = code
        self.message = message
        self.param = param
        self.type = type
    }

    enum CodingKeys: String, CodingKey { case sequenceNumber = "sequence_number", code, message, param, error }
    private struct Nested: Decodable { var type: String?; var code: String?; var message: String?; var param: String? }

    /// Decodes either shape.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sequenceNumber = try? container.decodeIfPresent(Int.self, forKey: .sequenceNumber)
        if let nested = try? container.decodeIfPresent(Nested.self, forKey: .error) {
            code = nested.code
            message = nested.message ?? ""
            param = nested.param
            type = nested.type
        } else {
            code = try? container.decodeIfPresent(String.self, forKey: .code)
            message = (try? container.decodeIfPresent(String.self, forKey: .message)) ?? ""
            param = try? container.decodeIfPresent(String.self, forKey: .param)
            type = nil
        }
    }
}

/// One server-sent event of a streamed response, keyed on its `type`. Unknown types decode as ``unknown(type:raw:)`` and never throw.
public enum ResponseStreamEvent: Sendable, Hashable {
    /// `response.created`.
    case created(ResponseEvent)
    /// `response.in_progress`.
    case inProgress(ResponseEvent)
    /// `response.queued` (background responses).
    case queued(ResponseEvent)
    /// `response.completed`, and `response.done` (its alias on some compatible servers): terminal.
    case completed(ResponseEvent)
    /// `response.incomplete`: terminal.
    case incomplete(ResponseEvent)
    /// `response.failed`: terminal.
    case failed(ResponseEvent)
    /// `response.output_item.added`.
    case outputItemAdded(OutputItemEvent)
    /// `response.output_item.done`.
    case outputItemDone(OutputItemEvent)
    /// `response.content_part.added`.
    case contentPartAdded(ContentPartEvent)
    /// `response.content_part.done`.
    case contentPartDone(ContentPartEvent)
    /// `response.output_text.delta`.
    case outputTextDelta(DeltaEvent)
    /// `response.output_text.done`.
    case outputTextDone(DoneEvent)
    /// `response.output_text.annotation.added`.
    case outputTextAnnotationAdded(AnnotationEvent)
    /// `response.refusal.delta`.
    case refusalDelta(DeltaEvent)
    /// `response.refusal.done`.
    case refusalDone(DoneEvent)
    /// `response.function_call_arguments.delta`.
    case functionCallArgumentsDelta(DeltaEvent)
    /// `response.function_call_arguments.done`.
    case functionCallArgumentsDone(FunctionCallArgumentsDoneEvent)
    /// `response.reasoning_summary_part.added`.
    case reasoningSummaryPartAdded(ReasoningSummaryPartEvent)
    /// `response.reasoning_summary_part.done`.
    case reasoningSummaryPartDone(ReasoningSummaryPartEvent)
    /// `response.reasoning_summary_text.delta`.
    case reasoningSummaryTextDelta(DeltaEvent)
    /// `response.reasoning_summary_text.done`.
    case reasoningSummaryTextDone(DoneEvent)
    /// `response.reasoning_text.delta`.
    case reasoningTextDelta(DeltaEvent)
    /// `response.reasoning_text.done`.
    case reasoningTextDone(DoneEvent)
    /// `response.audio.delta` (base64 audio).
    case audioDelta(DeltaEvent)
    /// `response.audio.done`.
    case audioDone(DoneEvent)
    /// `response.audio.transcript.delta`.
    case audioTranscriptDelta(DeltaEvent)
    /// `response.audio.transcript.done`.
    case audioTranscriptDone(DoneEvent)
    /// Progress of a provider-run tool (see ``hostedToolCallEventTypes``).
    case hostedToolCall(HostedToolCallEvent)
    /// `error`.
    case error(ErrorEvent)
    /// An event of a type this library does not know, kept as sent.
    case unknown(type: String, raw: JSONValue)

    /// The provider-run tool event types read as ``hostedToolCall(_:)``.
    public static let hostedToolCallEventTypes: Set<String> = [
        "response.web_search_call.in_progress", "response.web_search_call.searching", "response.web_search_call.completed",
        "response.file_search_call.in_progress", "response.file_search_call.searching", "response.file_search_call.completed",
        "response.code_interpreter_call.in_progress", "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed", "response.code_interpreter_call_code.delta",
        "response.code_interpreter_call_code.done", "response.image_generation_call.in_progress",
        "response.image_generation_call.generating", "response.image_generation_call.partial_image",
        "response.image_generation_call.completed", "response.mcp_call.in_progress", "response.mcp_call.completed",
        "response.mcp_call.failed", "response.mcp_call_arguments.delta", "response.mcp_call_arguments.done",
        "response.mcp_list_tools.in_progress", "response.mcp_list_tools.completed", "response.mcp_list_tools.failed",
        "response.custom_tool_call_input.delta", "response.custom_tool_call_input.done",
        "response.shell_call_command.added", "response.shell_call_command.delta", "response.shell_call_command.done",
        "response.shell_call_output_content.delta", "response.shell_call_output_content.done",
    ]

    /// The event's position in the stream, when the server numbers events.
    public var sequenceNumber: Int? {
        switch self {
        case .created(let e), .inProgress(let e), .queued(let e), .completed(let e), .incomplete(let e), .failed(let e): e.sequenceNumber
        case .outputItemAdded(let e), .outputItemDone(let e): e.sequenceNumber
        case .contentPartAdded(let e), .contentPartDone(let e): e.sequenceNumber
        case .outputTextDelta(let e), .refusalDelta(let e), .functionCallArgumentsDelta(let e), .reasoningSummaryTextDelta(let e),
            .reasoningTextDelta(let e), .audioDelta(let e), .audioTranscriptDelta(let e):
            e.sequenceNumber
        case .outputTextDone(let e), .refusalDone(let e), .reasoningSummaryTextDone(let e), .reasoningTextDone(let e),
            .audioDone(let e), .audioTranscriptDone(let e):
            e.sequenceNumber
        case .outputTextAnnotationAdded(let e): e.sequenceNumber
        case .functionCallArgumentsDone(let e): e.sequenceNumber
        case .reasoningSummaryPartAdded(let e), .reasoningSummaryPartDone(let e): e.sequenceNumber
        case .hostedToolCall(let e): e.sequenceNumber
        case .error(let e): e.sequenceNumber
        case .unknown(_, let raw): raw["sequence_number"]?.intValue
        }
    }

    /// The response of a terminal event (`completed`, `incomplete`, `failed`), else `nil`.
    public var terminalResponse: Response? {
        switch self {
        case .completed(let e), .incomplete(let e), .failed(let e): e.response
        default: nil
        }
    }

    /// A terminal event with `response` in place of the one it carried (the accumulated final response); any other
    /// event as it is.
    func carrying(_ response: Response) -> ResponseStreamEvent {
        switch self {
        case .completed(let e): .completed(ResponseEvent(sequenceNumber: e.sequenceNumber, response: response))
        case .incomplete(let e): .incomplete(ResponseEvent(sequenceNumber: e.sequenceNumber, response: response))
        case .failed(let e): .failed(ResponseEvent(sequenceNumber: e.sequenceNumber, response: response))
        default: self
        }
    }

    /// The response of any lifecycle event, else `nil`.
    public var response: Response? {
        switch self {
        case .created(let e), .inProgress(let e), .queued(let e), .completed(let e), .incomplete(let e), .failed(let e): e.response
        default: nil
        }
    }
}

extension ResponseStreamEvent: Decodable {
    private enum TypeKey: String, CodingKey { case type }

    /// Decodes an event by its `type`. Known types with payloads that do not decode, and unknown types, become ``unknown(type:raw:)``.
    public init(from decoder: any Decoder) throws {
        let type = try decoder.container(keyedBy: TypeKey.self).decodeIfPresent(String.self, forKey: .type) ?? ""
        do {
            self = try Self.decodeKnown(type: type, decoder: decoder)
        } catch {
            self = .unknown(type: type, raw: try JSONValue(from: decoder))
        }
    }

    private static func decodeKnown(type: String, decoder: any Decoder) throws -> ResponseStreamEvent {
        switch type {
        case "response.created": .created(try ResponseEvent(from: decoder, progress: true))
        case "response.in_progress": .inProgress(try ResponseEvent(from: decoder, progress: true))
        case "response.queued": .queued(try ResponseEvent(from: decoder, progress: true))
        case "response.completed", "response.done": .completed(try ResponseEvent(from: decoder))
        case "response.incomplete": .incomplete(try ResponseEvent(from: decoder))
        case "response.failed": .failed(try ResponseEvent(from: decoder))
        case "response.output_item.added": .outputItemAdded(try OutputItemEvent(from: decoder))
        case "response.output_item.done": .outputItemDone(try OutputItemEvent(from: decoder))
        case "response.content_part.added": .contentPartAdded(try ContentPartEvent(from: decoder))
        case "response.content_part.done": .contentPartDone(try ContentPartEvent(from: decoder))
        case "response.output_text.delta": .outputTextDelta(try DeltaEvent(from: decoder))
        case "response.output_text.done": .outputTextDone(try DoneEvent(from: decoder))
        case "response.output_text.annotation.added": .outputTextAnnotationAdded(try AnnotationEvent(from: decoder))
        case "response.refusal.delta": .refusalDelta(try DeltaEvent(from: decoder))
        case "response.refusal.done": .refusalDone(try DoneEvent(from: decoder))
        case "response.function_call_arguments.delta": .functionCallArgumentsDelta(try DeltaEvent(from: decoder))
        case "response.function_call_arguments.done": .functionCallArgumentsDone(try FunctionCallArgumentsDoneEvent(from: decoder))
        case "response.reasoning_summary_part.added": .reasoningSummaryPartAdded(try ReasoningSummaryPartEvent(from: decoder))
        case "response.reasoning_summary_part.done": .reasoningSummaryPartDone(try ReasoningSummaryPartEvent(from: decoder))
        case "response.reasoning_summary_text.delta": .reasoningSummaryTextDelta(try DeltaEvent(from: decoder))
        case "response.reasoning_summary_text.done": .reasoningSummaryTextDone(try DoneEvent(from: decoder))
        case "response.reasoning_text.delta": .reasoningTextDelta(try DeltaEvent(from: decoder))
        case "response.reasoning_text.done": .reasoningTextDone(try DoneEvent(from: decoder))
        case "response.audio.delta": .audioDelta(try DeltaEvent(from: decoder))
        case "response.audio.done": .audioDone(try DoneEvent(from: decoder))
        case "response.audio.transcript.delta": .audioTranscriptDelta(try DeltaEvent(from: decoder))
        case "response.audio.transcript.done": .audioTranscriptDone(try DoneEvent(from: decoder))
        case "error": .error(try ErrorEvent(from: decoder))
        case let type where hostedToolCallEventTypes.contains(type): .hostedToolCall(try HostedToolCallEvent(from: decoder))
        default: .unknown(type: type, raw: try JSONValue(from: decoder))
        }
    }
}
