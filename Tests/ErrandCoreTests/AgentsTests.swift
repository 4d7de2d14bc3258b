import ErrandCore
import ErrandTesting
import Foundation
import ResponsesAPI
import Synchronization
import Testing

/// Agents that use agents (as tools, by handoff, as guardrail judges), typed results and guardrails, over loopback
/// HTTP against the scripted server, which answers each request by the agent that sent it (its instructions).
@Suite(.serialized, .timeLimit(.minutes(3))) struct AgentsTests {
    /// Runs `body` with a scripted server answering by `routes` and a runner on a client pointed at it.
    func withAgents<Result>(
        _ routes: [(String, @Sendable (ScriptedConversation) -> ScriptedTurn)], dialect: ScriptedDialect = .spec,
        isolation: isolated (any Actor)? = #isolation, _ body: (Runner, ScriptedResponsesServer) async throws -> Result
    ) async throws -> Result {
        try await ScriptedResponsesServer.withServer(dialect: dialect, responder: ScriptedAgents.responder(routes)) { server in
            try await ResponsesClient.withClient(provider: server.provider, configuration: fastClientConfiguration()) { client in
                try await body(Runner(client: client), server)
            }
        }
    }

    static func records(_ url: URL) throws -> [JSONValue] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    static let reviewer: Agent = {
        var agent = Agent(name: "reviewer", model: "gpt-review", instructions: "You review one file.")
        agent.description = "Reviews one file and says what is wrong with it."
        return agent
    }()

    /// The lead asks for two reviews at once; each reviewer answers after a pause, so the two child runs overlap.
    static let leadRoutes: [(String, @Sendable (ScriptedConversation) -> ScriptedTurn)] = [
        ("You lead", { conversation in
            let outputs = conversation.toolOutputs.compactMap { $0["output"]?.stringValue }
            if outputs.isEmpty {
                return .calls(.call("review", ["task": "Review a.txt"], id: "call_a"), .call("review", ["task": "Review b.txt"], id: "call_b"))
            }
            return .message("Summary: " + outputs.sorted().joined(separator: " | "))
        }),
        ("You review", { conversation in
            var turn = ScriptedTurn.message("\(conversation.task): looks fine")
            turn.usage = Usage(inputTokens: 100, outputTokens: 20, totalTokens: 120)
            return turn.delayed(by: .milliseconds(250))
        }),
    ]

    @Test func aLeadCallsASubAgentTwiceInParallelAndEachSubRunIsJournaledAndLinked() async throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try await withAgents(Self.leadRoutes) { runner, server in
            var lead = Agent(name: "lead", model: "gpt-lead", instructions: "You lead the review.", parallelToolCalls: true)
            try lead.tools.add(Self.reviewer.asTool(name: "review"))
            let log = EventLog()
            let journal = folder.appendingPathComponent("lead.jsonl")
            let result = await runner.run(lead, input: "Review a.txt and b.txt", journal: journal, runID: "lead", onEvent: log.record)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.finalText == "Summary: Review a.txt: looks fine | Review b.txt: looks fine")

            // The tool the lead's model saw: the sub-agent's name, description and one `task` parameter, strict.
            let tool = try #require(server.createRequests.first { $0.body?["instructions"] == "You lead the review." }?.body?["tools"]?[0])
            #expect(tool["name"] == "review")
            #expect(tool["description"] == "Reviews one file and says what is wrong with it.")
            #expect(tool["parameters"]?["required"] == ["task"])
            #expect(tool["strict"] == true)
            // Each sub-run went to the reviewer with its own task and model.
            let reviews = server.createRequests.filter { $0.body?["instructions"] == "You review one file." }
            #expect(reviews.count == 2)
            #expect(Set(reviews.compactMap { $0.body?["model"]?.stringValue }) == ["gpt-review"])

            // Linked both ways: the child's id in the parent's record, the parent in the child's run_started.
            #expect(result.toolCalls.map(\.subRun?.runID) == ["lead.call_a", "lead.call_b"])
            #expect(result.toolCalls.allSatisfy { $0.subRun?.status == .completed && $0.subRun?.agent == "reviewer" })
            let parentLines = try Self.records(journal).filter { $0["type"] == "tool_finished" }
            #expect(Set(parentLines.compactMap { $0["sub_run"]?["run_id"]?.stringValue }) == ["lead.call_a", "lead.call_b"])
            var spans: [(start: Double, end: Double)] = []
            for id in ["lead.call_a", "lead.call_b"] {
                let child = try Self.records(folder.appendingPathComponent("\(id).jsonl"))
                #expect(child.first?["type"] == "run_started")
                #expect(child.first?["parent_run_id"] == "lead")
                #expect(child.first?["parent_call_id"] == .string(String(id.dropFirst("lead.".count))))
                #expect(child.first?["agent"] == "reviewer")
                #expect(child.last?["type"] == "run_finished")
                #expect(child.last?["status"] == "completed")
                spans.append((child.first?["time"]?.doubleValue ?? 0, child.last?["time"]?.doubleValue ?? 0))
            }
            // In parallel: each child started before the other finished.
            #expect(spans[0].start < spans[1].end && spans[1].start < spans[0].end, "the two sub-runs overlap: \(spans)")

            // The children's tokens are the lead's too.
            let own = log.events.compactMap { if case .turnFinished(_, _, let usage, _) = $0 { usage } else { nil } }.reduce(Usage(), +)
            #expect(result.usage.totalTokens == own.totalTokens + 240)
            // The children's events reach the parent's listener, tagged with the call.
            let childEvents = log.events.compactMap { if case .subRun(let call, let run, _) = $0 { "\(call) \(run)" } else { nil } }
            #expect(Set(childEvents) == ["call_a lead.call_a", "call_b lead.call_b"])
            // `last` is the lead, not the child that started last.
            #expect(try await FileRunStore(folder: folder).existingRunID("last") == "lead")
        }
    }

    @Test func aParentCancelledDuringASubRunResumesTheChildAndItsSideEffectHappensOnce() async throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("log.txt")
        try Data().write(to: file)
        let routes: [(String, @Sendable (ScriptedConversation) -> ScriptedTurn)] = [
            ("You lead", { conversation in
                conversation.toolOutputs.isEmpty
                    ? .calls(.call("work", ["task": "append one"], id: "call_work")) : .message("lead: \(conversation.toolOutputs[0]["output"]?.stringValue ?? "")")
            }),
            ("You work", { conversation in
                conversation.toolOutputs.isEmpty ? .calls(.call("append", ["line": "one"])) : ScriptedTurn.message("appended one").delayed(by: .milliseconds(600))
            }),
        ]
        try await withAgents(routes) { runner, _ in
            let worker = Agent(name: "worker", model: "m", instructions: "You work.", tools: try registry([Append(file: file)]))
            var lead = Agent(name: "lead", model: "m", instructions: "You lead.")
            try lead.tools.add(worker.asTool(name: "work"))
            let journal = folder.appendingPathComponent("lead.jsonl")
            let (agent, runner) = (lead, runner)
            let running = Task { @Sendable in await runner.run(agent, input: "Go", journal: journal, runID: "lead") }
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(20)
            while (try? String(contentsOf: file, encoding: .utf8))?.isEmpty ?? true, clock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            try await Task.sleep(for: .milliseconds(150))
            running.cancel()
            let stopped = await running.value
            #expect(stopped.status == .cancelled)
            let lines = try Self.records(journal)
            #expect(lines.contains { $0["type"] == "tool_started" } && !lines.contains { $0["type"] == "tool_finished" },
                    "the call a stop interrupted is not journaled as finished: \(lines.compactMap { $0["type"]?.stringValue })")

            let resumed = try await runner.resume(lead, journal: journal)
            #expect(resumed.status == .completed, "\(resumed.error ?? "")")
            #expect(resumed.finalText == "lead: appended one")
            #expect(try String(contentsOf: file, encoding: .utf8) == "one\n", "the child's side effect happened once")
            let child = try Self.records(folder.appendingPathComponent("lead.call_work.jsonl"))
            #expect(child.contains { $0["type"] == "run_resumed" })
            #expect(child.filter { $0["type"] == "run_started" }.count == 1)
        }
    }

    @Test func aChildsSpendingCountsAgainstTheParentsBudget() async throws {
        try await withAgents(Self.leadRoutes) { runner, server in
            var lead = Agent(name: "lead", model: "gpt-lead", instructions: "You lead the review.")
            try lead.tools.add(Self.reviewer.asTool(name: "review"))
            lead.limits.maxTotalTokens = 200  // the two reviews alone take 240
            let result = await runner.run(lead, input: "Review a.txt and b.txt")
            #expect(result.status == .budgetExceeded, "\(result.error ?? "")")
            #expect(result.usage.totalTokens >= 240)
            #expect(server.createRequests.filter { $0.body?["instructions"] == "You lead the review." }.count == 1, "no lead turn after the budget is spent")
        }
    }

    @Test func agentsCallAgentsOnlyAsDeepAsTheLimit() async throws {
        try await withAgents(Self.leadRoutes) { runner, server in
            var lead = Agent(name: "lead", model: "gpt-lead", instructions: "You lead the review.")
            try lead.tools.add(Self.reviewer.asTool(name: "review"))
            lead.limits.maxAgentDepth = 0
            let result = await runner.run(lead, input: "Review a.txt and b.txt")
            #expect(result.status == .completed)
            #expect(result.toolCalls.allSatisfy { $0.isError && $0.output.contains("limits.max_agent_depth") })
            #expect(server.createRequests.allSatisfy { $0.body?["instructions"] == "You lead the review." })
        }
    }

    // MARK: Handoffs

    static let triageRoutes: [(String, @Sendable (ScriptedConversation) -> ScriptedTurn)] = [
        ("You triage", { _ in .calls(.call("transfer_to_billing", [:], id: "call_transfer")) }),
        ("You handle billing", { conversation in
            conversation.toolOutputs.contains { $0["call_id"] == "call_echo" }
                ? .message("Billing: refund issued.") : .calls(.call("echo", ["text": "refund"], id: "call_echo"))
        }),
    ]

    static func triage() throws -> Agent {
        var billing = Agent(name: "billing", model: "gpt-billing", instructions: "You handle billing.", tools: try registry([Echo()]))
        billing.description = "Invoices and refunds."
        var triage = Agent(name: "triage", model: "gpt-triage", instructions: "You triage requests.")
        triage.handoffs = [Handoff(to: billing)]
        return triage
    }

    @Test func aHandoffMakesTheSecondAgentAnswerForTheRestOfTheRun() async throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try await withAgents(Self.triageRoutes) { runner, server in
            let journal = folder.appendingPathComponent("triage.jsonl")
            let log = EventLog()
            let result = await runner.run(try Self.triage(), input: "I was charged twice.", journal: journal, onEvent: log.record)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.finalText == "Billing: refund issued.")
            let requests = server.createRequests
            try #require(requests.count == 3)
            // The first turn: the triage agent, with its transfer tool.
            #expect(requests[0].body?["model"] == "gpt-triage")
            #expect(requests[0].body?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["transfer_to_billing"])
            #expect(requests[0].body?["tools"]?[0]?["description"]?.stringValue?.contains("Invoices and refunds.") == true)
            // From the next turn: billing's model, instructions and tools, and the conversation goes on (chained).
            for request in requests.dropFirst() {
                #expect(request.body?["model"] == "gpt-billing")
                #expect(request.body?["instructions"] == "You handle billing.")
                #expect(request.body?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["echo"])
                #expect(request.body?["previous_response_id"] != nil)
            }
            #expect(requests[1].functionOutputs.first?.1 == #"{"assistant":"billing","from":"triage"}"#)
            let lines = try Self.records(journal)
            let handoff = try #require(lines.first { $0["type"] == "handoff" })
            #expect(handoff["from"] == "triage")
            #expect(handoff["to"] == "billing")
            #expect(handoff["model"] == "gpt-billing")
            #expect(log.events.contains { if case .handoff(let e) = $0 { e.to == "billing" } else { false } })

            // A resume after the handoff goes on with billing: the journal cut right after the handoff line.
            let text = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n")
            let cut = try #require(text.firstIndex { $0.contains(#""type":"handoff""#) })
            try (text[...cut].joined(separator: "\n") + "\n").write(to: journal, atomically: true, encoding: .utf8)
            let before = server.createRequests.count
            let resumed = try await runner.resume(try Self.triage(), journal: journal)
            #expect(resumed.status == .completed)
            #expect(resumed.finalText == "Billing: refund issued.")
            #expect(server.createRequests[before...].allSatisfy { $0.body?["instructions"] == "You handle billing." })
        }
    }

    @Test func handoffsAreBoundedByTheRunsLimit() async throws {
        let routes: [(String, @Sendable (ScriptedConversation) -> ScriptedTurn)] = [
            ("You triage", { _ in .calls(.call("transfer_to_billing", [:])) }),
            ("You handle billing", { conversation in
                conversation.toolOutputs.last?["output"]?.stringValue?.hasPrefix("error:") == true
                    ? .message("I will answer myself.") : .calls(.call("transfer_to_triage", [:]))
            }),
        ]
        try await withAgents(routes) { runner, server in
            var triage = Self.pingTriage()
            triage.limits.maxHandoffs = 3
            let result = await runner.run(triage, input: "Ping-pong")
            #expect(result.status == .completed)
            #expect(result.finalText == "I will answer myself.")
            let handoffs = result.toolCalls.filter { $0.name.hasPrefix("transfer_to_") }
            #expect(handoffs.filter { !$0.isError }.count == 3)
            #expect(handoffs.last?.output.contains("limits.max_handoffs") == true, "\(handoffs.map(\.output))")
        }
    }

    /// Two agents that hand to each other: each is built when a handoff asks for it.
    @Sendable static func pingTriage() -> Agent {
        var triage = Agent(name: "triage", model: "m", instructions: "You triage requests.")
        triage.handoffs = [Handoff(name: "billing", agent: pingBilling)]
        return triage
    }

    @Sendable static func pingBilling() -> Agent {
        var billing = Agent(name: "billing", model: "m", instructions: "You handle billing.")
        billing.handoffs = [Handoff(name: "triage", agent: pingTriage)]
        return billing
    }

    // MARK: Typed results

    struct Count: Decodable, Sendable, Equatable {
        var word: String
        var count: Int
    }

    static let countSchema = OutputSchema(name: "count", .object(["word": .string(), "count": .integer()]))

    @Test func aTypedResultThatIsWrongOnceIsCorrectedAndReturnedAsOutput() async throws {
        let routes: [(String, @Sendable (ScriptedConversation) -> ScriptedTurn)] = [
            ("You count", { conversation in
                ScriptedAgents.lastUserText(conversation).contains("does not match")
                    ? .message("```json\n{\"word\": \"apple\", \"count\": 3}\n```") : .message(#"{"word": "apple", "count": "three"}"#)
            })
        ]
        try await withAgents(routes) { runner, server in
            var agent = Agent(name: "counter", model: "m", instructions: "You count words.")
            agent.outputSchema = Self.countSchema
            let log = EventLog()
            let typed = try await runner.run(agent, input: "How often is apple in the text?", as: Count.self, onEvent: log.record)
            #expect(typed.output == Count(word: "apple", count: 3))
            #expect(typed.result.output == ["word": "apple", "count": 3])
            #expect(typed.result.turns == 2)
            let requests = server.createRequests
            try #require(requests.count == 2)
            // Sent as text.format json_schema, strict (the schema allows it), on every turn.
            for request in requests {
                #expect(request.body?["text"]?["format"]?["type"] == "json_schema")
                #expect(request.body?["text"]?["format"]?["name"] == "count")
                #expect(request.body?["text"]?["format"]?["strict"] == true)
            }
            // The corrective turn carries the problem.
            let correction = requests[1].body?["input"]?.arrayValue?.last?["content"]?.stringValue ?? ""
            #expect(correction.contains("'count' must be an integer, not a string (\"three\")"), "\(correction)")
            let rejected = log.events.compactMap { if case .outputRejected(let e) = $0 { e } else { nil } }
            #expect(rejected.map(\.attempt) == [1])
        }
    }

    @Test func anAnswerThatNeverFitsEndsInvalidOutputAfterItsRetries() async throws {
        let routes: [(String, @Sendable (ScriptedConversation) -> ScriptedTurn)] = [("You count", { _ in .message("three apples") })]
        try await withAgents(routes) { runner, server in
            var agent = Agent(name: "counter", model: "m", instructions: "You count words.")
            agent.outputSchema = Self.countSchema
            agent.limits.outputRetries = 2
            let result = await runner.run(agent, input: "How often is apple in the text?")
            #expect(result.status == .invalidOutput)
            #expect(result.output == nil)
            #expect(result.error?.contains("after 2 corrective turns") == true, "\(result.error ?? "")")
            #expect(result.error?.contains("not valid JSON") == true)
            #expect(server.createRequests.count == 3)
            // The typed call says why there is no value.
            do throws(RunOutputError) {
                _ = try await runner.run(agent, input: "Again", as: Count.self)
                Issue.record("no value was expected")
            } catch {
                #expect(error.result.status == RunResult.Status.invalidOutput)
            }
        }
    }

    @Test(arguments: ["{\"word\":\"a\",\"count\":1}", "Here it is:\n```json\n{\"word\":\"a\",\"count\":1}\n```", "Sure! {\"word\": \"a\", \"count\": 1} Hope it helps."])
    func answersAreReadLiberally(_ text: String) throws {
        #expect(try Self.countSchema.read(text).get() == ["word": "a", "count": 1])
    }

    @Test func schemaProblemsNameThePath() {
        let problems = SchemaValidator.schemaProblems([
            "type": "object", "properties": ["tags": ["type": "array", "items": ["type": "strin"]], "n": 3], "required": ["tags", "missing"],
        ])
        #expect(problems.contains("properties.tags.items.type: 'strin' is not a JSON Schema type (array, boolean, integer, null, number, object, string)"))
        #expect(problems.contains("'properties.n' must be an object (a JSON Schema), not a number (3)"))
        #expect(problems.contains("required names 'missing', which is not among the properties"))
        #expect(SchemaValidator.schemaProblems(Self.countSchema.schema).isEmpty)
        #expect(OutputSchema.allowsStrict(Self.countSchema.schema))
        #expect(!OutputSchema.allowsStrict(["type": "object", "properties": ["a": ["type": "string"]]]))
    }

    // MARK: Guardrails

    /// A guardrail that trips on "secret" after `delay`.
    static func noSecrets(after delay: Duration) -> Guardrail {
        Guardrail(name: "no-secrets") { check in
            try await Task.sleep(for: delay)
            return check.text.contains("secret") ? .trip("the task mentions a secret") : .pass
        }
    }

    @Test(arguments: [(checkMs: 20, modelMs: 30_000), (checkMs: 300, modelMs: 0)])
    func anInputGuardrailTripsBeforeAnyToolRuns(_ timing: (checkMs: Int, modelMs: Int)) async throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("log.txt")
        try Data().write(to: file)
        let routes: [(String, @Sendable (ScriptedConversation) -> ScriptedTurn)] = [
            ("You keep a log", { _ in ScriptedTurn.calls(.call("append", ["line": "secret"])).delayed(by: .milliseconds(timing.modelMs)) })
        ]
        try await withAgents(routes) { runner, server in
            var agent = Agent(name: "logger", model: "m", instructions: "You keep a log.", tools: try registry([Append(file: file)]))
            agent.guardrails.input = [Self.noSecrets(after: .milliseconds(timing.checkMs)), Guardrail(name: "always-fine") { _ in .pass }]
            let journal = folder.appendingPathComponent("run.jsonl")
            let clock = ContinuousClock()
            let start = clock.now
            let result = await runner.run(agent, input: "Log the secret word", journal: journal)
            let elapsed = clock.now - start
            #expect(result.status == .guardrailTripped)
            #expect(result.error == "the input guardrail 'no-secrets' tripped: the task mentions a secret")
            #expect(try String(contentsOf: file, encoding: .utf8).isEmpty, "no tool ran")
            #expect(result.toolCalls.isEmpty)
            let lines = try Self.records(journal)
            let verdicts = lines.filter { $0["type"] == "guardrail" }
            #expect(verdicts.map { $0["name"] } == ["no-secrets", "always-fine"])
            #expect(verdicts.map { $0["passed"] } == [false, true])
            #expect(!lines.contains { $0["type"] == "tool_started" })
            if timing.modelMs > timing.checkMs {
                // The trip cancelled the model call: the run did not wait for the answer.
                #expect(elapsed < .milliseconds(timing.modelMs), "\(elapsed)")
                #expect(!lines.contains { $0["type"] == "response" })
            }
        }
    }

    @Test func anInputGuardrailThatPassesLetsTheRunGoOn() async throws {
        let routes: [(String, @Sendable (ScriptedConversation) -> ScriptedTurn)] = [("You help", { _ in .message("Hello.") })]
        try await withAgents(routes) { runner, _ in
            var agent = Agent(name: "helper", model: "m", instructions: "You help.")
            agent.guardrails.input = [Self.noSecrets(after: .milliseconds(50))]
            let log = EventLog()
            let result = await runner.run(agent, input: "Say hello", onEvent: log.record)
            #expect(result.status == .completed)
            #expect(result.finalText == "Hello.")
            #expect(log.events.contains { if case .guardrail(let e) = $0 { e.passed && e.name == "no-secrets" } else { false } })
        }
    }

    @Test func aRunStoppedWhileItsInputIsCheckedIsCheckedAgainOnResume() async throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let routes: [(String, @Sendable (ScriptedConversation) -> ScriptedTurn)] = [("You help", { _ in .message("Hello.") })]
        try await withAgents(routes) { runner, _ in
            var agent = Agent(name: "helper", model: "m", instructions: "You help.")
            let slow = Marker()
            agent.guardrails.input = [Guardrail(name: "slow") { _ in
                if !slow.isSet {
                    slow.set()
                    try await Task.sleep(for: .seconds(30))
                }
                return .pass
            }]
            let journal = folder.appendingPathComponent("run.jsonl")
            let (checked, runner) = (agent, runner)
            let running = Task { @Sendable in await runner.run(checked, input: "Say hello", journal: journal) }
            try await waitUntil("the check to start", timeout: .seconds(20)) { slow.isSet }
            try await Task.sleep(for: .milliseconds(100))
            running.cancel()
            #expect(await running.value.status == .cancelled)
            #expect(!(try Self.records(journal)).contains { $0["type"] == "guardrail" }, "a check the stop cut short is not a verdict")
            let resumed = try await runner.resume(agent, journal: journal)
            #expect(resumed.status == .completed, "\(resumed.error ?? "")")
            #expect(try Self.records(journal).filter { $0["type"] == "guardrail" }.map { $0["passed"] } == [true])
        }
    }

    @Test func aResumedRunChecksItsInputBeforeAnythingElse() throws {
        var state = RunState(runID: "r")
        state.apply(.runStarted(.init(
            agent: "a", model: "m", mode: .auto, instructions: nil, tools: nil, input: [.user("do it")], toolChoice: nil, resetToolChoice: nil,
            fingerprint: nil)))
        state.apply(.requestSent(.init(turn: 1, stateless: false, previousResponseID: nil, input: nil, request: nil)))
        let response = Response(id: "resp_1", status: .completed, output: [.message(OutputMessage(content: [.text(OutputText(text: "done"))]))])
        state.apply(.responseReceived(.init(turn: 1, response: response)))
        let rules = RunState.OutputRules(inputGuardrails: ["g"])
        #expect(state.decide(limits: RunLimits(), output: rules) == .checkInput(names: ["g"]), "the answer is not given before the input is checked")
        state.apply(.guardrail(.init(turn: 0, kind: .input, name: "g", passed: true, reason: nil, duration: 0)))
        guard case .finish(let end) = state.decide(limits: RunLimits(), output: rules) else { Issue.record("expected the end"); return }
        #expect(end.status == .completed)
        #expect(state.inputText == "do it")
    }

    @Test func aSecondHandoffInOneTurnIsRefused() async throws {
        let routes: [(String, @Sendable (ScriptedConversation) -> ScriptedTurn)] = [
            ("You triage", { _ in .calls(.call("transfer_to_billing", [:], id: "first"), .call("transfer_to_support", [:], id: "second")) }),
            ("You handle billing", { _ in .message("billing here") }),
        ]
        try await withAgents(routes) { runner, _ in
            var triage = Agent(name: "triage", model: "m", instructions: "You triage requests.")
            triage.handoffs = [
                Handoff(to: Agent(name: "billing", model: "m", instructions: "You handle billing.")),
                Handoff(to: Agent(name: "support", model: "m", instructions: "You support.")),
            ]
            let result = await runner.run(triage, input: "Help")
            #expect(result.status == .completed)
            #expect(result.finalText == "billing here")
            #expect(result.toolCalls.map(\.isError) == [false, true])
            #expect(result.toolCalls.last?.output.contains("only one handoff per turn") == true, "\(result.toolCalls.map(\.output))")
        }
    }

    @Test func anOutputGuardrailTripsOnTheAnswer() async throws {
        let routes: [(String, @Sendable (ScriptedConversation) -> ScriptedTurn)] = [("You help", { _ in .message("The password is hunter2.") })]
        try await withAgents(routes) { runner, _ in
            var agent = Agent(name: "helper", model: "m", instructions: "You help.")
            agent.guardrails.output = [Guardrail(name: "no-passwords") { check in
                #expect(check.kind == .output)
                return check.text.contains("password") ? .trip("the answer gives a password away") : .pass
            }]
            let result = await runner.run(agent, input: "What is the password?")
            #expect(result.status == .guardrailTripped)
            #expect(result.finalText == "")
            #expect(result.error == "the output guardrail 'no-passwords' tripped: the answer gives a password away")
        }
    }

    @Test func aJudgeAgentIsAGuardrailWithAJournalOfItsOwn() async throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let routes: [(String, @Sendable (ScriptedConversation) -> ScriptedTurn)] = [
            ("You help", { _ in .message("Buy ACME stock now!") }),
            ("You judge", { conversation in
                let text = (try? JSONValue(parsing: conversation.task))?["text"]?.stringValue ?? ""
                return .message(text.contains("stock") ? #"{"pass": false, "reason": "financial advice"}"# : #"{"pass": true, "reason": "fine"}"#)
            }),
        ]
        try await withAgents(routes) { runner, server in
            var agent = Agent(name: "helper", model: "m", instructions: "You help.")
            agent.guardrails.output = [.agent(Agent(name: "judge", model: "m-judge", instructions: "You judge answers."))]
            let journal = folder.appendingPathComponent("helper.jsonl")
            let result = await runner.run(agent, input: "Any tips?", journal: journal, runID: "helper")
            #expect(result.status == .guardrailTripped)
            #expect(result.error == "the output guardrail 'judge' tripped: financial advice")
            let judged = try #require(server.createRequests.first { $0.body?["instructions"] == "You judge answers." })
            #expect(judged.body?["text"]?["format"]?["name"] == "verdict")
            let verdict = try #require(try Self.records(journal).first { $0["type"] == "guardrail" })
            #expect(verdict["sub_run"]?["run_id"] == "helper.guardrail-output-judge-t1")
            let child = try Self.records(folder.appendingPathComponent("helper.guardrail-output-judge-t1.jsonl"))
            #expect(child.first?["parent_run_id"] == "helper")
        }
    }

    @Test(arguments: ["throws", "times out"])
    func aGuardrailThatCannotRunFailsClosed(_ how: String) async throws {
        let routes: [(String, @Sendable (ScriptedConversation) -> ScriptedTurn)] = [("You help", { _ in .message("Hello.") })]
        try await withAgents(routes) { runner, _ in
            var agent = Agent(name: "helper", model: "m", instructions: "You help.")
            // Generous times: the whole suite runs at once on two cores.
            agent.guardrails.output = [Guardrail(name: "flaky", timeout: .milliseconds(how == "throws" ? 20_000 : 500)) { _ in
                if how == "throws" { throw ToolError("the checker is down") }
                try await Task.sleep(for: .seconds(60))
                return .pass
            }]
            let result = await runner.run(agent, input: "Say hello")
            #expect(result.status == .guardrailTripped)
            #expect(result.error?.hasPrefix("the output guardrail 'flaky' could not run: ") == true)
            #expect(result.error?.contains(how == "throws" ? "the checker is down" : "did not answer within") == true, "\(result.error ?? "")")
        }
    }
}
