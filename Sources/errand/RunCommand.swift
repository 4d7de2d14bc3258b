import ArgumentParser
import ErrandCore
import ErrandMCP
import ErrandQueue
import ErrandSpec
import Foundation
import Logging
import ResponsesAPI
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ResponsesTransportKind: ExpressibleByArgument {}

/// Which provider and model to use, shared by `run` and `respond`.
struct ProviderOptions: ParsableArguments {
    @Option(help: "The model id.")
    var model: String?

    @Option(help: "A provider preset: \(Provider.presetNames.joined(separator: ", ")).")
    var provider: String?

    @Option(help: "The base URL of a compatible server.")
    var baseURL: String?

    @Option(help: ArgumentHelp(
        "How to reach the model: http, websocket (the Responses API's WebSocket mode, one connection per run) or auto (WebSocket where the server accepts it).",
        valueName: "transport"))
    var transport: ResponsesTransportKind?

    func validate() throws {
        if let provider, Provider.preset(named: provider) == nil {
            throw ValidationError("unknown provider '\(provider)': use one of \(Provider.presetNames.joined(separator: ", ")), or --base-url")
        }
        if let baseURL, URL(string: baseURL)?.scheme?.hasPrefix("http") != true {
            throw ValidationError("--base-url must be an http(s) URL, not '\(baseURL)'")
        }
    }

    /// The provider these flags name (with `ERRAND_PROVIDER` when they name none); a bad name exits 2.
    func resolve(environment: [String: String]) throws -> Provider {
        do {
            return try Provider.resolve(preset: provider, baseURL: baseURL, environment: environment)
        } catch {
            throw reportFailure(SpecError(setup: error))
        }
    }
}

/// Flags that override a spec.
struct OverrideOptions: ParsableArguments {
    @OptionGroup var connection: ProviderOptions

    @Option(help: "The most model turns.")
    var maxTurns: Int?

    @Option(help: "The workspace folder tools work in.")
    var workspace: String?

    @Option(help: "A host fetch_url may reach (repeatable; for specs with fetch_url).")
    var allowHost: [String] = []

    @Option(help: "How state is carried: auto, stateful or stateless.")
    var state: String?

    @Flag(help: "Run each turn in background mode (settings.background).")
    var background = false

    @Flag(inversion: .prefixedNo, help: "Stream each turn (settings.stream); --no-stream makes each turn one JSON call.")
    var stream: Bool?

    @Option(help: ArgumentHelp("The run's time limit in seconds (limits.timeout_seconds).", valueName: "seconds"))
    var timeout: Double?

    @OptionGroup var budget: BudgetOptions

    @Option(help: ArgumentHelp(
        "A JSON Schema file the final answer must fit (over the spec's output_schema): sent as text.format, always checked, with corrective turns (limits.output_retries); the parsed value is \"output\" in --json and batch lines.",
        valueName: "file"))
    var outputSchema: String?

    @Option(help: ArgumentHelp(
        "A JSON price table laid over the built-in one: {\"models\": {\"MODEL\": {\"input\": USD, \"cached_input\": USD, \"output\": USD, \"context_window\": N}}}, USD per million tokens.",
        valueName: "file"))
    var pricing: String?

    func validate() throws {
        if let state, StateMode(rawValue: state) == nil { throw ValidationError("--state must be auto, stateful or stateless, not '\(state)'") }
        if let maxTurns, maxTurns < 1 { throw ValidationError("--max-turns must be at least 1") }
        if let pricing {
            do {
                _ = try ModelCatalog(contentsOf: URL(fileURLWithPath: pricing))
            } catch {
                throw ValidationError("--pricing: \(error)")
            }
        }
        if let timeout, !(timeout > 0 && timeout <= 604_800) {
            throw ValidationError("--timeout must be a number of seconds above 0 and at most 604800 (a week), as limits.timeout_seconds")
        }
        if let outputSchema {
            do {
                _ = try AgentSpec.outputSchema(file: URL(fileURLWithPath: outputSchema))
            } catch {
                throw ValidationError("--output-schema: \(error)")
            }
        }
    }

