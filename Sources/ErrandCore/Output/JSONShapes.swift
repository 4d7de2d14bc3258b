import Foundation
import ResponsesAPI

extension ToolCallRecord {
    /// The record as JSON, in its one shape (see ``encode(to:)``).
    public var jsonValue: JSONValue { (try? JSONValue(encoding: self)) ?? [:] }
}

extension Usage {
    /// The counts as JSON.
    public var jsonValue: JSONValue {
        [
            "input_tokens": .number(Double(inputTokens)), "output_tokens": .number(Double(outputTokens)),
            "total_tokens": .number(Double(totalTokens)), "cached_tokens": .number(Double(cachedTokens)),
            "reasoning_tokens": .number(Double(reasoningTokens)),
        ]
    }
}

extension RunResult {
    /// The result as one JSON object: status, output_text, turns, tool_calls, usage, response_id, run_id, journal, error.
    public var jsonValue: JSONValue {
        [
            "status": .string(status.rawValue), "output_text": .string(finalText), "turns": .number(Double(turns)),
            "tool_calls": .array(toolCalls.map(\.jsonValue)),
            "usage": usage.jsonValue, "response_id": lastResponseID.map(JSONValue.string) ?? .null, "run_id": .string(runID),
            "journal": journal.map { .string($0.path) } ?? .null, "error": error.map(JSONValue.string) ?? .null,
            "incomplete_reason": incompleteReason.map(JSONValue.string) ?? .null, "cost_usd": costUSD.map(JSONValue.number) ?? .null,
            "output": output ?? .null,
        ]
    }
}

extension HostedToolCall {
    /// A one-line account of a hosted call: `web_search_call "swift 6" completed`, `mcp_call deepwiki.ask_question`.
    public var summary: String {
        var parts = [type]
        if let label = self["server_label"]?.stringValue {
            parts.append(self["name"]?.stringValue.map { "\(label).\($0)" } ?? label)
        } else if let name = self["name"]?.stringValue {
            parts.append(name)
        }
        if let query = self["action"]?["query"]?.stringValue { parts.append("\"\(query)\"") }
        if let tools = self["tools"]?.arrayValue { parts.append("\(tools.count) tools") }
        if let error = self["error"], error != .null { parts.append("error: \(error.stringValue ?? error.jsonString)") }
        if let status { parts.append(status) }
        return parts.joined(separator: " ")
    }

    /// The reply to an `mcp_approval_request`, as an input item.
    public func approvalResponse(approve: Bool) -> InputItem {
        .raw(["type": "mcp_approval_response", "approval_request_id": .string(id ?? ""), "approve": .bool(approve)])
    }
}

extension RunEvent {
    /// The event as one JSON object with a `type`.
    public var jsonValue: JSONValue {
        switch self {
        case .runStarted(let runID, let agent):
            ["type": "run_started", "run_id": .string(runID), "agent": .string(agent)]
        case .turnStarted(let turn, let stateless):
            ["type": "turn_started", "turn": .number(Double(turn)), "stateless": .bool(stateless)]
        case .textDelta(let text):
            ["type": "text_delta", "delta": .string(text)]
        case .toolCallStarted(let turn, let callID, let name, let arguments):
            ["type": "tool_call_started", "turn": .number(Double(turn)), "call_id": .string(callID), "name": .string(name), "arguments": .string(arguments)]
        case .toolCallFinished(let record):
            { var value = record.jsonValue; value["type"] = "tool_call_finished"; return value }()
        case .turnFinished(let turn, let responseID, let usage, let cost):
            [
                "type": "turn_finished", "turn": .number(Double(turn)), "response_id": .string(responseID), "usage": usage?.jsonValue ?? .null,
                "cost_usd": cost.map(JSONValue.number) ?? .null,
            ]
        case .compacted(let e):
            [
                "type": "compaction", "turn": .number(Double(e.turn)), "method": .string(e.method.rawValue), "reason": .string(e.reason.rawValue),
                "tokens_before": .number(Double(e.tokensBefore)), "tokens_after": .number(Double(e.tokensAfter)),
                "window": e.window.map { .number(Double($0)) } ?? .null, "kept": .string(e.kept),
                "cost_usd": e.costUSD.map(JSONValue.number) ?? .null,
            ]
        case .hostedToolCall(let turn, let call):
            ["type": "hosted_tool_call", "turn": .number(Double(turn)), "item": call.raw]
        case .hostedApproval(let turn, let request, let approved):
            ["type": "hosted_approval", "turn": .number(Double(turn)), "request": request.raw, "approved": .bool(approved)]
        case .stateFallback(let reason):
            ["type": "state_fallback", "reason": .string(reason)]
        case .connection(let e):
            [
                "type": "connection", "turn": .number(Double(e.turn)), "transport": .string(e.transport.rawValue), "url": e.url.map(JSONValue.string) ?? .null,
                "connection": e.number.map { .number(Double($0)) } ?? .null, "reason": .string(e.reason), "next": e.next.map(JSONValue.string) ?? .null,
            ]
        case .outputRejected(let e):
            [
                "type": "output_rejected", "turn": .number(Double(e.turn)), "attempt": .number(Double(e.attempt)),
                "problems": .array(e.problems.map(JSONValue.string)),
            ]
        case .guardrail(let e):
            { var value = (try? JSONValue(encoding: e)) ?? [:]; value["type"] = "guardrail"; return value }()
        case .handoff(let e):
            { var value = (try? JSONValue(encoding: e)) ?? [:]; value["type"] = "handoff"; return value }()
        case .subRun(let callID, let runID, let event):
            ["type": "sub_run", "call_id": .string(callID), "run_id": .string(runID), "event": event.jsonValue]
        case .runFinished(let result):
            { var value = result.jsonValue; value["type"] = "run_finished"; return value }()
        }
    }
}

