import AsyncHTTPClient
import Foundation
import ResponsesAPI
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// What a server does, found out before any run: a fixed set of tiny requests (a dozen, a few output tokens each), each
/// capability answered yes, no or "could not tell", with the evidence: the status code, the server's message, or what
/// the answer held. It also lists the drift from the spec it saw, and suggests the `provider` block of a spec.
///
/// Capabilities that depend on the model's judgement (whether it calls a tool when asked to) are "could not tell" when
/// the model did not do it, rather than "no": the server may support them and the model may have chosen otherwise.
package struct ProviderProbe: Sendable {
    /// The names of the capabilities, in the order they are reported.
    package static let capabilityNames = [
        "responses", "json", "streaming", "usage", "max_output_tokens", "max_tokens", "stateful", "store", "function_calling",
        "tool_choice_required", "tool_choice_named", "parallel_calls", "strict_schemas", "output_schema", "background", "stream_resumption",
        "websocket", "websocket_chaining", "compaction",
    ]

    /// The requests the probe sends, in words, to show before sending them.
    package static let plan = [
        "POST /responses: a JSON answer, capped at 16 output tokens (max_output_tokens)",
        "POST /responses: the same cap as max_tokens",
        "POST /responses with stream: true",
        "POST /responses giving a word to remember, then one chained with previous_response_id asking for it",
        "GET /responses/{id} of the first answer",
        "POST /responses with a function tool, tool_choice auto",
        "POST /responses with tool_choice required",
        "POST /responses with tool_choice naming a function",
        "POST /responses asking for two calls at once (parallel_tool_calls)",
        "POST /responses with text.format json_schema (strict); when the answer is not JSON, again with Chat Completions' response_format",
        "POST /responses with background: true, then GET /responses/{id} until it is done",
        "POST /responses streamed (in background mode when it works), then GET /responses/{id}?stream=true&starting_after=N",
        "WebSocket {base_url}/responses: a response.create giving a word (store: false), then a chained one asking for it",
        "POST /responses/compact with a short conversation",
    ]

    /// One capability: supported, not supported, or `nil` for could not tell; and the evidence.
    package struct Finding: Sendable, Hashable {
        /// `true`, `false`, or `nil` (could not tell).
        package var supported: Bool?
        /// What was seen: a status code, the server's message, what the answer held.
        package var evidence: String

        /// Creates a finding; the evidence is kept on one line (a gateway's multi-line error squashed, a long id shortened).
        package init(_ supported: Bool?, _ evidence: String) {
            self.supported = supported
            self.evidence = Self.oneLine(evidence)
        }

        /// `text` on one line of at most 300 characters, with words longer than 60 characters (ids, tokens) shortened.
        package static func oneLine(_ text: String) -> String {
            let words = OneLine.squash(text, limit: 10_000).split(separator: " ", omittingEmptySubsequences: false).map { word in
                word.count > 60 ? "\(word.prefix(24))…\(word.suffix(8))" : String(word)
            }
            return OneLine.squash(words.joined(separator: " "), limit: 300)
        }

        /// `yes`, `no` or `could not tell`.
        package var verdict: String {
            switch supported {
            case true?: "yes"
            case false?: "no"
            case nil: "could not tell"
            }
        }
    }

    /// What the probe found.
    package struct Report: Sendable {
        /// The server's base URL.
        package var baseURL: String
        /// The model asked.
        package var model: String
        /// Each capability, by name (see ``ProviderProbe/capabilityNames``).
        package var findings: [String: Finding]
        /// How the server's answers differ from the spec, one sentence each.
        package var drift: [String]
        /// The `provider` block to paste into a spec.
        package var provider: JSONValue
        /// How many HTTP requests the probe sent.
        package var requests: Int

        /// The report as one JSON object: each capability `{"supported", "evidence"}`, then `drift` and `provider`.
        package var jsonValue: JSONValue {
            var object: [String: JSONValue] = [:]
            for name in ProviderProbe.capabilityNames {
                let finding = findings[name] ?? Finding(nil, "not probed")
                object[name] = ["supported": finding.supported.map(JSONValue.bool) ?? .null, "evidence": .string(finding.evidence)]
            }
            object["drift"] = .array(drift.map(JSONValue.string))
            object["provider"] = provider
            object["base_url"] = .string(baseURL)
            object["model"] = .string(model)
            object["requests"] = .number(Double(requests))
            return .object(object)
        }
    }

    let client: ResponsesClient
    let model: String
    /// The `preset` to name in the suggested provider block, when the server is one.
    let preset: String?
    /// Whether the WebSocket mode is probed too.
    let webSocket: Bool

    /// A probe of the server `client` talks to, asking `model`; `preset` names the provider preset in the suggested block.
    package init(client: ResponsesClient, model: String, preset: String? = nil, webSocket: Bool = true) {
        self.client = client
        self.model = model
        self.preset = preset
        self.webSocket = webSocket
    }

    /// Sends the probe's requests one after the other, calling `progress` before each, and reports what it found.
    /// Never throws: a failure is evidence.
    package func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> Report {
        var run = ProbeRun(client: client, model: model, progress: progress, webSocket: webSocket)
        await run.all()
        var provider: [String: JSONValue] = [:]
        if let preset {
            provider["preset"] = .string(preset)
        } else {
            provider["base_url"] = .string(client.provider.baseURL)
        }
        provider["state"] = run.findings["stateful"]?.supported == false ? "stateless" : "auto"
        let output = run.findings["max_output_tokens"]?.supported
        let tokens = run.findings["max_tokens"]?.supported
        provider["max_tokens_field"] = output != true && tokens == true ? "max_tokens" : "max_output_tokens"
        if run.schemaOnlyAsResponseFormat { provider["response_format"] = true }
        if run.findings["websocket_chaining"]?.supported == true {
            provider["transport"] = "websocket"
        } else if run.findings["websocket"]?.supported == true {
            provider["transport"] = "auto"
        }
        var drift: [String] = []
        for line in run.drift where !drift.contains(line) { drift.append(line) }
        return Report(
            baseURL: client.provider.baseURL, model: model, findings: run.findings, drift: drift, provider: .object(provider),
            requests: run.requests)
    }
}

