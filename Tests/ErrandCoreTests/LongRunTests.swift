import ErrandCore
import ErrandTesting
import Foundation
import ResponsesAPI
import Synchronization
import Testing

/// `bulk {n}` → 4 KB of text naming `n`: the kind of output (a file, a page) that fills a context window.
struct Bulk: Tool {
    struct Arguments: Decodable { var n: Int }
    let name = "bulk"
    let description = "Read a chunk of the corpus."
    let parameters = JSONSchema.object(["n": .integer()])
    var isIdempotent: Bool { true }
    func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput {
        let line = "chunk \(arguments.n): the quick brown fox jumps over the lazy dog 0123456789.\n"
        return .text(String(String(repeating: line, count: 4096 / line.count + 1).prefix(4096)))
    }
}

/// A model that reads `turns` chunks one a turn, then answers; it writes a summary when asked for one (a local
/// compaction's turn). Refused requests never reach it, so its count is the run's progress.
final class ChunkReader: Sendable {
    let turns: Int
    private let state = Mutex<(reads: Int, summaries: Int)>((0, 0))
    init(turns: Int) { self.turns = turns }

    var summaries: Int { state.withLock { $0.summaries } }
    var reads: Int { state.withLock { $0.reads } }

    var responder: @Sendable (ScriptedConversation) -> ScriptedTurn {
        { [self] conversation in
            let instructions = conversation.request.body?["instructions"]?.stringValue ?? ""
            if instructions.contains("compacting the history") {
                let count = state.withLock { state -> Int in
                    state.summaries += 1
                    return state.summaries
                }
                return .message("Summary \(count): chunks read so far, in order; keep reading the next chunk.")
            }
            let n = state.withLock { state -> Int in
                state.reads += 1
                return state.reads
            }
            return n <= turns ? .calls(.call("bulk", ["n": .number(Double(n))], id: "call_\(n)")) : .message("Read all \(turns) chunks.")
        }
    }
}

/// What a test needs of a server's recorded requests, and of the refusals a run met.
struct ServerSnapshot {
    /// `POST /responses/compact` calls.
    var compactRequests: Int
    /// The `compact_threshold` each create carried (nil for none).
    var contextManagement: [Int?]
    /// Each create's input items.
    var inputs: [[JSONValue]]
    /// The creates that came over a WebSocket.
    var webSocketCreates: Int
    /// Requests the server refused as too long, as the journal tells (an overflow compaction or a failure).
    var refused: Int

    init(_ server: ScriptedResponsesServer, records: [JournalRecord]) {
        compactRequests = server.compactRequests.count
        let creates = server.createRequests.filter { $0.body?["instructions"]?.stringValue?.contains("compacting the history") != true }
        contextManagement = creates.map { $0.body?["context_management"]?.arrayValue?.first?["compact_threshold"]?.intValue }
        inputs = creates.map { $0.body?["input"]?.arrayValue ?? [] }
        webSocketCreates = creates.filter { $0.webSocketConnection != nil }.count
        refused = records.filter { record in
            switch record.event {
            case .compaction(let e): e.reason == .overflow
            case .failure(let e): e.httpStatus == 400
            default: false
            }
        }.count
    }
}

/// Long runs over loopback against a server that enforces a context window: compaction on the server and here, an
/// overflow answered by compacting, budgets that stop a run before and after a turn and resume, a batch's budget.
@Suite struct LongRunTests {
    static let price = ModelPrice(input: 0.40, cachedInput: 0.10, output: 1.60)

    static func agent(window: Int?, compaction: ContextPolicy.Compaction, state: StateMode = .auto, maxTurns: Int = 260) throws -> Agent {
        var agent = Agent(
            model: "long-model", instructions: "Read every chunk with bulk, one a turn.", tools: try registry([Bulk()]),
            limits: RunLimits(maxTurns: maxTurns), state: state, streaming: false)
        agent.price = price
        agent.context = ContextPolicy(window: window, compaction: compaction)
        return agent
    }

    static func dialect(window: Int?, compaction: Bool = false) -> ScriptedDialect {
        var dialect = ScriptedDialect.spec
        dialect.contextWindow = window
        dialect.compaction = compaction
        return dialect
    }

