import Foundation
import ResponsesAPI

/// What happens during a run, as it happens.
public indirect enum RunEvent: Sendable {
    /// The run started.
    case runStarted(runID: String, agent: String)
    /// A model turn started.
    case turnStarted(turn: Int, stateless: Bool)
    /// Streamed answer text.
    case textDelta(String)
    /// A tool call is about to run.
    case toolCallStarted(turn: Int, callID: String, name: String, arguments: String)
    /// A tool call finished, with its output or error.
    case toolCallFinished(ToolCallRecord)
    /// A model turn finished, with its usage and its cost in USD (nil when the model has no price).
    case turnFinished(turn: Int, responseID: String, usage: Usage?, costUSD: Double?)
    /// The provider ran one of its own tools (`web_search_call`, `mcp_call`, `mcp_list_tools`, …).
    case hostedToolCall(turn: Int, call: HostedToolCall)
    /// A hosted MCP server asked for approval (`mcp_approval_request`), and the answer sent back.
    case hostedApproval(turn: Int, request: HostedToolCall, approved: Bool)
    /// The provider refused `previous_response_id`; the run replays the history from now on.
    case stateFallback(reason: String)
    /// A model connection was opened (WebSocket mode), or the run settled on HTTP.
    case connection(JournalEvent.Connection)
    /// The conversation was compacted to fit the context window.
    case compacted(JournalEvent.Compaction)
    /// The final answer did not fit the output schema; the next turn asks again.
    case outputRejected(JournalEvent.OutputRejected)
    /// A guardrail gave its verdict.
    case guardrail(JournalEvent.GuardrailChecked)
    /// The conversation was handed to another agent.
    case handoff(JournalEvent.Handoff)
    /// An event of a child run: an agent used as a tool (for the call `callID`), or a guardrail's judge.
    case subRun(callID: String, runID: String, event: RunEvent)
    /// The run finished.
    case runFinished(RunResult)
}