    var overrides: SpecOverrides {
        SpecOverrides(
            model: connection.model, preset: connection.provider, baseURL: connection.baseURL, maxTurns: maxTurns,
            workspace: workspace.map { URL(fileURLWithPath: $0).standardizedFileURL }, allowHosts: allowHost,
            state: state.flatMap(StateMode.init(rawValue:)), background: background ? true : nil, stream: stream,
            timeout: timeout.map { .milliseconds(Int64($0 * 1000)) }, transport: connection.transport, maxTotalTokens: budget.maxTokens,
            maxCostUSD: budget.maxCost, pricing: pricingTable,
            outputSchema: outputSchema.flatMap { try? AgentSpec.outputSchema(file: URL(fileURLWithPath: $0)) })
    }

    /// The `--pricing` table, read when the options are validated.
    var pricingTable: ModelCatalog? { pricing.flatMap { try? ModelCatalog(contentsOf: URL(fileURLWithPath: $0)) } }
}

/// A run's token and cost budgets (`run`, `batch`, `submit`).
struct BudgetOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A budget of tokens (input plus output) over the run (limits.max_total_tokens).", valueName: "n"))
    var maxTokens: Int?

    @Option(help: ArgumentHelp("A budget in USD over the run, at the model's price (limits.max_cost_usd).", valueName: "usd"))
    var maxCost: Double?

    func validate() throws {
        if let maxTokens, maxTokens < 1 { throw ValidationError("--max-tokens must be at least 1") }
        if let maxCost, !(maxCost > 0) { throw ValidationError("--max-cost must be an amount in USD above 0, e.g. 2.50") }
    }
}

/// How a journaled run is taken up again (`run --resume`, `run --continue`, `batch`).
struct ResumeFlags: ParsableArguments {
    @Flag(help: "When a run is resumed, run again the calls a crash interrupted, even those of tools not marked safe to repeat.")
    var rerunInterrupted = false

    @Flag(help: "When a run is resumed or continued, go on even when the spec's model, instructions or tools differ from its journal's.")
    var force = false

    var options: Runner.ResumeOptions { Runner.ResumeOptions(force: force, rerunInterrupted: rerunInterrupted) }
}

/// Loads a spec, printing its problems and exiting 2 when it has any.
func loadSpec(_ path: String) throws -> AgentSpec {
    do {
        return try AgentSpec.load(URL(fileURLWithPath: path))
    } catch {
        throw reportFailure(error)
    }
}