    /// Runs `turns` chunk reads against a server with `dialect`, journaled; returns the result, the journal and the
    /// server's recorded requests.
    static func longRun(
        turns: Int, agent: Agent, dialect: ScriptedDialect, transport: ResponsesTransportKind = .http
    ) async throws -> (RunResult, [JournalRecord], ServerSnapshot, ChunkReader) {
        let reader = ChunkReader(turns: turns)
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let journal = folder.appendingPathComponent("run.jsonl")
        var configuration = fastClientConfiguration()
        configuration.transport = transport
        return try await ScriptedResponsesServer.withServer(dialect: dialect, responder: reader.responder) { server in
            try await ResponsesClient.withClient(provider: server.provider, configuration: configuration) { client in
                let result = await Runner(client: client).run(agent, input: "Read the corpus.", journal: journal)
                let records = try Journal.read(journal)
                return (result, records, ServerSnapshot(server, records: records), reader)
            }
        }
    }

    /// The input tokens of each model response, in order (the provider's usage).
    static func inputTokens(_ records: [JournalRecord]) -> [Int] {
        records.compactMap { if case .responseReceived(let e) = $0.event { e.response.usage?.inputTokens } else { nil } }
    }

    static func compactions(_ records: [JournalRecord]) -> [JournalEvent.Compaction] {
        records.compactMap { if case .compaction(let e) = $0.event { e } else { nil } }
    }

    /// Writes the per-turn input tokens to `ERRAND_LONGRUN_REPORT/<name>.txt` when that folder is set (for notes).
    static func report(_ name: String, _ result: RunResult, _ records: [JournalRecord]) {
        guard let folder = ProcessInfo.processInfo.environment["ERRAND_LONGRUN_REPORT"] else { return }
        let tokens = inputTokens(records)
        let lines = ["# \(name): \(result.status.rawValue), \(result.turns) turns, \(compactions(records).count) compactions, input \(result.usage.inputTokens), output \(result.usage.outputTokens), cost \(result.costUSD.map { String(format: "%.6f", $0) } ?? "?")"]
            + tokens.enumerated().map { "\($0.offset + 1) \($0.element)" }
        try? lines.joined(separator: "\n").write(toFile: "\(folder)/\(name).txt", atomically: true, encoding: .utf8)
    }

    // MARK: 200 turns of 4 KB outputs in a 16k window

    @Test func twoHundredTurnsFitByLocalCompaction() async throws {
        let (result, records, snapshot, reader) = try await Self.longRun(
            turns: 200, agent: try Self.agent(window: 16_000, compaction: .local), dialect: Self.dialect(window: 16_000))
        #expect(result.status == .completed, "\(result.error ?? "")")
        #expect(result.turns == 201)
        #expect(result.toolCalls.count == 200)
        let compactions = Self.compactions(records)
        #expect(compactions.count >= 10)
        #expect(compactions.allSatisfy { $0.tokensAfter < $0.tokensBefore && $0.reason == .threshold })
        // Both steps happen: old outputs dropped while that leaves room, then summaries once the notes add up.
        #expect(compactions.contains { $0.method == .summary })
        #expect(compactions.contains { $0.method == .prune })
        #expect(compactions.allSatisfy { $0.method == .summary || $0.method == .prune })
        // No request was refused: every one fitted, and none held more than the window.
        #expect(snapshot.refused == 0)
        #expect(Self.inputTokens(records).allSatisfy { $0 <= 16_000 })
        #expect(reader.summaries == compactions.filter { $0.method == .summary }.count)
        // The cost is the price of what was used (compaction turns included).
        let cost = try #require(result.costUSD)
        #expect(abs(cost - Self.price.cost(of: result.usage)) < 1e-9)
        Self.report("local", result, records)
    }

    @Test func twoHundredTurnsFitByServerCompaction() async throws {
        let (result, records, snapshot, reader) = try await Self.longRun(
            turns: 200, agent: try Self.agent(window: 16_000, compaction: .server), dialect: Self.dialect(window: 16_000, compaction: true))
        #expect(result.status == .completed, "\(result.error ?? "")")
        #expect(result.turns == 201)
        let compactions = Self.compactions(records)
        #expect(!compactions.isEmpty)
        #expect(compactions.allSatisfy { $0.method == .serverCompact || $0.method == .server })
        #expect(snapshot.compactRequests > 0)
        #expect(snapshot.refused == 0)
        #expect(reader.summaries == 0)
        // Every request carried the server's compaction threshold.
        #expect(snapshot.contextManagement.allSatisfy { $0 == 12_800 })
        #expect(Self.inputTokens(records).allSatisfy { $0 <= 16_000 })
        Self.report("server", result, records)
    }

