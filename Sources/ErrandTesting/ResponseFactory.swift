import Foundation
import ResponsesAPI

/// Builds the response object and the stream events a scripted turn stands for, in the chosen dialect.
struct ResponseFactory {
    let dialect: ScriptedDialect
    var counter: Int

    mutating func id(_ prefix: String) -> String {
        counter += 1
        if dialect.prefixedIDs { return "\(prefix)_\(String(format: "%04d", counter))" }
        return UUID().uuidString.lowercased()
    }

    /// The output items of a turn, as wire JSON.
    mutating func items(for turn: ScriptedTurn, request: JSONValue?) -> [JSONValue] {
        let wantsEncrypted = request?["include"]?.arrayValue?.contains("reasoning.encrypted_content") ?? false
        return turn.output.map { output -> JSONValue in
            switch output {
            case .message(let text):
                if dialect.bareTextItems { return ["type": "text", "text": .string(text)] }
                return [
                    "id": .string(id("msg")), "type": "message", "role": "assistant", "status": "completed",
                    "content": [["type": "output_text", "text": .string(text), "annotations": [], "logprobs": []]],
                ]
            case .refusal(let text):
                return [
                    "id": .string(id("msg")), "type": "message", "role": "assistant", "status": "completed",
                    "content": [["type": "refusal", "refusal": .string(text)]],
                ]
            case .functionCall(let name, let arguments, let callID):
                return [
                    "id": .string(id("fc")), "type": "function_call", "call_id": .string(callID ?? id("call")), "name": .string(name),
                    "arguments": .string(arguments), "status": "completed",
                ]
            case .reasoning(let summary):
                var item: JSONValue = [
                    "id": .string(id("rs")), "type": "reasoning", "summary": [["type": "summary_text", "text": .string(summary)]],
                ]
                if wantsEncrypted { item["encrypted_content"] = .string("enc:" + Data(summary.utf8).base64EncodedString()) }
                return item
            case .item(let raw):
                return raw
            }
        }
    }