/// The state of one probe as it goes.
private struct ProbeRun {
    let client: ResponsesClient
    let model: String
    let progress: @Sendable (String) -> Void
    let webSocket: Bool
    var findings: [String: ProviderProbe.Finding] = [:]
    var drift: [String] = []
    var requests = 0
    /// The first answer's id, for chaining and retrieval.
    var firstID: String?
    /// Which field caps output tokens on this server.
    var capField = "max_output_tokens"
    /// Whether the server is unreachable or refuses the key: then nothing else can be learned.
    var blocked: String?
    /// Whether the server keeps to an output schema only when it comes as Chat Completions' `response_format`.
    var schemaOnlyAsResponseFormat = false

    static let cap = 16

    /// One HTTP exchange, its body read whole (or as server-sent events).
    struct Exchange {
        var status: Int
        var contentType: String
        var body: [UInt8]
        var json: JSONValue?
        var events: [ServerSentEvent] = []
        var failure: String?

        var ok: Bool { failure == nil && (200..<300).contains(status) }
        var isStream: Bool { contentType.contains("text/event-stream") }

        /// The server's error message, or what failed.
        var message: String {
            if let failure { return failure }
            if let error = json?["error"] {
                if let text = error["message"]?.stringValue { return text }
                if let text = error.stringValue { return text }
            }
            if let text = json?["message"]?.stringValue ?? json?["detail"]?.stringValue { return text }
            let text = String(decoding: body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty ? "an empty body" : text
        }

        /// `HTTP 400: <message>`, or the connection failure.
        var evidence: String { failure ?? "HTTP \(status): \(message)" }
    }

    // MARK: Steps

    mutating func all() async {
        await plainAnswer()
        guard blocked == nil else { return giveUp() }
        await maxTokensField()
        await streaming()
        await chaining()
        await retrieval()
        await functionCalling()
        await outputSchema()
        await background()
        await streamResumption()
        await compaction()
        if webSocket {
            await webSocketMode()
        } else {
            findings["websocket"] = .init(nil, "not probed (--transport http)")
            findings["websocket_chaining"] = .init(nil, "not probed (--transport http)")
        }
    }

    private mutating func giveUp() {
        for name in ProviderProbe.capabilityNames where findings[name] == nil {
            findings[name] = .init(nil, "not probed: \(blocked ?? "the first request failed")")
        }
    }

    private func body(_ fields: [String: JSONValue]) -> JSONValue {
        var object: [String: JSONValue] = ["model": .string(model)]
        for (key, value) in fields { object[key] = value }
        return .object(object)
    }

    private mutating func plainAnswer() async {
        let exchange = await send(.POST, "/responses", body: body([
            "input": "Count from 1 to 60, separated by spaces.", "max_output_tokens": .number(Double(Self.cap)), "store": true,
        ]))
        guard !exchange.ok else {
            findings["responses"] = .init(true, "POST /responses answered \(exchange.status)")
            readPlain(exchange)
            return
        }
        if exchange.failure != nil {
            blocked = exchange.evidence
            findings["responses"] = .init(nil, exchange.evidence)
        } else if exchange.status == 404 || exchange.status == 405 {
            blocked = "POST /responses answered \(exchange.status)"
            findings["responses"] = .init(false, "\(exchange.evidence) (is the base URL right? requests go to {base_url}/responses)")
        } else if exchange.status == 401 || exchange.status == 403 {
            blocked = "the server refused the key (HTTP \(exchange.status))"
            findings["responses"] = .init(nil, "\(exchange.evidence) (check the API key)")
        } else if exchange.status == 400, mentions(exchange, "max_output_tokens") {
            findings["responses"] = .init(true, "POST /responses answered 400 naming max_output_tokens")
            findings["max_output_tokens"] = .init(false, exchange.evidence)
            noteErrorShape(exchange)
            let retry = await send(.POST, "/responses", body: body(["input": "Count from 1 to 60, separated by spaces.", "store": true]))
            guard retry.ok else {
                blocked = retry.evidence
                return
            }
            readPlain(retry, capped: false)
        } else {
            blocked = exchange.evidence
            findings["responses"] = .init(nil, exchange.evidence)
            noteErrorShape(exchange)
        }
    }