/// `errand run`: runs a task with an agent spec.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a task with an agent spec.",
        discussion: """
            The task comes from the arguments, or from stdin when there are none or it is '-'. The answer streams to \
            stdout; each tool call is a line on stderr. Every step is journaled under --journal-dir; --resume RUN_ID \
            goes on from where a run stopped. Exit codes: 0 completed, 1 failed or hit a limit, 2 bad usage or spec, \
            130 interrupted.
            """
    )

    @Argument(help: "The agent spec (JSON).")
    var spec: String

    @Argument(help: "The task.")
    var task: [String] = []

    @OptionGroup var overrides: OverrideOptions

    @Flag(help: "Print one JSON object with the result at the end.")
    var json = false

    @Flag(help: "Print every run event as a JSON line as it happens.")
    var events = false

    @Flag(name: .shortAndLong, help: "Print the final answer only.")
    var quiet = false

    @Option(help: ArgumentHelp("Resume the run with this id (or 'last') from its journal.", valueName: "run-id"))
    var resume: String?

    @Option(name: .customLong("continue"), help: ArgumentHelp("Continue the finished run with this id (or 'last') with the task as a follow-up.", valueName: "run-id"))
    var continueRun: String?

    @OptionGroup var resumeFlags: ResumeFlags

    @Option(help: "Where journals are written (default: ERRAND_JOURNAL_DIR, or .errand/runs).")
    var journalDir: String?

    @OptionGroup var database: DatabaseOption

    @Option(help: ArgumentHelp("A JSON file with the run's first input items ('-' for stdin); a task given too is appended as a last user message.", valueName: "file"))
    var input: String?

    @Flag(help: "When the run is interrupted or times out, leave its background turn running on the server; --resume picks it up.")
    var detach = false

    @Option(help: ArgumentHelp("Write the final answer to this file: its JSON value when the run has an output schema, else its text.", valueName: "file"))
    var output: String?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if [json, events, quiet].filter({ $0 }).count > 1 { throw ValidationError("choose one of --json, --events and --quiet") }
        if input == "-", task == ["-"] { throw ValidationError("stdin can give the --input items or the task, not both") }
        if resume != nil, input != nil { throw ValidationError("--resume goes on with the journaled input; --input starts a new run") }
        if resume != nil, continueRun != nil { throw ValidationError("choose --resume (go on after a stop) or --continue (a follow-up to a finished run)") }
        if resume != nil, !task.isEmpty { throw ValidationError("--resume goes on with the journaled task; to add a follow-up, use --continue") }
        if resumeFlags.rerunInterrupted, resume == nil { throw ValidationError("--rerun-interrupted goes with --resume") }
    }

    /// What the command does with the journal.
    private enum Plan: Sendable {
        case start(runID: String, input: ResponseInput)
        case resume(String)
        case follow(String, input: ResponseInput)
    }

    func run() async throws {
        if journalDir != nil, database.given { throw ValidationError("choose --journal-dir (files) or --database (PostgreSQL), not both") }
        try await database.withStore(journalDir: journalDir) { store in try await self.run(journalingInto: store) }
    }

    private func run(journalingInto store: any RunStore) async throws {
        let logger = logging.bootstrap()
        let spec = try loadSpec(self.spec)
        let environment = ProcessInfo.processInfo.environment
        let mode: OutputMode = json ? .json : events ? .events : quiet ? .quiet : .normal
        let display = RunDisplay(mode: mode, interactive: isatty(STDERR_FILENO) == 1)
        let provider: Provider
        do {
            provider = try spec.provider(overrides: overrides.overrides, environment: environment)
        } catch {
            throw reportFailure(error)
        }
        if !overrides.allowHost.isEmpty, !spec.toolNames.contains("fetch_url") {
            printError("errand: --allow-host has no effect: \(spec.name) has no fetch_url tool")
        }
        let plan: Plan
        do {
            if let resume {
                let runID = try await store.existingRunID(resume)
                _ = try await store.existingRecords(runID)
                plan = .resume(runID)
            } else if let continueRun {
                let runID = try await store.existingRunID(continueRun)
                _ = try await store.existingRecords(runID)
                plan = .follow(runID, input: try readInput())
            } else {
                plan = .start(runID: Runner.makeRunID(), input: try readInput())
            }
        } catch let error as CoreError {
            printError("errand: \(error)")
            throw ExitCode(2)
        }
        var clientConfiguration = ResponsesClientConfiguration()
        clientConfiguration.cancelBackgroundOnCancellation = !detach
        clientConfiguration.transport = spec.transport(overrides: overrides.overrides)
        let configuration = clientConfiguration
        let options = resumeFlags.options
        let ask: (@Sendable (HostedToolCall) async -> Bool)? = isatty(STDIN_FILENO) == 1 && isatty(STDERR_FILENO) == 1 ? askApproval : nil
        let overrides = self.overrides.overrides

        // MCP servers start before the first model call and stop when the run ends, however it ends; a required one
        // that fails ends the run before any model call, naming it. Ctrl-C or SIGTERM stops whatever is under way; a
        // second one kills the servers' process groups and exits at once.
        let hardStop = HardStop()
        let outcome = await SignalScope.run(
            notice: "errand: interrupted; stopping the run and writing its journal (Ctrl-C again to quit at once)", hardStop: hardStop
        ) { () async throws -> RunResult in
            try await spec.withMCPServers(logger: logger) { servers in
                hardStop.register { servers.kill() }
                for line in servers.skipped { printError("errand: \(line)") }
                let agent = try spec.agent(overrides: overrides, environment: environment, mcp: servers, ask: ask)
                return try await ResponsesClient.withClient(provider: provider, configuration: configuration, logger: logger) { client in
                    let runner = Runner(client: client, logger: logger)
                    switch plan {
                    case .start(let runID, let input):
                        return await runner.run(agent, input: input, store: store, runID: runID, onEvent: display.show)
                    case .resume(let runID):
                        return try await runner.resume(agent, runID: runID, store: store, options: options, onEvent: display.show)
                    case .follow(let runID, let input):
                        return try await runner.continueRun(agent, runID: runID, store: store, with: input, options: options, onEvent: display.show)
                    }
                }
            }
        }
        let result: RunResult
        do {
            result = try outcome.result.get()
        } catch let error as CoreError {
            printError("errand: \(error)")
            throw ExitCode(error.kind == .resume || error.kind == .continuation || error.kind == .notAJournal ? 2 : 1)
        } catch {
            throw reportFailure(error, otherwise: outcome.exitCode ?? 1)
        }
        display.finish(result)
        if let output, result.status == .completed {
            let text = result.output.map { $0.prettyJSONString + "\n" } ?? result.finalText
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
            } catch {
                printError("errand: cannot write --output \(output): \(error.localizedDescription)")
                throw ExitCode(1)
            }
        }
        switch result.status {
        case .completed: return
        case .cancelled: throw ExitCode(outcome.exitCode ?? 130)
        default: throw ExitCode(1)
        }
    }

    /// Asks on the terminal whether a hosted MCP server may run a tool (for specs that leave `approve` open).
    @Sendable private func askApproval(_ request: HostedToolCall) async -> Bool {
        let question = "  ? \(request.summary) \(RunText.short(request["arguments"]?.stringValue ?? "", 80)): allow? [y/N] "
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                FileHandle.standardError.write(Data(question.utf8))
                let answer = readLine()?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
                continuation.resume(returning: answer == "y" || answer == "yes")
            }
        }
    }

    /// The run's input: the `--input` items (with the task, if any, as a last user message), or the task alone.
    private func readInput() throws -> ResponseInput {
        guard let input else { return .text(try readTask()) }
        var items = try readInputItems(input)
        if !task.isEmpty, !(task == ["-"] && input == "-") { items.append(.user(try readTask())) }
        return .items(items)
    }

    private func readTask() throws -> String {
        if !task.isEmpty, task != ["-"] { return task.joined(separator: " ") }
        let text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw ValidationError("no task: pass it as arguments or on stdin") }
        return text
    }
}

