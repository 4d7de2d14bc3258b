import ResponsesAPI

/// One output item a scripted turn answers with.
public enum ScriptedOutput: Sendable, Hashable {
    /// An assistant message with this text.
    case message(String)
    /// A function call; `callID` defaults to a fresh `call_…` id.
    case functionCall(name: String, arguments: String, callID: String? = nil)
    /// A reasoning item with this summary text.
    case reasoning(summary: String)
    /// A refusal message.
    case refusal(String)
    /// Any other output item, sent as given (e.g. a `web_search_call` or `mcp_call`).
    case item(JSONValue)

    /// A function call with arguments given as JSON.
    public static func call(_ name: String, _ arguments: JSONValue = [:], id: String? = nil) -> ScriptedOutput {
        .functionCall(name: name, arguments: arguments.jsonString, callID: id)
    }
}

/// How the scripted server answers one `POST /responses`: the output, or an error, and how to misbehave on the way.
public struct ScriptedTurn: Sendable {
    /// The output items.
    public var output: [ScriptedOutput]
    /// The response status: `completed`, `incomplete` (with `incompleteReason`) or `failed` (with `failure`).
    public var status: String
    /// The `incomplete_details.reason` of an incomplete response.
    public var incompleteReason: String?
    /// The `error` of a failed response: code and message.
    public var failure: (code: String, message: String)?
    /// An HTTP error instead of a response: status, body and headers.
    public var httpError: (status: Int, body: JSONValue, headers: [String: String])?
    /// An `error` event in the stream after `response.in_progress`; with `failAfterStreamError` a `response.failed` follows it.
    public var streamError: (code: String, message: String)?
    /// Whether `response.failed` follows a `streamError`.
    public var failAfterStreamError: Bool
    /// The wait before the answer's head (on a WebSocket: before the first frame).
    public var delay: Duration
    /// The wait between stream events (on a WebSocket: between frames).
    public var eventDelay: Duration
    /// Cut the connection after this many stream events (the stored response stays complete, so it can be resumed).
    /// On a WebSocket the TCP connection closes after that many frames, without a close frame.
    public var dropAfterEvents: Int?
    /// Insert a `data:` line that is not JSON before stream event number N (on a WebSocket: a text frame that is not JSON).
    public var malformedEventAt: Int?
    /// The stream events to send instead of the generated ones, each a JSON object (a `type` and its payload).
    public var customEvents: [JSONValue]?
    /// The JSON body to answer a non-streaming request with instead of the generated response.
    public var customBody: JSONValue?
    /// Token usage to report instead of the estimate.
    public var usage: Usage?
    /// For `background: true` (or `answersQueued`): how many polls answer `in_progress` before the response is done.
    public var backgroundPolls: Int
    /// Answer a plain (not background, not streamed) create with `queued`, then `in_progress` for `backgroundPolls`
    /// polls, as some providers do.
    public var answersQueued: Bool
    /// Extra answer headers.
    public var headers: [String: String]
    /// Builds the turn from the request, for answers that depend on it.
    public var dynamic: (@Sendable (RecordedRequest) -> ScriptedTurn)?
    /// Rewrites the generated stream events before they are sent and stored: to reorder, repeat, drop or add events.
    public var transformEvents: (@Sendable ([JSONValue]) -> [JSONValue])?
    /// On a WebSocket, end the connection instead of answering: an `error` frame with this code (when not `nil`), then
    /// a close frame with `code`. Over HTTP such a turn answers 500.
    public var closesWebSocket: (code: UInt16, errorCode: String?)?
    /// On a WebSocket, cut the TCP connection as soon as the create arrives, with no frame at all (not even a close
    /// frame). Over HTTP such a turn answers 500.
    public var dropsWebSocket: Bool