    /// Reads the first answer: JSON, usage, the cap, and the shape's drift.
    private mutating func readPlain(_ exchange: Exchange, capped: Bool = true) {
        guard let json = exchange.json, json.objectValue != nil, !exchange.isStream else {
            findings["json"] = .init(false, "HTTP \(exchange.status) with \(exchange.contentType.isEmpty ? "no content type" : exchange.contentType), not a JSON response")
            if exchange.isStream { drift.append("answers a request without stream: true as a stream of events") }
            return
        }
        noteResponseShape(json)
        let response = try? JSONDecoder().decode(Response.self, from: Data(exchange.body))
        firstID = json["id"]?.stringValue
        let outputCount = json["output"]?.arrayValue?.count ?? 0
        findings["json"] = .init(
            response != nil && outputCount > 0,
            "HTTP \(exchange.status), \(exchange.contentType), status '\(json["status"]?.stringValue ?? "none")', \(outputCount) output item\(outputCount == 1 ? "" : "s")")
        if let usage = response?.usage, usage.totalTokens > 0 || usage.outputTokens > 0 {
            findings["usage"] = .init(true, "input_tokens \(usage.inputTokens), output_tokens \(usage.outputTokens), total_tokens \(usage.totalTokens)")
        } else {
            findings["usage"] = .init(false, json["usage"] == nil || json["usage"] == .null ? "the answer has no usage" : "usage without token counts: \(json["usage"]!.jsonString)")
        }
        if capped { findings["max_output_tokens"] = capFinding(json, field: "max_output_tokens") }
    }

    /// Whether a capped answer kept to the cap: its output tokens, or an `incomplete` status for `max_output_tokens`.
    private mutating func capFinding(_ json: JSONValue, field: String) -> ProviderProbe.Finding {
        let status = json["status"]?.stringValue ?? "?"
        let reason = json["incomplete_details"]?["reason"]?.stringValue
        guard let tokens = json["usage"]?["output_tokens"]?.intValue else {
            if status == "incomplete" { return .init(true, "status incomplete (\(reason ?? "no reason")) under \(field) \(Self.cap)") }
            let words = Self.text(json).split(separator: " ").count
            if words > Self.cap * 2 { return .init(false, "\(words) words came back despite \(field) \(Self.cap)") }
            return .init(nil, "no usage to compare with the cap of \(Self.cap); \(words) words came back")
        }
        if tokens <= Self.cap + 2 {
            if status == "completed", tokens >= Self.cap - 1, reason == nil {
                drift.append("a length-capped answer comes back with status 'completed', not 'incomplete' (output_tokens \(tokens) = the cap)")
            }
            return .init(true, "output_tokens \(tokens) under \(field) \(Self.cap) (status \(status))")
        }
        return .init(false, "output_tokens \(tokens) despite \(field) \(Self.cap): the field is ignored")
    }

    private mutating func maxTokensField() async {
        let exchange = await send(.POST, "/responses", body: body([
            "input": "Count from 1 to 60, separated by spaces.", "max_tokens": .number(Double(Self.cap)), "store": false,
        ]))
        if exchange.ok, let json = exchange.json {
            findings["max_tokens"] = capFinding(json, field: "max_tokens")
        } else {
            findings["max_tokens"] = .init(exchange.failure == nil ? false : nil, exchange.evidence)
            noteErrorShape(exchange)
        }
        if findings["max_output_tokens"]?.supported != true, findings["max_tokens"]?.supported == true {
            capField = "max_tokens"
            drift.append("caps output with max_tokens, not max_output_tokens")
        }
    }

    private mutating func streaming() async {
        let exchange = await send(
            .POST, "/responses", body: body(["input": "Reply with the single word: ready", capField: .number(Double(Self.cap)), "stream": true]),
            stream: true)
        guard exchange.ok else {
            findings["streaming"] = .init(exchange.failure == nil ? false : nil, exchange.evidence)
            noteErrorShape(exchange)
            return
        }
        guard exchange.isStream else {
            findings["streaming"] = .init(false, "stream: true was answered with \(exchange.contentType.isEmpty ? "no content type" : exchange.contentType), not text/event-stream")
            drift.append("ignores stream: true and answers with the whole response")
            return
        }
        let types = noteStreamShape(exchange.events)
        let terminal = types.contains { ["response.completed", "response.done", "response.incomplete", "response.failed"].contains($0) }
        let deltas = types.filter { $0 == "response.output_text.delta" }.count
        findings["streaming"] = .init(
            terminal || deltas > 0,
            "\(exchange.events.count) events (\(deltas) text deltas), ending with \(types.last ?? "nothing")")
    }

