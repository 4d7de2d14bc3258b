import Foundation
import Logging
import ResponsesAPI
import Tracing

/// Runs one function call and turns whatever happens into the output the model reads: the tool's output, or an error
/// that says exactly what went wrong (unknown tool, arguments that are not JSON or do not fit the schema, a thrown
/// error, a timeout), so that the model can try again.
struct ToolExecutor: Sendable {
    let agent: Agent
    let runID: String
    let logger: Logger
    /// Runs agents used as tools as children of the run.
    var subRuns: SubRuns?

    /// Runs the call in a span of its own (`execute_tool NAME`).
    func execute(_ slot: RunState.Call, turn: Int) async -> ToolCallRecord {
        let call = slot.call
        return await withSpan("execute_tool \(call.name)", ofKind: .internal) { span in
            span.attributes["gen_ai.operation.name"] = "execute_tool"
            span.attributes["gen_ai.tool.name"] = call.name
            span.attributes["gen_ai.tool.call.id"] = call.callID
            span.attributes["errand.run.id"] = runID
            span.attributes["errand.turn"] = turn
            var record = await run(call, uniqueID: slot.wireID, turn: turn)
            record.wireCallID = slot.requalifiedID
            span.attributes["errand.outcome"] = record.isError ? "error" : "ok"
            if record.isError { span.setStatus(SpanStatus(code: .error, message: String(record.output.prefix(200)))) }
            return record
        }
    }

    private func run(_ call: FunctionCall, uniqueID: String, turn: Int) async -> ToolCallRecord {
        let clock = ContinuousClock()
        let start = clock.now
        let notes = ToolNotesBox()
        let (output, isError) = await outcome(of: call, uniqueID: uniqueID, notes: notes)
        let elapsed = clock.now - start
        let cap = agent.limits.maxToolOutputCharacters
        var text = output
        if text.count > cap {
            let cut = text.count - cap
            text = String(text.prefix(cap)) + "\n[output cut: \(cut) more characters not shown]"
        }
        var record = ToolCallRecord(
            turn: turn, callID: call.callID, name: call.name, arguments: call.arguments, output: text, isError: isError,
            duration: ((Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) * 1000).rounded() / 1000,
            notes: notes.context.flatMap { $0.keptNotes.isEmpty ? nil : $0.keptNotes })
        record.subRun = notes.context?.subRun
        return record
    }

    /// The context a call ran with, to read its notes afterwards.
    final class ToolNotesBox: @unchecked Sendable {
        // Written once before the call starts, read after it ends.
        var context: ToolContext?
    }

    private func outcome(of call: FunctionCall, uniqueID: String, notes: ToolNotesBox) async -> (String, Bool) {
        guard let tool = agent.tools[call.name] else {
            let names = agent.tools.names.joined(separator: ", ")
            return ("error: there is no tool named '\(call.name)'. The tools are: \(names.isEmpty ? "none" : names).", true)
        }
        let arguments: JSONValue
        switch ToolArguments.parse(call.arguments, schema: tool.parameters) {
        case .success(let parsed): arguments = parsed
        case .failure(let problem): return ("error: \(problem.message(tool: call.name))", true)
        }
        let problems = SchemaValidator.problems(arguments, schema: tool.parameters)
        if !problems.isEmpty {
            return ("error: invalid arguments for \(call.name): \(problems.joined(separator: "; ")).", true)
        }
        var callLogger = logger
        callLogger[metadataKey: "run_id"] = "\(runID)"
        callLogger[metadataKey: "call_id"] = "\(call.callID)"
        callLogger[metadataKey: "tool"] = "\(call.name)"
        let context = ToolContext(
            runID: runID, callID: call.callID, uniqueCallID: uniqueID, workspace: agent.workspace, logger: callLogger, subRuns: subRuns)
        notes.context = context
        let timeout = tool.timeout ?? agent.limits.toolTimeout
        do {
            let output: ToolOutput
            if tool.runsAgent {
                // A child run is cancelled and waited for, so that it journals its end before the parent goes on.
                let (outcome, timedOut) = await withTimeLimit(timeout) { () async -> Result<ToolOutput, any Error> in
                    do { return .success(try await tool.invoke(arguments, context)) } catch { return .failure(error) }
                }
                if timedOut, case .failure = outcome { throw DeadlineExceeded() }
                output = try outcome.get()
            } else {
                output = try await withDeadline(timeout) { try await tool.invoke(arguments, context) }
            }
            return (output.text, false)
        } catch is DeadlineExceeded {
            return ("error: \(call.name) timed out after \(timeout) and was stopped.", true)
        } catch let error as ToolError where error.kind == .invalidArguments {
            return ("error: invalid arguments for \(call.name): \(error.message).", true)
        } catch let error as ToolError {
            return ("error: \(error.message)", true)
        } catch is CancellationError {
            return ("error: \(call.name) was cancelled.", true)
        } catch {
            return ("error: \(call.name) failed: \(error)", true)
        }
    }
}