    /// Creates a turn.
    public init(
        output: [ScriptedOutput] = [], status: String = "completed", incompleteReason: String? = nil,
        failure: (code: String, message: String)? = nil, httpError: (status: Int, body: JSONValue, headers: [String: String])? = nil,
        streamError: (code: String, message: String)? = nil, failAfterStreamError: Bool = true, delay: Duration = .zero,
        eventDelay: Duration = .zero, dropAfterEvents: Int? = nil, malformedEventAt: Int? = nil, customEvents: [JSONValue]? = nil,
        customBody: JSONValue? = nil, usage: Usage? = nil, backgroundPolls: Int = 2, answersQueued: Bool = false,
        headers: [String: String] = [:], dynamic: (@Sendable (RecordedRequest) -> ScriptedTurn)? = nil
    ) {
        self.output = output
        self.status = status
        self.incompleteReason = incompleteReason
        self.failure = failure
        self.httpError = httpError
        self.streamError = streamError
        self.failAfterStreamError = failAfterStreamError
        self.delay = delay
        self.eventDelay = eventDelay
        self.dropAfterEvents = dropAfterEvents
        self.malformedEventAt = malformedEventAt
        self.customEvents = customEvents
        self.customBody = customBody
        self.usage = usage
        self.backgroundPolls = backgroundPolls
        self.answersQueued = answersQueued
        self.headers = headers
        self.dynamic = dynamic
        self.transformEvents = nil
        self.closesWebSocket = nil
        self.dropsWebSocket = false
    }

    /// An assistant message.
    public static func message(_ text: String) -> ScriptedTurn { ScriptedTurn(output: [.message(text)]) }

    /// One or more function calls (and, optionally, text before them).
    public static func calls(_ calls: ScriptedOutput...) -> ScriptedTurn { ScriptedTurn(output: calls) }

    /// An HTTP error with the provider's usual body `{"error": {message, type, param, code}}`.
    public static func error(
        status: Int, message: String, type: String = "invalid_request_error", code: String? = nil, param: String? = nil,
        headers: [String: String] = [:]
    ) -> ScriptedTurn {
        let body: JSONValue = [
            "error": [
                "message": .string(message), "type": .string(type), "param": param.map(JSONValue.string) ?? .null,
                "code": code.map(JSONValue.string) ?? .null,
            ]
        ]
        return ScriptedTurn(httpError: (status, body, headers))
    }

    /// A stream of exactly these events (for non-streaming requests, the last lifecycle event's response is the body).
    public static func events(_ events: [JSONValue]) -> ScriptedTurn { ScriptedTurn(customEvents: events) }

    /// A turn computed from the request when it arrives.
    public static func respond(_ make: @escaping @Sendable (RecordedRequest) -> ScriptedTurn) -> ScriptedTurn {
        ScriptedTurn(dynamic: make)
    }

    /// This turn, answered after `delay`.
    public func delayed(by delay: Duration) -> ScriptedTurn {
        var turn = self
        turn.delay = delay
        return turn
    }

    /// This turn, with its stream cut after `count` events.
    public func droppingStream(afterEvents count: Int) -> ScriptedTurn {
        var turn = self
        turn.dropAfterEvents = count
        return turn
    }

    /// This turn, with its generated stream events rewritten by `transform`.
    public func rewritingEvents(_ transform: @escaping @Sendable ([JSONValue]) -> [JSONValue]) -> ScriptedTurn {
        var turn = self
        turn.transformEvents = transform
        return turn
    }

    /// A WebSocket closed by the server when this turn is reached, as OpenAI does after 60 minutes: an `error` frame
    /// with `errorCode` (status 400; none when `nil`), then a close frame with `code`. The request is recorded and the
    /// turn used up; nothing else answers it. Over HTTP it answers 500.
    public static func closingWebSocket(code: UInt16 = 1000, errorCode: String? = "websocket_connection_limit_reached") -> ScriptedTurn {
        var turn = ScriptedTurn()
        turn.closesWebSocket = (code, errorCode)
        return turn
    }