    /// A word for the model to remember, different each probe, so that a chained answer naming it can only come
    /// from the first turn's context.
    static func secretWord() -> String {
        let words = ["walnut", "saffron", "harbor", "velvet", "lantern", "quartz", "meadow", "cobalt", "thistle", "juniper"]
        return words.randomElement()! + String(Int.random(in: 10...99))
    }

    static let rememberPrompt = "Remember this word for later: %@. Reply with only: ok"
    static let recallPrompt = "What was the word I asked you to remember? Reply with that word only."

    /// Whether the server keeps the chain, decided from what the model saw: the chained turn asks for a word given
    /// only in the first turn. An echoed `previous_response_id` alone proves nothing either way (servers that keep the
    /// chain do not all echo it, and one that echoes it may ignore it).
    private mutating func chaining() async {
        guard firstID != nil else {
            findings["stateful"] = .init(nil, "no response id to chain to")
            return
        }
        let word = Self.secretWord()
        let first = await send(.POST, "/responses", body: body([
            "input": .string(String(format: Self.rememberPrompt, word)), capField: .number(Double(Self.cap)), "store": true,
        ]))
        guard first.ok, let id = first.json?["id"]?.stringValue, !id.isEmpty else {
            findings["stateful"] = .init(nil, "the turn giving the word failed: \(first.evidence)")
            return
        }
        let exchange = await send(.POST, "/responses", body: body([
            "input": .string(Self.recallPrompt), "previous_response_id": .string(id), capField: .number(Double(Self.cap)),
        ]))
        guard exchange.ok else {
            findings["stateful"] = .init(exchange.failure == nil ? false : nil, exchange.evidence)
            noteErrorShape(exchange)
            return
        }
        let answer = Self.text(exchange.json)
        let echoed = exchange.json?["previous_response_id"]?.stringValue == id
        if answer.lowercased().contains(word) {
            findings["stateful"] = .init(true, "the chained turn answered '\(Self.short(answer, 40))', the word given only in the turn it chained to\(echoed ? "" : " (previous_response_id is not echoed)")")
        } else if echoed {
            findings["stateful"] = .init(nil, "previous_response_id was accepted and echoed, but the answer ('\(Self.short(answer, 40))') does not name the word '\(word)' from the turn it chained to")
        } else {
            findings["stateful"] = .init(nil, "HTTP \(exchange.status), but the answer ('\(Self.short(answer, 40))') does not name the word '\(word)' given in the turn it chained to, nor echo previous_response_id; the server may ignore it")
        }
    }

    /// The WebSocket mode: a connection, a `response.create` giving a word with `store: false`, and a second turn
    /// chained on the connection with only the new input, asking for the word.
    private mutating func webSocketMode() async {
        progress("WebSocket \(client.provider.responsesWebSocketURL)")
        let connection: ResponsesConnection
        do {
            connection = try await client.openConnection()
        } catch let error as ResponsesError {
            // A refused upgrade was an HTTP exchange; an accepted one is counted by the frames that follow.
            if error.status != nil { requests += 1 }
            let said = Self.short(error.message, 200)
            findings["websocket"] = .init(error.isWebSocketUnavailable || error.kind == .httpStatus ? false : nil, said)
            findings["websocket_chaining"] = .init(nil, "no WebSocket connection")
            return
        } catch {
            findings["websocket"] = .init(nil, Self.short("\(error)", 200))
            findings["websocket_chaining"] = .init(nil, "no WebSocket connection")
            return
        }
        let word = Self.secretWord()
        var request = CreateResponseRequest(model: model, input: .text(String(format: Self.rememberPrompt, word)))
        request.store = false
        request.maxOutputTokens = Self.cap
        let first: Response
        requests += 1
        do {
            first = try await connection.send(request)
            findings["websocket"] = .init(true, "upgrade accepted; response.create answered with \(first.status.rawValue) response \(Self.shortID(first.id))")
        } catch {
            findings["websocket"] = .init(false, "upgrade accepted, but response.create failed: \(Self.short("\(error)", 200))")
            findings["websocket_chaining"] = .init(nil, "no first response to chain to")
            await connection.close()
            return
        }
        requests += 1
        var chained = CreateResponseRequest(model: model, input: .text(Self.recallPrompt))
        chained.store = false
        chained.previousResponseID = first.id
        chained.maxOutputTokens = Self.cap
        do {
            let second = try await connection.send(chained)
            let answer = second.outputText
            if answer.lowercased().contains(word) {
                findings["websocket_chaining"] = .init(true, "store: false, second turn with only new input answered '\(Self.short(answer, 40))', the word from the first")
            } else {
                findings["websocket_chaining"] = .init(nil, "the chained turn was accepted, but its answer ('\(Self.short(answer, 40))') does not name the word '\(word)'")
            }
        } catch let error as ResponsesError where error.isPreviousResponseNotFound {
            findings["websocket_chaining"] = .init(false, Self.short("the connection did not keep the response: \(error)", 200))
        } catch {
            findings["websocket_chaining"] = .init(nil, Self.short("\(error)", 200))
        }
        await connection.close()
    }

