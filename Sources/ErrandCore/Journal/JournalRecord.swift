import Foundation
import ResponsesAPI

/// One line of a journal: an event, the run it belongs to and when it happened.
public struct JournalRecord: Sendable, Hashable {
    /// The run's id.
    public var runID: String
    /// Seconds since 1970.
    public var time: Double
    /// What happened.
    public var event: JournalEvent

    /// Creates a record.
    public init(runID: String, time: Double = Date().timeIntervalSince1970, event: JournalEvent) {
        self.runID = runID
        self.time = time
        self.event = event
    }
}

extension JournalRecord: Codable {
    enum CodingKeys: String, CodingKey { case type, runID = "run_id", time }

    /// Decodes a line: the `type` picks the payload; unknown types are an error that names them.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        runID = try container.decodeIfPresent(String.self, forKey: .runID) ?? ""
        time = try container.decodeIfPresent(Double.self, forKey: .time) ?? 0
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "run_started": event = .runStarted(try .init(from: decoder))
        case "request": event = .requestSent(try .init(from: decoder))
        case "background_response": event = .backgroundResponse(try .init(from: decoder))
        case "response": event = .responseReceived(try .init(from: decoder))
        case "tool_started": event = .toolStarted(try .init(from: decoder))
        case "tool_finished", "tool_call": event = .toolFinished(try .init(from: decoder))
        case "hosted_tool_call": event = .hostedCall(try .init(from: decoder))
        case "approval": event = .approval(try .init(from: decoder))
        case "state_fallback": event = .stateFallback(try .init(from: decoder))
        case "connection": event = .connection(try .init(from: decoder))
        case "compaction": event = .compaction(try .init(from: decoder))
        case "input_added": event = .inputAdded(try .init(from: decoder))
        case "output_rejected": event = .outputRejected(try .init(from: decoder))
        case "guardrail": event = .guardrail(try .init(from: decoder))
        case "handoff": event = .handoff(try .init(from: decoder))
        case "error": event = .failure(try .init(from: decoder))
        case "run_resumed": event = .runResumed(try .init(from: decoder))
        case "run_finished": event = .runFinished(try .init(from: decoder))
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: container, debugDescription: "'\(type)' is not a journal event")
        }
    }

    /// Encodes the line: `type`, `run_id`, `time`, then the payload's fields.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(event.type, forKey: .type)
        try container.encode(runID, forKey: .runID)
        try container.encode(time, forKey: .time)
        switch event {
        case .runStarted(let e): try e.encode(to: encoder)
        case .requestSent(let e): try e.encode(to: encoder)
        case .backgroundResponse(let e): try e.encode(to: encoder)
        case .responseReceived(let e): try e.encode(to: encoder)
        case .toolStarted(let e): try e.encode(to: encoder)
        case .toolFinished(let e): try e.encode(to: encoder)
        case .hostedCall(let e): try e.encode(to: encoder)
        case .approval(let e): try e.encode(to: encoder)
        case .stateFallback(let e): try e.encode(to: encoder)
        case .connection(let e): try e.encode(to: encoder)
        case .compaction(let e): try e.encode(to: encoder)
        case .inputAdded(let e): try e.encode(to: encoder)
        case .outputRejected(let e): try e.encode(to: encoder)
        case .guardrail(let e): try e.encode(to: encoder)
        case .handoff(let e): try e.encode(to: encoder)
        case .failure(let e): try e.encode(to: encoder)
        case .runResumed(let e): try e.encode(to: encoder)
        case .runFinished(let e): try e.encode(to: encoder)
        }
    }
}