    /// A WebSocket cut when this turn is reached: the TCP connection closes right after the create arrives, with no
    /// frame and no close frame. The request is recorded and the turn used up. Over HTTP it answers 500.
    public static func droppingWebSocket() -> ScriptedTurn {
        var turn = ScriptedTurn()
        turn.dropsWebSocket = true
        return turn
    }

    /// This turn, with `delay` between stream events.
    public func pacing(_ delay: Duration) -> ScriptedTurn {
        var turn = self
        turn.eventDelay = delay
        return turn
    }
}

/// How a server refuses a request whose context does not fit its window (HTTP 400 either way).
public enum ScriptedContextOverflow: Sendable, Hashable {
    /// OpenAI's body: `{"error": {"message": "Your input exceeds the context window of this model. …", "type":
    /// "invalid_request_error", "param": "input", "code": "context_length_exceeded"}}`.
    case openAI
    /// llama.cpp's body: `{"error": {"code": 400, "message": "request (N tokens) exceeds the available context size
    /// (W tokens), try increasing it", "type": "exceed_context_size_error", "n_prompt_tokens": N, "n_ctx": W}}`.
    case llamaCpp
}

/// How the server's answers drift from the spec, to test a client against each compatible provider's habits.
public struct ScriptedDialect: Sendable, Hashable {
    /// `created_at` (spec) or `created` (UModelverse's docs).
    public var createdKey: String = "created_at"
    /// Whether events carry `sequence_number` (absent in early-2025 recordings).
    public var sequenceNumbers: Bool = true
    /// Whether `function_call_arguments.done` carries `name` (the spec says so; OpenAI's real streams omit it).
    public var nameOnArgumentsDone: Bool = true
    /// Whether function arguments stream as deltas before `.done` (LM Studio sends only `.done`).
    public var argumentDeltas: Bool = true
    /// The terminal event type: `response.completed`, or `response.done` (UModelverse's docs).
    public var completedEventType: String = "response.completed"
    /// Whether `error` events nest their fields under `error` (OpenAI's real streams) or are flat (the spec).
    public var nestedErrorEvents: Bool = false
    /// Whether ids carry the `resp_` / `msg_` / `fc_` prefixes (DeepSeek sends bare UUIDs).
    public var prefixedIDs: Bool = true
    /// Whether assistant text comes as a bare `{"type":"text","text":…}` item (UModelverse's docs).
    public var bareTextItems: Bool = false
    /// Extra top-level fields added to every response object.
    public var extraResponseFields: [String: JSONValue] = [:]
    /// Whether the server keeps responses: when not, `previous_response_id` is answered with the 400
    /// `previous_response_not_found` and `GET /responses/{id}` with 404, as stateless servers do.
    public var keepsState: Bool = true
    /// How many characters of text each delta event carries.
    public var deltaSize: Int = 6
    /// Whether error bodies carry the HTTP status as a numeric `code` (llama.cpp) instead of a string code.
    public var numericErrorCodes: Bool = false
    /// The message a stateless server refuses `previous_response_id` with, instead of OpenAI's `previous_response_not_found`.
    public var previousResponseRefusal: String?
    /// Whether a request whose input carries two `function_call`s or two `function_call_output`s with the same `call_id`
    /// is refused with a 400, as strict servers do ("Duplicate function_call_output for call_id …").
    public var rejectsDuplicateCallIDs: Bool = true
    /// Whether `background: true` is honoured; when not, the request is answered at once as if it were absent.
    public var supportsBackground: Bool = true
    /// The request field ``ScriptedModel`` reads as the cap on output tokens (the other is ignored).
    public var maxTokensField: String = "max_output_tokens"
    /// Whether ``ScriptedModel`` marks an answer cut at the cap `incomplete` (the spec), or `completed` (llama.cpp).
    public var incompleteWhenCapped: Bool = true
    /// Whether ``ScriptedModel`` follows `tool_choice` (`required`, a named function); a small model may not.
    public var followsToolChoice: Bool = true
    /// Whether ``ScriptedModel`` answers with `function_call` items, or writes its calls as text (a model whose server
    /// does not turn its tool-call markup into items).
    public var callsToolsAsItems: Bool = true