    /// A response id short enough for one line (some servers' ids run to hundreds of characters).
    static func shortID(_ id: String) -> String {
        id.count <= 40 ? id : "\(id.prefix(24))…\(id.suffix(8))"
    }

    private mutating func retrieval() async {
        guard let firstID else {
            findings["store"] = .init(nil, "no response id to fetch")
            return
        }
        let exchange = await send(.GET, "/responses/\(firstID)")
        if exchange.ok, exchange.json?["id"]?.stringValue == firstID {
            let store = exchange.json?["store"]?.boolValue
            findings["store"] = .init(true, "GET /responses/\(firstID) answered \(exchange.status)\(store == false ? " (although the response says store: false)" : "")")
        } else if exchange.ok {
            findings["store"] = .init(false, "GET /responses/\(firstID) answered \(exchange.status) without the response")
        } else {
            findings["store"] = .init(exchange.failure == nil ? false : nil, "GET /responses/\(firstID): \(exchange.evidence)")
            noteErrorShape(exchange)
        }
    }

    /// `POST /responses/compact`: the server compacts conversations itself (then `context.compaction: server` works).
    private mutating func compaction() async {
        let conversation: JSONValue = [
            "model": .string(model),
            "input": [
                ["role": "user", "content": "Remember this word for later: lantern."],
                ["type": "message", "role": "assistant", "content": [["type": "output_text", "text": "I will remember lantern."]]],
            ],
        ]
        let exchange = await send(.POST, "/responses/compact", body: conversation)
        let output = exchange.json?["output"]?.arrayValue ?? []
        if exchange.ok, output.contains(where: { $0["type"] == "compaction" }) {
            findings["compaction"] = .init(true, "POST /responses/compact answered \(exchange.status) with a compaction item (\(output.count) items)")
        } else if exchange.ok {
            findings["compaction"] = .init(false, "POST /responses/compact answered \(exchange.status) without a compaction item")
        } else if [400, 404, 405, 501].contains(exchange.status) {
            findings["compaction"] = .init(false, "POST /responses/compact: \(exchange.evidence); runs compact here (context.compaction local)")
        } else {
            findings["compaction"] = .init(nil, "POST /responses/compact: \(exchange.evidence)")
        }
    }

    // MARK: Structured output

    static let greeting: JSONValue = [
        "type": "object", "additionalProperties": false, "required": ["greeting", "language"],
        "properties": ["greeting": ["type": "string"], "language": ["type": "string"]],
    ]

    /// Whether the server holds the answer to a schema: `text.format` as the spec has it, else (llama.cpp) only Chat
    /// Completions' `response_format`. Runs check every answer themselves; this says whether the model is held to it.
    private mutating func outputSchema() async {
        let ask = "Say hello in French, in one short sentence."
        let format: JSONValue = ["type": "json_schema", "name": "greeting", "schema": Self.greeting, "strict": true]
        let first = await send(.POST, "/responses", body: body(["input": .string(ask), "text": ["format": format], "max_output_tokens": 60]))
        guard first.ok, let json = first.json else {
            findings["output_schema"] = .init(
                first.status == 400 ? false : nil,
                "text.format json_schema: \(first.evidence)\(mentions(first, "strict") ? " (the server refuses strict schemas)" : "")")
            return
        }
        let answer = Self.text(json)
        if Self.fits(answer) {
            findings["output_schema"] = .init(true, "text.format json_schema (strict) was kept to: \(Self.short(answer, 120))")
            return
        }
        let chat: JSONValue = ["type": "json_schema", "json_schema": ["name": "greeting", "schema": Self.greeting, "strict": true]]
        let second = await send(.POST, "/responses", body: body(["input": .string(ask), "response_format": chat, "max_output_tokens": 60]))
        let retry = second.json.map(Self.text) ?? ""
        if second.ok, Self.fits(retry) {
            schemaOnlyAsResponseFormat = true
            findings["output_schema"] = .init(
                false,
                "text.format was ignored (the answer: \(Self.short(answer, 60))); Chat Completions' response_format was kept to (\(Self.short(retry, 60))): set provider.response_format true")
            drift.append("The server ignores text.format and keeps to a schema only when it comes as Chat Completions' response_format.")
        } else {
            findings["output_schema"] = .init(
                false, "the answer to a text.format json_schema request does not fit it: \(Self.short(answer, 100)); runs check answers and ask again")
        }
    }

    /// Whether an answer is the greeting object the probe's schema asks for.
    static func fits(_ text: String) -> Bool {
        guard let value = try? JSONValue(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines)), case .object(let members) = value else { return false }
        return members["greeting"]?.stringValue != nil && members["language"]?.stringValue != nil && members.count == 2
    }