    @Test func localCompactionOverAWebSocketReplaysOnceThenChainsOnTheConnection() async throws {
        let (result, records, snapshot, _) = try await Self.longRun(
            turns: 60, agent: try Self.agent(window: 16_000, compaction: .local), dialect: Self.dialect(window: 16_000), transport: .websocket)
        #expect(result.status == .completed, "\(result.error ?? "")")
        #expect(result.turns == 61)
        let compactions = Self.compactions(records)
        #expect(compactions.count >= 3)
        #expect(snapshot.refused == 0)
        // Every turn went over the connection; the request after each compaction replayed the compacted history, and
        // the one after that chained again.
        let requests = records.compactMap { if case .requestSent(let e) = $0.event { e } else { nil } }
        #expect(requests.count == 61)
        let compactedBefore = Set(compactions.map(\.turn))
        for request in requests {
            if compactedBefore.contains(request.turn) {
                #expect(request.previousResponseID == nil && request.replayed, "turn \(request.turn)")
            } else if request.turn > 1 {
                #expect(request.previousResponseID != nil, "turn \(request.turn)")
            }
        }
        #expect(snapshot.webSocketCreates == snapshot.inputs.count)
    }

    @Test func aResumeReplaysTheJournaledCompactionsAndNeverAsksForASummaryTwice() async throws {
        // The run stops at a token budget after compacting; resumed with a larger one, it goes on from the journaled
        // compacted history: every summary the model wrote is one compaction line, none was asked for again.
        let reader = ChunkReader(turns: 80)
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let journal = folder.appendingPathComponent("run.jsonl")
        try await ScriptedResponsesServer.withServer(dialect: Self.dialect(window: 16_000), responder: reader.responder) { server in
            try await ResponsesClient.withClient(provider: server.provider, configuration: fastClientConfiguration()) { client in
                var agent = try Self.agent(window: 16_000, compaction: .local)
                // Eight recent turns kept whole: dropping old outputs soon stops being enough, and summaries come early.
                agent.context.keepRecentTurns = 8
                agent.limits.maxTotalTokens = 400_000
                let first = await Runner(client: client).run(agent, input: "Read the corpus.", journal: journal)
                #expect(first.status == .budgetExceeded, "\(first.error ?? "")")
                let stopped = try Journal.read(journal)
                let before = Self.compactions(stopped)
                // Whether the run stopped between a compaction and the request that replays it.
                let steps = stopped.dropLast().filter { if case .toolFinished = $0.event { false } else { true } }
                let stoppedAfterCompaction = if case .compaction? = steps.last?.event { true } else { false }
                #expect(before.contains { $0.method == .summary })
                let summariesBefore = reader.summaries
                let requestsBefore = server.createRequests.count
                agent.limits.maxTotalTokens = 100_000_000
                let resumed = try await Runner(client: client).resume(agent, journal: journal)
                #expect(resumed.status == .completed, "\(resumed.error ?? "")")
                #expect(resumed.toolCalls.count == 80)
                let all = Self.compactions(try Journal.read(journal))
                #expect(reader.summaries == all.filter { $0.method == .summary }.count)
                #expect(reader.summaries > summariesBefore)
                // The first request after the resume goes on as the run would have: it replays the compacted history
                // when the run stopped right after compacting, and chains otherwise.
                let next = server.createRequests[requestsBefore]
                if stoppedAfterCompaction {
                    #expect(next.body?["previous_response_id"] == nil)
                } else {
                    #expect(next.body?["previous_response_id"]?.stringValue != nil)
                }
            }
        }
    }

    @Test func withCompactionOffTheRunFailsAndSaysToTurnItOn() async throws {
        let (result, records, snapshot, _) = try await Self.longRun(
            turns: 200, agent: try Self.agent(window: 16_000, compaction: .off), dialect: Self.dialect(window: 16_000))
        #expect(result.status == .failed)
        #expect(result.error?.contains("Compaction is off for this run: turn it on") == true, "\(result.error ?? "")")
        #expect(result.error?.contains("context window") == true)
        // What the run did before is in its journal: the turns that fitted, and the refusal.
        #expect(result.turns > 5)
        #expect(records.contains { if case .failure(let e) = $0.event { e.httpStatus == 400 } else { false } })
        #expect(snapshot.refused == 1)
    }