enum OutputMode {
    case normal, json, events, quiet
}

/// Shows a run as it happens: streamed text on stdout, one line per tool call on stderr, a spinner while the model
/// thinks (only when stderr is a terminal), and the end.
final class RunDisplay: Sendable {
    private struct State {
        var waiting = false
        var frame = 0
        var turn = 0
        var wroteText = false
        var started: ContinuousClock.Instant?
    }

    private let mode: OutputMode
    private let interactive: Bool
    private let state = Mutex(State())
    private let ticker = Mutex<Task<Void, Never>?>(nil)

    init(mode: OutputMode, interactive: Bool) {
        self.mode = mode
        self.interactive = interactive && mode == .normal
    }

    func show(_ event: RunEvent) {
        switch mode {
        case .events:
            writeOut(event.jsonValue.jsonString + "\n")
            return
        case .json, .quiet:
            return
        case .normal:
            break
        }
        switch event {
        case .turnStarted(let turn, _):
            state.withLock {
                $0.turn = turn
                $0.waiting = true
                $0.started = ContinuousClock.now
            }
            startSpinner()
        case .textDelta(let text):
            clearSpinner()
            state.withLock { $0.wroteText = true }
            writeOut(text)
        case .toolCallStarted:
            clearSpinner()
        case .toolCallFinished(let record):
            clearSpinner()
            printError("  " + RunText.toolCall(record))
        case .stateFallback(let reason):
            clearSpinner()
            printError("  " + RunText.fallback(reason))
        case .connection(let e) where e.number.map({ $0 > 1 }) ?? true || e.reason != "the run's first connection":
            // The first connection of a run is the usual case; a new one, a reused one or HTTP instead is worth a line.
            clearSpinner()
            printError("  " + RunText.connection(e))
        case .hostedToolCall(_, let call):
            clearSpinner()
            printError("  " + RunText.hostedCall(call.summary))
        case .hostedApproval(_, let request, let approved):
            clearSpinner()
            printError("  " + RunText.approval(request.summary, approved: approved))
        case .turnFinished:
            clearSpinner()
        case .compacted(let e):
            clearSpinner()
            printError("  " + RunText.compaction(e))
        case .outputRejected(let e):
            clearSpinner()
            printError("  " + RunText.outputRejected(e))
        case .guardrail(let e):
            clearSpinner()
            printError("  " + RunText.guardrail(e))
        case .handoff(let e):
            clearSpinner()
            printError("  " + RunText.handoff(e))
        case .subRun:
            if let line = Self.childLine(event, depth: 1) {
                clearSpinner()
                printError(line)
            }
        default:
            break
        }
    }