    // MARK: Function calling

    static let weather: JSONValue = [
        "type": "function", "name": "get_weather", "description": "The current weather in a city.", "strict": true,
        "parameters": [
            "type": "object", "additionalProperties": false, "required": ["city", "unit"],
            "properties": [
                "city": ["type": "string", "description": "The city's name"],
                "unit": ["type": ["string", "null"], "enum": ["celsius", "fahrenheit", nil], "description": "The unit, or null"],
            ],
        ],
    ]
    static let time: JSONValue = [
        "type": "function", "name": "get_time", "description": "The current time in a time zone.", "strict": true,
        "parameters": [
            "type": "object", "additionalProperties": false, "required": ["timezone"],
            "properties": ["timezone": ["type": "string", "description": "An IANA time zone, e.g. Europe/Paris"]],
        ],
    ]

    /// Whether a call's arguments keep to its tool's strict schema.
    static func conforms(_ call: JSONValue) -> Bool {
        let text = call["arguments"]?.stringValue ?? call["arguments"]?.jsonString ?? ""
        guard let arguments = try? JSONValue(parsing: text), case .object(let members) = arguments else { return false }
        switch call["name"]?.stringValue {
        case "get_weather":
            guard Set(members.keys) == ["city", "unit"], members["city"]?.stringValue != nil else { return false }
            return [JSONValue.null, "celsius", "fahrenheit"].contains(members["unit"] ?? "?")
        case "get_time":
            return Set(members.keys) == ["timezone"] && members["timezone"]?.stringValue != nil
        default:
            return false
        }
    }

    static func calls(_ json: JSONValue?) -> [JSONValue] {
        (json?["output"]?.arrayValue ?? []).filter { $0["type"] == "function_call" }
    }

    private mutating func functionCalling() async {
        var strictCalls: [JSONValue] = []
        var strictRefused: String?

        // auto
        let auto = await send(.POST, "/responses", body: body([
            "input": "What is the weather in Paris right now? Use the get_weather tool.", "tools": [Self.weather], "tool_choice": "auto",
            capField: 64,
        ]))
        if auto.ok {
            let calls = Self.calls(auto.json)
            strictCalls += calls
            if let call = calls.first {
                findings["function_calling"] = .init(true, "a function_call of \(call["name"]?.stringValue ?? "?") with arguments \(call["arguments"]?.stringValue ?? "?")")
            } else {
                let text = Self.text(auto.json)
                findings["function_calling"] = .init(nil, "the model answered in text, not with a function_call: \(Self.short(text))")
                if text.contains("get_weather") { drift.append("the model wrote its tool call as text instead of a function_call item") }
            }
        } else {
            findings["function_calling"] = .init(auto.failure == nil ? false : nil, auto.evidence)
            if mentions(auto, "strict") { strictRefused = auto.evidence }
            noteErrorShape(auto)
        }

        // required
        let required = await send(.POST, "/responses", body: body([
            "input": "Hello!", "tools": [Self.weather, Self.time], "tool_choice": "required", capField: 64,
        ]))
        if required.ok {
            let calls = Self.calls(required.json)
            strictCalls += calls
            findings["tool_choice_required"] = calls.isEmpty
                ? .init(false, "tool_choice required, yet the answer was text: \(Self.short(Self.text(required.json)))")
                : .init(true, "a function_call of \(calls[0]["name"]?.stringValue ?? "?") to a plain greeting")
        } else {
            findings["tool_choice_required"] = .init(required.failure == nil ? false : nil, required.evidence)
            noteErrorShape(required)
        }

        // named
        let named = await send(.POST, "/responses", body: body([
            "input": "What is the weather in Paris?", "tools": [Self.weather, Self.time],
            "tool_choice": ["type": "function", "name": "get_time"], capField: 64,
        ]))
        if named.ok {
            let calls = Self.calls(named.json)
            strictCalls += calls
            if calls.contains(where: { $0["name"] == "get_time" }) {
                findings["tool_choice_named"] = .init(true, "asked about the weather with tool_choice naming get_time, the model called get_time")
            } else if let call = calls.first {
                findings["tool_choice_named"] = .init(false, "tool_choice named get_time, yet the model called \(call["name"]?.stringValue ?? "?")")
            } else {
                findings["tool_choice_named"] = .init(false, "tool_choice named get_time, yet the answer was text: \(Self.short(Self.text(named.json)))")
            }
        } else {
            findings["tool_choice_named"] = .init(named.failure == nil ? false : nil, named.evidence)
            noteErrorShape(named)
        }

        // parallel
        let parallel = await send(.POST, "/responses", body: body([
            "input": "Get the weather in Paris and the weather in Tokyo: call get_weather twice, both at once.", "tools": [Self.weather],
            "tool_choice": "required", "parallel_tool_calls": true, capField: 128,
        ]))
        if parallel.ok {
            let calls = Self.calls(parallel.json)
            strictCalls += calls
            if calls.count >= 2 {
                findings["parallel_calls"] = .init(true, "\(calls.count) function_calls in one response")
            } else {
                findings["parallel_calls"] = .init(nil, "\(calls.count) function_call\(calls.count == 1 ? "" : "s") in the response; the model may have chosen fewer")
            }
        } else {
            findings["parallel_calls"] = .init(parallel.failure == nil ? false : nil, parallel.evidence)
            noteErrorShape(parallel)
        }

        // strict schemas, from every call above
        if let strictRefused {
            findings["strict_schemas"] = .init(false, strictRefused)
        } else if strictCalls.isEmpty {
            findings["strict_schemas"] = .init(nil, "no function_call came back to check against its strict schema")
        } else {
            let broken = strictCalls.filter { !Self.conforms($0) }
            findings["strict_schemas"] = broken.isEmpty
                ? .init(true, "\(strictCalls.count) call\(strictCalls.count == 1 ? "" : "s") kept to their strict schemas (every field present, no other)")
                : .init(false, "arguments that break the strict schema: \(broken[0]["arguments"]?.stringValue ?? broken[0].jsonString)")
        }
    }