    @Test func withoutAWindowTheInputGrowsEveryTurn() async throws {
        // The baseline for the note's table: no window, no compaction; each turn sends the whole context again.
        let (result, records, _, _) = try await Self.longRun(
            turns: 200, agent: try Self.agent(window: nil, compaction: .off), dialect: Self.dialect(window: 100_000_000))
        #expect(result.status == .completed)
        let tokens = Self.inputTokens(records)
        #expect(tokens.count == 201)
        #expect(zip(tokens, tokens.dropFirst()).allSatisfy { $0 < $1 })
        #expect(tokens.last! > 200_000)
        Self.report("none", result, records)
    }

    // MARK: Overflow and replays

    @Test func anOverflowCompactsAndSendsTheTurnAgainLearningTheWindow() async throws {
        // llama.cpp keeps no state, names its window when it refuses, and the model is in no table: the run learns
        // the window from the refusal, compacts here, and goes on.
        var dialect = ScriptedDialect.llamaCpp
        dialect.contextWindow = 8_000
        dialect.callsToolsAsItems = true
        dialect.followsToolChoice = true
        let (result, records, snapshot, _) = try await Self.longRun(
            turns: 30, agent: try Self.agent(window: nil, compaction: .auto), dialect: dialect)
        #expect(result.status == .completed, "\(result.error ?? "")")
        let compactions = Self.compactions(records)
        let first = try #require(compactions.first)
        #expect(first.reason == .overflow)
        #expect(first.window == 8_000)
        // Once learned, the window is kept: later compactions come before the refusals.
        #expect(compactions.dropFirst().allSatisfy { $0.reason == .threshold })
        #expect(snapshot.refused == 1)
    }

    @Test func serverCompactionItemsStandForWhatTheyReplacedInReplays() async throws {
        // A stateless run (the history replayed every turn) with the provider's own context_management: once the
        // response carries a compaction item, the next request sends it and what follows, never what it replaced.
        var agent = try Self.agent(window: nil, compaction: .server, state: .stateless)
        agent.settings.contextManagement = [["type": "compaction", "compact_threshold": 6_000]]
        let (result, records, snapshot, _) = try await Self.longRun(turns: 40, agent: agent, dialect: Self.dialect(window: 16_000, compaction: true))
        #expect(result.status == .completed, "\(result.error ?? "")")
        #expect(Self.compactions(records).contains { $0.method == .server })
        #expect(snapshot.compactRequests == 0)
        let replays = snapshot.inputs.filter { $0.first?["type"] == "compaction" }
        #expect(!replays.isEmpty)
        for input in replays {
            // Nothing before the item, and no chunk it replaced.
            #expect(input.filter { $0["type"] == "compaction" }.count == 1)
        }
        #expect(snapshot.refused == 0)
    }

    // MARK: Budgets

    static func budgetRun(
        _ limits: RunLimits, resumeWith larger: RunLimits, turns: Int = 3
    ) async throws -> (first: RunResult, resumed: RunResult, createsBefore: Int, createsAfter: Int) {
        let reader = ChunkReader(turns: turns)
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let journal = folder.appendingPathComponent("run.jsonl")
        return try await ScriptedResponsesServer.withServer(responder: reader.responder) { server in
            try await ResponsesClient.withClient(provider: server.provider, configuration: fastClientConfiguration()) { client in
                var agent = try Self.agent(window: nil, compaction: .off)
                agent.limits = limits
                let first = await Runner(client: client).run(agent, input: "Read the corpus.", journal: journal)
                let createsBefore = server.createRequests.count
                agent.limits = larger
                let resumed = try await Runner(client: client).resume(agent, journal: journal)
                return (first, resumed, createsBefore, server.createRequests.count)
            }
        }
    }

    @Test func aBudgetReachedAfterATurnStopsBeforeItsCallsAndResumes() async throws {
        let (first, resumed, before, after) = try await Self.budgetRun(RunLimits(maxOutputTokens: 1), resumeWith: RunLimits(maxOutputTokens: 1_000_000))
        #expect(first.status == .budgetExceeded)
        #expect(first.incompleteReason == "max_output_tokens")
        #expect(first.error?.contains("its budget (max_output_tokens) is 1;") == true, "\(first.error ?? "")")
        #expect(first.error?.contains("--max-tokens or --max-cost") == true)
        #expect(first.toolCalls.isEmpty)
        #expect(before == 1)
        #expect(resumed.status == .completed)
        #expect(resumed.toolCalls.count == 3)
        #expect(after == 4)
    }