    /// A child run's event as an indented line (its tool calls, checks, handoffs and end), or nil for one not shown.
    private static func childLine(_ event: RunEvent, depth: Int) -> String? {
        guard case .subRun(_, let runID, let inner) = event else { return nil }
        let indent = String(repeating: "  ", count: depth + 1)
        switch inner {
        case .subRun: return childLine(inner, depth: depth + 1)
        case .runStarted(_, let agent): return "\(indent)⤷ \(agent) started (run \(runID))"
        case .toolCallFinished(let record): return "\(indent)" + RunText.toolCall(record)
        case .guardrail(let e): return "\(indent)" + RunText.guardrail(e)
        case .handoff(let e): return "\(indent)" + RunText.handoff(e)
        case .outputRejected(let e): return "\(indent)" + RunText.outputRejected(e)
        case .runFinished(let result): return "\(indent)⤶ \(result.status.rawValue) (run \(runID), \(result.turns) turns, \(result.usage.totalTokens) tokens)"
        default: return nil
        }
    }

    func finish(_ result: RunResult) {
        clearSpinner()
        ticker.withLock { $0?.cancel() }
        switch mode {
        case .json:
            writeOut(result.jsonValue.jsonString + "\n")
        case .quiet:
            if !result.finalText.isEmpty { writeOut(result.finalText + "\n") }
        case .events:
            break
        case .normal:
            let wrote = state.withLock { $0.wroteText }
            if !wrote, !result.finalText.isEmpty { writeOut(result.finalText) }
            if wrote || !result.finalText.isEmpty { writeOut("\n") }
        }
        for line in RunText.end(result, sayCompleted: mode == .normal) { printError(line) }
    }

    private func startSpinner() {
        guard interactive else { return }
        ticker.withLock { task in
            guard task == nil else { return }
            task = Task { [self] in
                let frames = Array("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
                while !Task.isCancelled {
                    let line = state.withLock { state -> String? in
                        guard state.waiting else { return nil }
                        state.frame += 1
                        let seconds = state.started.map { Double((ContinuousClock.now - $0).components.seconds) } ?? 0
                        return "\r\(frames[state.frame % frames.count]) waiting for the model (turn \(state.turn), \(Int(seconds)) s)\u{1B}[K"
                    }
                    if let line { FileHandle.standardError.write(Data(line.utf8)) }
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
        }
    }

    private func clearSpinner() {
        guard interactive else { return }
        let was = state.withLock { state -> Bool in
            defer { state.waiting = false }
            return state.waiting
        }
        if was { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