    // MARK: Background and resumption

    private mutating func background() async {
        let exchange = await send(.POST, "/responses", body: body([
            "input": "Reply with the single word: ready", "background": true, capField: .number(Double(Self.cap)),
        ]))
        guard exchange.ok, let json = exchange.json, let id = json["id"]?.stringValue else {
            findings["background"] = .init(exchange.failure == nil ? false : nil, exchange.evidence)
            noteErrorShape(exchange)
            return
        }
        let status = json["status"]?.stringValue ?? "?"
        if ["completed", "incomplete", "failed"].contains(status), json["background"]?.boolValue != true {
            findings["background"] = .init(false, "answered at once with status '\(status)' and no background flag: background: true is ignored")
            return
        }
        var seen = [status]
        var last = json
        var poll = 0
        let deadline = ContinuousClock.now + .seconds(90)
        while ["queued", "in_progress"].contains(last["status"]?.stringValue ?? ""), ContinuousClock.now < deadline {
            try? await Task.sleep(for: client.configuration.polling.interval(beforePoll: poll))
            poll += 1
            let answer = await send(.GET, "/responses/\(id)")
            guard answer.ok, let body = answer.json else {
                findings["background"] = .init(false, "created '\(status)', but polling GET /responses/\(id) failed: \(answer.evidence)")
                noteErrorShape(answer)
                return
            }
            last = body
            if let now = body["status"]?.stringValue, now != seen.last { seen.append(now) }
        }
        let final = last["status"]?.stringValue ?? "?"
        if ["queued", "in_progress"].contains(final) {
            findings["background"] = .init(nil, "still '\(final)' after 90 s of polling (\(seen.joined(separator: " → ")))")
            _ = await send(.POST, "/responses/\(id)/cancel")
        } else {
            findings["background"] = .init(final == "completed" || final == "incomplete", "\(seen.joined(separator: " → ")) over \(poll) poll\(poll == 1 ? "" : "s")")
        }
    }

    private mutating func streamResumption() async {
        let inBackground = findings["background"]?.supported == true
        var fields: [String: JSONValue] = ["input": "Reply with the single word: ready", "stream": true, capField: .number(Double(Self.cap))]
        if inBackground { fields["background"] = true } else { fields["store"] = true }
        let exchange = await send(.POST, "/responses", body: body(fields), stream: true)
        guard exchange.ok, exchange.isStream else {
            findings["stream_resumption"] = .init(nil, "the stream to resume could not be made: \(exchange.ok ? "not a stream" : exchange.evidence)")
            return
        }
        let events = exchange.events.compactMap { try? JSONValue(parsing: $0.data) }
        guard let id = events.lazy.compactMap({ $0["response"]?["id"]?.stringValue }).first else {
            findings["stream_resumption"] = .init(nil, "no event named the response's id")
            return
        }
        let numbers = events.compactMap { $0["sequence_number"]?.intValue }
        guard numbers.count >= 3 else {
            findings["stream_resumption"] = .init(false, "the events carry no sequence_number, so there is nothing to resume after")
            return
        }
        let after = numbers[1]
        let resumed = await send(.GET, "/responses/\(id)", query: [("stream", "true"), ("starting_after", String(after))], stream: true)
        guard resumed.ok else {
            findings["stream_resumption"] = .init(false, "GET /responses/\(id)?stream=true&starting_after=\(after): \(resumed.evidence)")
            noteErrorShape(resumed)
            return
        }
        guard resumed.isStream else {
            findings["stream_resumption"] = .init(false, "GET …?stream=true answered \(resumed.contentType), not a stream of events")
            return
        }
        let first = resumed.events.lazy.compactMap { try? JSONValue(parsing: $0.data) }.compactMap { $0["sequence_number"]?.intValue }.first
        if let first, first > after {
            findings["stream_resumption"] = .init(true, "GET …?stream=true&starting_after=\(after) went on from event \(first)\(inBackground ? " (a background response)" : "")")
        } else {
            findings["stream_resumption"] = .init(false, "GET …?stream=true&starting_after=\(after) started again from event \(first.map(String.init) ?? "?")")
        }
    }