    /// Whether the server has the WebSocket mode; when not, an upgrade is refused with 404 and a JSON error body.
    public var webSocket: Bool = true
    /// The HTTP status every WebSocket upgrade is refused with (e.g. 401 or 426, with a JSON error body), or `nil` to
    /// accept upgrades.
    public var webSocketUpgradeStatus: Int? = nil
    /// Whether ping frames are answered with a pong.
    public var answersPings: Bool = true

    /// The context window in tokens (``ScriptedResponsesServer/estimatedTokens(_:)`` of the instructions and the whole
    /// conversation), or `nil` for no limit. A create whose context does not fit is refused with a 400 in the
    /// ``contextOverflowStyle``; the refused request is recorded but uses up no turn.
    public var contextWindow: Int? = nil
    /// Whether the server compacts: it honours `context_management: [{"type": "compaction", "compact_threshold": N}]`
    /// in a create and serves `POST /responses/compact`. When not, `context_management` is ignored silently (as servers
    /// that translate to Chat Completions do) and `POST /responses/compact` answers 404 like any unknown route.
    public var compaction: Bool = false
    /// The 400 body a context that does not fit ``contextWindow`` is refused with: OpenAI's `context_length_exceeded`,
    /// or llama.cpp's `exceed_context_size_error` with the numbers.
    public var contextOverflowStyle: ScriptedContextOverflow = .openAI
    /// Which field holds a structured output's schema that the model keeps to (``ScriptedModel`` answers with JSON that
    /// fits it): the Responses API's `text.format` (OpenAI), or only the Chat Completions `response_format` that
    /// llama.cpp's server reads from a `/responses` body and turns into a grammar.
    public var structuredOutputField: String = "text.format"

    /// Creates a dialect; the defaults follow the spec.
    public init() {}

    /// The spec's shapes.
    public static let spec = ScriptedDialect()

    /// OpenAI as recorded on the wire: nested `error` events, no `name` on `function_call_arguments.done`.
    public static var openAIWire: ScriptedDialect {
        var dialect = ScriptedDialect()
        dialect.nameOnArgumentsDone = false
        dialect.nestedErrorEvents = true
        dialect.extraResponseFields = ["billing": ["payer": "developer"], "user": nil]
        return dialect
    }

    /// UModelverse as its docs describe it: `created`, bare text items, `response.done`, `max_tokens`.
    public static var umodelverse: ScriptedDialect {
        var dialect = ScriptedDialect()
        dialect.createdKey = "created"
        dialect.maxTokensField = "max_tokens"
        dialect.bareTextItems = true
        dialect.completedEventType = "response.done"
        return dialect
    }

    /// llama.cpp's `llama-server` as seen on the wire (`errand probe` against it): no state (it refuses
    /// `previous_response_id` with a 400 whose `code` is the number 400), stream events without `sequence_number`,
    /// `background` ignored, a capped answer `completed`, (the small model behind it) tool calls written as text, and
    /// a context that does not fit refused with `exceed_context_size_error` (when a ``contextWindow`` is set).
    public static var llamaCpp: ScriptedDialect {
        var dialect = ScriptedDialect()
        dialect.keepsState = false
        dialect.sequenceNumbers = false
        dialect.numericErrorCodes = true
        dialect.previousResponseRefusal = "llama.cpp does not support 'previous_response_id'."
        dialect.supportsBackground = false
        dialect.incompleteWhenCapped = false
        dialect.followsToolChoice = false
        dialect.callsToolsAsItems = false
        dialect.webSocket = false
        dialect.contextOverflowStyle = .llamaCpp
        dialect.structuredOutputField = "response_format"
        return dialect
    }

    /// A server that keeps no state (Ollama, OpenRouter, vLLM without its store).
    public static var stateless: ScriptedDialect {
        var dialect = ScriptedDialect()
        dialect.keepsState = false
        return dialect
    }
}
