import ErrandCore
import ErrandTesting
import Foundation
import InMemoryTracing
import ResponsesAPI
import Testing
import Tracing

/// A run's spans, as an application that bootstraps a tracer sees them: one for the run, one per model call, one per
/// tool call, with the run id, the turn, the tool, the token counts and the outcome.
@Suite(.timeLimit(.minutes(3))) struct TracingTests {
    @Test func aRunMakesSpansForItselfItsModelCallsAndItsToolCalls() async throws {
        let turns: [ScriptedTurn] = [
            .calls(.call("echo", ["text": "a"], id: "c1"), .call("fail", [:], id: "c2")),
            ScriptedTurn(output: [.message("done")], usage: Usage(inputTokens: 40, outputTokens: 2, totalTokens: 42)),
        ]
        try await withRunner(turns) { runner, _ in
            let tracer = InMemoryTracer()
            let agent = Agent(name: "tracer", model: "m", tools: try registry([Echo(), Fail()]))
            let result = await withTracer(tracer) { await runner.run(agent, input: "go", runID: "run-traced") }
            #expect(result.status == .completed)
            let spans = tracer.finishedSpans
            #expect(spans.map(\.operationName).sorted() == ["chat m", "chat m", "errand.run", "execute_tool echo", "execute_tool fail"])
            let run = try #require(spans.first { $0.operationName == "errand.run" })
            #expect(run.attributes.get("errand.run.id") == .string("run-traced"))
            #expect(run.attributes.get("errand.agent") == .string("tracer"))
            #expect(run.attributes.get("errand.run.status") == .string("completed"))
            #expect(run.attributes.get("errand.run.turns") == .int64(2))
            #expect(run.attributes.get("errand.run.tool_calls") == .int64(2))
            #expect(run.attributes.get("gen_ai.usage.input_tokens") == .int64(Int64(result.usage.inputTokens)))
            let chats = spans.filter { $0.operationName == "chat m" }
            #expect(chats.map { $0.attributes.get("errand.turn") } == [.int64(1), .int64(2)])
            #expect(chats.allSatisfy { $0.parentSpanID == run.spanID })
            #expect(chats.last?.attributes.get("gen_ai.usage.output_tokens") == .int64(2))
            guard case .string(let responseID)? = chats.last?.attributes.get("gen_ai.response.id") else {
                Issue.record("no response id on the model-call span")
                return
            }
            #expect(responseID == result.lastResponseID)
            let echo = try #require(spans.first { $0.operationName == "execute_tool echo" })
            #expect(echo.attributes.get("gen_ai.tool.name") == .string("echo"))
            #expect(echo.attributes.get("gen_ai.tool.call.id") == .string("c1"))
            #expect(echo.attributes.get("errand.outcome") == .string("ok"))
            #expect(echo.attributes.get("errand.turn") == .int64(1))
            #expect(echo.parentSpanID == run.spanID)
            let fail = try #require(spans.first { $0.operationName == "execute_tool fail" })
            #expect(fail.attributes.get("errand.outcome") == .string("error"))
            #expect(fail.status?.code == .error)
        }
    }

    @Test func aFailedModelCallIsAnErrorSpan() async throws {
        try await withRunner([.error(status: 401, message: "Incorrect API key provided.", code: "invalid_api_key")]) { runner, _ in
            let tracer = InMemoryTracer()
            let result = await withTracer(tracer) { await runner.run(Agent(model: "m"), input: "go") }
            #expect(result.status == .failed)
            let chat = try #require(tracer.finishedSpans.first { $0.operationName == "chat m" })
            #expect(!chat.errors.isEmpty, "the provider's error is recorded on the model-call span")
            let run = try #require(tracer.finishedSpans.first { $0.operationName == "errand.run" })
            #expect(run.status?.code == .error)
        }
    }
}