    // MARK: Drift

    private mutating func noteResponseShape(_ json: JSONValue) {
        if json["created_at"] == nil, json["created"] != nil { drift.append("'created' instead of 'created_at' in the response") }
        if let id = json["id"]?.stringValue, !id.hasPrefix("resp_") { drift.append("response ids without the resp_ prefix (\(Self.short(id, 24)))") }
        if json["object"]?.stringValue != "response" { drift.append("the response's 'object' is \(json["object"].map { $0.jsonString } ?? "absent"), not \"response\"") }
        if (json["output"]?.arrayValue ?? []).contains(where: { $0["type"] == "text" }) {
            drift.append("assistant text as a bare {\"type\": \"text\"} output item, not a message")
        }
        if json["store"]?.boolValue == false { drift.append("the response says store: false although store: true was asked") }
    }

    @discardableResult
    private mutating func noteStreamShape(_ events: [ServerSentEvent]) -> [String] {
        var types: [String] = []
        var numbered = 0
        var doneSentinel = false
        for event in events {
            if event.data.trimmingCharacters(in: .whitespaces) == "[DONE]" {
                doneSentinel = true
                continue
            }
            guard let json = try? JSONValue(parsing: event.data) else {
                drift.append("a stream event whose data is not JSON: \(Self.short(event.data))")
                continue
            }
            if let type = json["type"]?.stringValue ?? event.event { types.append(type) }
            if json["sequence_number"] != nil { numbered += 1 }
            if json["type"] == "response.function_call_arguments.done", json["name"] == nil {
                drift.append("response.function_call_arguments.done without 'name'")
            }
        }
        if types.contains("response.done") { drift.append("the stream ends with response.done, not response.completed") }
        if doneSentinel { drift.append("the stream ends with a [DONE] line") }
        if numbered < types.count, !types.isEmpty { drift.append("stream events without sequence_number (\(types.count - numbered) of \(types.count))") }
        if let created = events.lazy.compactMap({ try? JSONValue(parsing: $0.data) }).first(where: { $0["response"] != nil })?["response"] {
            noteResponseShape(created)
        }
        return types
    }

    private mutating func noteErrorShape(_ exchange: Exchange) {
        guard exchange.failure == nil, !exchange.ok else { return }
        guard let json = exchange.json else {
            drift.append("an error answered with \(exchange.contentType.isEmpty ? "no content type" : exchange.contentType), not a JSON error body (HTTP \(exchange.status))")
            return
        }
        guard let error = json["error"]?.objectValue else {
            drift.append("an error body without {\"error\": {…}} (HTTP \(exchange.status)): \(Self.short(json.jsonString))")
            return
        }
        if case .number(let code)? = error["code"] {
            drift.append("error 'code' as a number (\(JSONValue.number(code).jsonString)), not a string")
        }
    }

    private func mentions(_ exchange: Exchange, _ word: String) -> Bool {
        exchange.message.contains(word)
    }

    static func text(_ json: JSONValue?) -> String {
        var parts: [String] = []
        for item in json?["output"]?.arrayValue ?? [] {
            if item["type"] == "text", let text = item["text"]?.stringValue { parts.append(text) }
            for part in item["content"]?.arrayValue ?? [] { if let text = part["text"]?.stringValue { parts.append(text) } }
        }
        return parts.joined()
    }

    static func short(_ text: String, _ limit: Int = 80) -> String { OneLine.squash(text, limit: limit) }

    // MARK: HTTP

    private mutating func send(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: JSONValue? = nil, stream: Bool = false
    ) async -> Exchange {
        requests += 1
        let what = "\(method.rawValue) \(path)\(query.isEmpty ? "" : "?" + query.map { "\($0.0)=\($0.1)" }.joined(separator: "&"))"
        progress(what)
        let request = client.httpRequest(method, path, query: query, body: body.map { ByteBuffer(string: $0.jsonString) }, acceptStream: stream)
        do {
            let answer = try await client.transport.execute(request, timeout: client.configuration.responseTimeout, streaming: stream)
            let bytes = try await answer.body.collect(upTo: 8 << 20)
            let raw = Array(bytes.readableBytesView)
            var exchange = Exchange(
                status: Int(answer.status.code), contentType: answer.headers.first(name: "content-type")?.lowercased() ?? "", body: raw,
                json: try? JSONValue(parsing: Data(raw)))
            if exchange.isStream {
                var parser = ServerSentEventParser()
                exchange.events = parser.feed(raw)
                parser.finish()
            }
            return exchange
        } catch {
            var failure = client.connectionError(error, doing: what)
            failure.redact(client.provider.apiKey?.value)
            return Exchange(status: 0, contentType: "", body: [], json: nil, failure: failure.message)
        }
    }
}