    /// The response object.
    func response(
        id: String, status: String, output: [JSONValue], request: JSONValue?, turn: ScriptedTurn?, usage: JSONValue
    ) -> JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(id), "object": "response", dialect.createdKey: .number(Date().timeIntervalSince1970.rounded()),
            "status": .string(status), "error": .null, "incomplete_details": .null, "output": .array(output),
            "instructions": request?["instructions"] ?? .null, "model": request?["model"] ?? "scripted-model",
            "tools": request?["tools"] ?? [], "tool_choice": request?["tool_choice"] ?? "auto",
            "parallel_tool_calls": request?["parallel_tool_calls"] ?? true, "temperature": request?["temperature"] ?? 1.0,
            "top_p": request?["top_p"] ?? 1.0, "metadata": request?["metadata"] ?? [:],
            "previous_response_id": request?["previous_response_id"] ?? .null, "store": request?["store"] ?? true,
            "background": dialect.supportsBackground ? request?["background"] ?? false : false, "usage": usage,
        ]
        if status == "incomplete" { object["incomplete_details"] = ["reason": .string(turn?.incompleteReason ?? "max_output_tokens")] }
        if status == "failed" {
            let failure = turn?.failure ?? turn?.streamError ?? ("server_error", "The scripted turn failed.")
            object["error"] = ["code": .string(failure.code), "message": .string(failure.message)]
        }
        for (key, value) in dialect.extraResponseFields { object[key] = value }
        return .object(object)
    }

    /// A plausible usage block: about four characters a token. `inputTokens` (the whole context, when the server
    /// counts it) replaces the estimate from the request body; `override` wins over both.
    static func usage(request: JSONValue?, output: [JSONValue], override: Usage?, inputTokens: Int? = nil) -> JSONValue {
        if let override, let value = try? JSONValue(encoding: override) { return value }
        let input = inputTokens ?? max(1, (request?.jsonString.utf8.count ?? 0) / 4)
        let produced = max(1, output.map(\.jsonString.utf8.count).reduce(0, +) / 4)
        return usage(input: input, output: produced)
    }

    /// A usage block with these counts.
    static func usage(input: Int, output produced: Int) -> JSONValue {
        [
            "input_tokens": .number(Double(input)), "input_tokens_details": ["cached_tokens": 0],
            "output_tokens": .number(Double(produced)), "output_tokens_details": ["reasoning_tokens": 0],
            "total_tokens": .number(Double(input + produced)),
        ]
    }

    /// The opaque item that stands for the `replaced` items of a conversation, the server's `number`th compaction.
    static func compactionItem(number: Int, replaced: Int) -> JSONValue {
        ["type": "compaction", "id": .string("cmp_\(number)"), "encrypted_content": .string("scripted-compaction:\(number):\(replaced)")]
    }

    /// The events that stream `final`, numbered from 0.
    func events(for final: JSONValue, turn: ScriptedTurn) -> [JSONValue] {
        var events: [JSONValue] = []
        func emit(_ type: String, _ payload: [String: JSONValue]) {
            var event = payload
            event["type"] = .string(type)
            if dialect.sequenceNumbers { event["sequence_number"] = .number(Double(events.count)) }
            events.append(.object(event))
        }
        var start = final
        start["status"] = "in_progress"
        start["output"] = []
        start["usage"] = .null
        start["error"] = .null
        start["incomplete_details"] = .null
        emit("response.created", ["response": start])
        emit("response.in_progress", ["response": start])
        if let streamError = turn.streamError {
            if dialect.nestedErrorEvents {
                emit("error", ["error": ["type": .string(streamError.code), "code": .string(streamError.code), "message": .string(streamError.message), "param": .null]])
            } else {
                emit("error", ["code": .string(streamError.code), "message": .string(streamError.message), "param": .null])
            }
            if turn.failAfterStreamError { emit("response.failed", ["response": final]) }
            return events
        }
        for (index, item) in (final["output"]?.arrayValue ?? []).enumerated() {
            let outputIndex = JSONValue.number(Double(index))
            let itemID = item["id"] ?? .string("item_\(index)")
            switch item["type"]?.stringValue {
            case "message", "text":
                var added = item
                added["status"] = "in_progress"
                added["content"] = []
                if item["type"] == "text" { added = ["type": "message", "id": itemID, "role": "assistant", "status": "in_progress", "content": []] }
                emit("response.output_item.added", ["output_index": outputIndex, "item": added])
                let parts = item["type"] == "text" ? [["type": "output_text", "text": item["text"] ?? ""] as JSONValue] : item["content"]?.arrayValue ?? []
                for (partIndex, part) in parts.enumerated() {
                    let contentIndex = JSONValue.number(Double(partIndex))
                    let where_: [String: JSONValue] = ["item_id": itemID, "output_index": outputIndex, "content_index": contentIndex]
                    if part["type"] == "refusal" {
                        let text = part["refusal"]?.stringValue ?? ""
                        emit("response.content_part.added", where_.merging(["part": ["type": "refusal", "refusal": ""]]) { $1 })
                        for chunk in chunks(text) { emit("response.refusal.delta", where_.merging(["delta": .string(chunk)]) { $1 }) }
                        emit("response.refusal.done", where_.merging(["refusal": .string(text)]) { $1 })
                    } else {
                        let text = part["text"]?.stringValue ?? ""
                        emit("response.content_part.added", where_.merging(["part": ["type": "output_text", "text": "", "annotations": []]]) { $1 })
                        for chunk in chunks(text) {
                            emit("response.output_text.delta", where_.merging(["delta": .string(chunk), "logprobs": []]) { $1 })
                        }
                        emit("response.output_text.done", where_.merging(["text": .string(text), "logprobs": []]) { $1 })
                    }
                    emit("response.content_part.done", where_.merging(["part": part]) { $1 })
                }
                emit("response.output_item.done", ["output_index": outputIndex, "item": item])
            case "function_call":
                var added = item
                added["status"] = "in_progress"
                added["arguments"] = ""
                emit("response.output_item.added", ["output_index": outputIndex, "item": added])
                let arguments = item["arguments"]?.stringValue ?? ""
                if dialect.argumentDeltas {
                    for chunk in chunks(arguments) {
                        emit("response.function_call_arguments.delta", ["item_id": itemID, "output_index": outputIndex, "delta": .string(chunk)])
                    }
                }
                var done: [String: JSONValue] = ["item_id": itemID, "output_index": outputIndex, "arguments": .string(arguments)]
                if dialect.nameOnArgumentsDone { done["name"] = item["name"] }
                emit("response.function_call_arguments.done", done)
                emit("response.output_item.done", ["output_index": outputIndex, "item": item])
            case "reasoning":
                var added = item
                added["summary"] = []
                emit("response.output_item.added", ["output_index": outputIndex, "item": added])
                for (summaryIndex, part) in (item["summary"]?.arrayValue ?? []).enumerated() {
                    let where_: [String: JSONValue] = ["item_id": itemID, "output_index": outputIndex, "summary_index": .number(Double(summaryIndex))]
                    let text = part["text"]?.stringValue ?? ""
                    emit("response.reasoning_summary_part.added", where_.merging(["part": ["type": "summary_text", "text": ""]]) { $1 })
                    for chunk in chunks(text) { emit("response.reasoning_summary_text.delta", where_.merging(["delta": .string(chunk)]) { $1 }) }
                    emit("response.reasoning_summary_text.done", where_.merging(["text": .string(text)]) { $1 })
                    emit("response.reasoning_summary_part.done", where_.merging(["part": part]) { $1 })
                }
                emit("response.output_item.done", ["output_index": outputIndex, "item": item])
            default:
                emit("response.output_item.added", ["output_index": outputIndex, "item": item])
                emit("response.output_item.done", ["output_index": outputIndex, "item": item])
            }
        }
        switch final["status"]?.stringValue {
        case "incomplete": emit("response.incomplete", ["response": final])
        case "failed": emit("response.failed", ["response": final])
        default: emit(dialect.completedEventType, ["response": final])
        }
        return events
    }

    private func chunks(_ text: String) -> [String] {
        guard !text.isEmpty else { return [] }
        var result: [String] = []
        var current = ""
        for character in text {
            current.append(character)
            if current.count >= dialect.deltaSize {
                result.append(current)
                current = ""
            }
        }
        if !current.isEmpty { result.append(current) }
        return result
    }
}