extension BatchResult {
    /// One task's JSON line: id, status, output_text, turns, tool_calls (a count, and tool_errors), usage, run_id,
    /// error, incomplete_reason, journal and origin (started, resumed or journaled).
    public var jsonValue: JSONValue {
        [
            "type": "task", "id": .string(id), "status": .string(result.status.rawValue), "output_text": .string(result.finalText),
            "turns": .number(Double(result.turns)), "tool_calls": .number(Double(result.toolCalls.count)),
            "tool_errors": .number(Double(result.toolCalls.filter(\.isError).count)), "usage": result.usage.jsonValue,
            "run_id": .string(result.runID), "error": result.error.map(JSONValue.string) ?? .null,
            "incomplete_reason": result.incompleteReason.map(JSONValue.string) ?? .null, "cost_usd": result.costUSD.map(JSONValue.number) ?? .null,
            "journal": result.journal.map { .string($0.path) } ?? .null, "origin": .string(origin.rawValue),
            "output": result.output ?? .null,
        ]
    }
}

extension BatchSummary {
    /// The batch's summary line: tasks, finished, not_run, statuses (every status, 0 included), started, resumed,
    /// journaled, tool_calls, usage, elapsed_seconds and the batch's folder.
    public func jsonValue(folder: URL) -> JSONValue {
        var statuses: [String: JSONValue] = [:]
        for status in RunResult.Status.allCases { statuses[status.rawValue] = .number(Double(byStatus[status] ?? 0)) }
        return [
            "type": "summary", "tasks": .number(Double(total)), "finished": .number(Double(finished)),
            "not_run": .number(Double(notRun)), "statuses": .object(statuses),
            "started": .number(Double(byOrigin[.started] ?? 0)), "resumed": .number(Double(byOrigin[.resumed] ?? 0)),
            "journaled": .number(Double(byOrigin[.journaled] ?? 0)), "not_started": .number(Double(byOrigin[.notStarted] ?? 0)),
            "tool_calls": .number(Double(toolCalls)),
            "usage": usage.jsonValue, "cost_usd": costUSD.map(JSONValue.number) ?? .null, "unpriced_tasks": .number(Double(unpricedTasks)),
            "elapsed_seconds": .number(elapsedSeconds), "batch": .string(folder.path),
        ]
    }
}

extension RunSummary {
    /// One run as `errand runs --json` lists it.
    public var jsonValue: JSONValue {
        [
            "run_id": .string(runID), "agent": .string(agent), "model": .string(model),
            "status": status.map { .string($0.rawValue) } ?? .null, "turns": .number(Double(turns)),
            "total_tokens": .number(Double(totalTokens)), "cost_usd": costUSD.map(JSONValue.number) ?? .null,
            "started": .number(started.timeIntervalSince1970.rounded()),
            "task": .string(task), "error": error.map(JSONValue.string) ?? .null, "journal": .string(journal),
            "parent_run_id": parentRunID.map(JSONValue.string) ?? .null,
        ]
    }
}