    @Test func aTokenBudgetStopsBeforeTheFirstTurnWhenItCannotFit() async throws {
        let (first, resumed, before, after) = try await Self.budgetRun(RunLimits(maxTotalTokens: 10), resumeWith: RunLimits(maxTotalTokens: 1_000_000))
        #expect(first.status == .budgetExceeded)
        #expect(first.error?.contains("the next turn would send about") == true, "\(first.error ?? "")")
        #expect(first.error?.contains("of its 10 tokens (max_total_tokens)") == true)
        #expect(before == 0)
        #expect(resumed.status == .completed)
        #expect(after == 4)
    }

    @Test func aTurnThatWouldPassTheCostBudgetIsNotSentAndResumes() async throws {
        // The first turn costs its input and output; the second would send more input than the budget has left.
        let (first, resumed, before, after) = try await Self.budgetRun(RunLimits(maxCostUSD: 0.0002), resumeWith: RunLimits(maxCostUSD: 2))
        #expect(first.status == .budgetExceeded)
        #expect(first.incompleteReason == "max_cost_usd")
        #expect(first.error?.contains("the next turn would cost at least") == true, "\(first.error ?? "")")
        #expect(first.toolCalls.count == 1)  // the call ran: the budget held after the turn; the next request did not fit
        #expect(before == 1)
        #expect((first.costUSD ?? 1) < 0.0002)
        #expect(resumed.status == .completed)
        #expect(after == 4)
        #expect((resumed.costUSD ?? 0) > (first.costUSD ?? 0))
    }

    @Test func aCostBudgetNeedsAPrice() async throws {
        try await withRunner([.message("never")]) { runner, server in
            var agent = Agent(model: "no-such-model-anywhere", limits: RunLimits(maxCostUSD: 1))
            #expect(agent.price == nil)
            let result = await runner.run(agent, input: "go")
            #expect(result.status == .failed)
            #expect(result.error?.contains("needs the price of no-such-model-anywhere") == true, "\(result.error ?? "")")
            #expect(result.error?.contains("--pricing FILE") == true)
            #expect(server.createRequests.isEmpty)
            // A token budget needs no price, and the cost is unknown, not zero.
            agent.limits = RunLimits(maxTotalTokens: 1_000_000)
            let priced = await runner.run(agent, input: "go")
            #expect(priced.status == .completed)
            #expect(priced.costUSD == nil)
        }
    }

    @Test func aBatchBudgetStopsRunningTasksAndStartsNoMore() async throws {
        let reader = ChunkReader(turns: 1_000)
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try await ScriptedResponsesServer.withServer(responder: reader.responder) { server in
            try await ResponsesClient.withClient(provider: server.provider, configuration: fastClientConfiguration()) { client in
                var runner = Runner(client: client)
                let budget = SharedBudget(maxCostUSD: 0.001, name: "the batch's budget")
                runner.sharedBudget = budget
                let agent = try Self.agent(window: nil, compaction: .off, maxTurns: 1_000)
                let tasks = (1...5).map { BatchTask(id: "t\($0)", agent: agent, input: .text("Read the corpus.")) }
                var results: [BatchResult] = []
                for await finished in runner.runBatch(tasks, concurrency: 2, folder: folder) { results.append(finished) }
                #expect(results.count == 5)
                #expect(results.allSatisfy { $0.result.status == .budgetExceeded })
                let ran = results.filter { $0.origin == .started }
                let skipped = results.filter { $0.origin == .notStarted }
                #expect(ran.count == 2)
                #expect(skipped.count == 3)
                #expect(skipped.allSatisfy { $0.result.error?.contains("not started: the batch's budget of $0.001 is spent") == true })
                #expect(ran.allSatisfy { $0.result.error?.contains("the batch's budget") == true })
                // It stopped soon after the budget was spent: at most one more turn a running task.
                let spent = budget.spentSoFar.costUSD
                #expect(spent >= 0.001)
                #expect(spent < 0.001 + 2 * Self.price.cost(of: Usage(inputTokens: 2_000, outputTokens: 100)))
                var summary = BatchSummary(total: 5)
                for result in results { summary.add(result) }
                #expect(abs((summary.costUSD ?? 0) - spent) < 1e-9)
            }
        }
    }
}
