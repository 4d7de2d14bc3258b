import Foundation
import ResponsesAPI

/// A completed run and its final answer decoded into `Output`.
public struct TypedRunResult<Output: Sendable>: Sendable {
    /// The decoded answer.
    public var output: Output
    /// The run.
    public var result: RunResult
}

/// A run that gave no value of the asked type: it did not complete, or its answer did not decode.
public struct RunOutputError: Error, Sendable, CustomStringConvertible {
    /// The run as it ended.
    public var result: RunResult
    /// Why there is no value.
    public var reason: String

    /// The reason, with the run's id.
    public var description: String { "run \(result.runID): \(reason)" }
}

extension Runner {
    /// Runs `agent` on `input` and decodes its final answer into `type`: the output schema's value when the agent has
    /// one (set ``Agent/outputSchema`` to the schema `type` decodes from, so the model is held to it and a wrong answer
    /// gets its corrective turns), else the JSON the answer holds. Throws ``RunOutputError`` with the result when the
    /// run does not complete or the answer does not decode.
    ///
    /// ```swift
    /// struct Review: Decodable, Sendable { var verdict: String; var notes: [String] }
    /// let review = try await runner.run(reviewer, input: "Review notes.txt", as: Review.self).output
    /// ```
    public func run<Output: Decodable & Sendable>(
        _ agent: Agent, input: ResponseInput, as type: Output.Type, journal: URL? = nil, runID: String? = nil,
        onEvent: @escaping @Sendable (RunEvent) -> Void = { _ in }
    ) async throws(RunOutputError) -> TypedRunResult<Output> {
        let result = await run(agent, input: input, journal: journal, runID: runID, onEvent: onEvent)
        guard result.status == .completed else {
            throw RunOutputError(result: result, reason: "the run ended \(result.status.rawValue): \(result.error ?? "no reason given")")
        }
        guard let value = result.output ?? OutputSchema.json(in: result.finalText) else {
            throw RunOutputError(result: result, reason: "the answer holds no JSON: \(OneLine.squash(result.finalText, limit: 200))")
        }
        do {
            let output = try JSONDecoder().decode(Output.self, from: JSONEncoder().encode(value))
            return TypedRunResult(output: output, result: result)
        } catch let error as DecodingError {
            throw RunOutputError(result: result, reason: "the answer does not decode as \(Output.self): \(RegisteredTool.explain(error))")
        } catch {
            throw RunOutputError(result: result, reason: "the answer does not decode as \(Output.self): \(error)")
        }
    }
}
