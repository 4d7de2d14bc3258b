import Foundation
import Logging
import ResponsesAPI
import Synchronization

/// A check on a run's task (input) or final answer (output). Input guardrails run beside the first model call and
/// cancel it when they trip, before any tool runs; output guardrails run on the final answer. A trip ends the run with
/// status `guardrail_tripped`, naming the check and its reason. A check that throws or passes its timeout fails closed:
/// the run stops and says which check could not run. Every verdict is journaled (`guardrail`).
///
/// ```swift
/// agent.guardrails.input.append(Guardrail(name: "no-secrets") { check in
///     check.text.contains("BEGIN PRIVATE KEY") ? .trip("the task carries a private key") : .pass
/// })
/// agent.guardrails.output.append(.agent(judge))   // a judge agent answering {"pass": …, "reason": …}
/// ```
public struct Guardrail: Sendable {
    /// What a guardrail checks.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// The run's task: the user messages of its input.
        case input
        /// The final answer.
        case output
    }

    /// The check's name, in journals and messages.
    public var name: String
    /// How long the check may take before it counts as one that could not run.
    public var timeout: Duration
    let check: @Sendable (GuardrailCheck) async throws -> GuardrailVerdict
    /// Whether the check runs a judge agent: stopped, it is waited for while the judge's run journals its end.
    var runsAgent = false

    /// A check made by a closure.
    public init(name: String, timeout: Duration = .seconds(60), check: @escaping @Sendable (GuardrailCheck) async throws -> GuardrailVerdict) {
        self.name = name
        self.timeout = timeout
        self.check = check
    }

    /// A check made by a judge agent: it gets `{"kind": "input"|"output", "text": …}` as its task and must answer
    /// `{"pass": boolean, "reason": string}` (its output schema is set to that when it has none). Its run is a child
    /// of the checked run, journaled and counted in its budgets like an agent used as a tool.
    public static func agent(_ judge: Agent, name: String? = nil, timeout: Duration? = nil) -> Guardrail {
        var judge = judge
        if judge.outputSchema == nil { judge.outputSchema = .verdict }
        let limit = timeout ?? judge.limits.timeout.map { $0 + .seconds(5) } ?? .seconds(300)
        var guardrail = Guardrail(name: name ?? judge.name, timeout: limit) { [judge] check in
            guard let subRuns = check.subRuns else { throw ToolError("an agent guardrail runs only inside a run") }
            let task: JSONValue = ["kind": .string(check.kind.rawValue), "text": .string(check.text)]
            let result = try await subRuns.run(judge, input: .text(task.jsonString), key: check.key)
            check.noteSubRun(SubRunRecord(result, agent: judge.name))
            guard result.status == .completed else {
                throw ToolError("the judge \(judge.name) ended \(result.status.rawValue): \(result.error ?? "no reason given")")
            }
            guard let pass = result.output?["pass"]?.boolValue else {
                throw ToolError("the judge \(judge.name) did not answer {\"pass\": boolean, \"reason\": string}")
            }
            let reason = result.output?["reason"]?.stringValue
            return GuardrailVerdict(passed: pass, reason: reason)
        }
        guardrail.runsAgent = true
        return guardrail
    }
}

/// What a guardrail is asked to check.
public struct GuardrailCheck: Sendable {
    /// Whether it checks the task or the answer.
    public var kind: Guardrail.Kind
    /// The text: the task's user messages, or the final answer.
    public var text: String
    /// The run's id.
    public var runID: String
    /// The turn whose answer is checked (0 for the input).
    public var turn: Int
    /// A logger with the run in its metadata.
    public var logger: Logger
    /// Runs agents as children of the checked run (a judge).
    public var subRuns: SubRuns?
    let recorder: SubRunRecorder

    /// The key of the check within the run: a judge's run id is derived from it. An input check is keyed by the turn
    /// its input goes out with (a continuation's input is another check), an output check by the answer's turn.
    var key: String { kind == .input ? "guardrail-input-\(name)-t\(stretch)" : "guardrail-output-\(name)-t\(turn)" }
    /// The check's name.
    let name: String
    /// The turn the checked input goes out with.
    let stretch: Int

    init(kind: Guardrail.Kind, name: String, text: String, runID: String, turn: Int, stretch: Int = 1, logger: Logger, subRuns: SubRuns?) {
        self.stretch = stretch
        self.kind = kind
        self.name = name
        self.text = text
        self.runID = runID
        self.turn = turn
        self.logger = logger
        self.subRuns = subRuns
        self.recorder = SubRunRecorder()
    }

    /// Keeps the record of a judge's run for the verdict's journal line.
    func noteSubRun(_ record: SubRunRecord) { recorder.set(record) }
}

/// A guardrail's verdict.
public struct GuardrailVerdict: Sendable, Hashable {
    /// Whether the text passes.
    public var passed: Bool
    /// Why (required in spirit when it trips: it is what the run's message says).
    public var reason: String?

    /// Creates a verdict.
    public init(passed: Bool, reason: String? = nil) {
        self.passed = passed
        self.reason = reason
    }

    /// The text passes.
    public static let pass = GuardrailVerdict(passed: true)

    /// The text does not pass, for `reason`.
    public static func trip(_ reason: String) -> GuardrailVerdict { GuardrailVerdict(passed: false, reason: reason) }
}

/// The guardrails of an agent.
public struct Guardrails: Sendable {
    /// Checks on the task, made beside the first model call.
    public var input: [Guardrail]
    /// Checks on the final answer.
    public var output: [Guardrail]

    /// Creates the lists (empty by default).
    public init(input: [Guardrail] = [], output: [Guardrail] = []) {
        self.input = input
        self.output = output
    }

    /// Whether there are none.
    public var isEmpty: Bool { input.isEmpty && output.isEmpty }
}

extension Guardrail {
    /// Runs the check on `text` outside a run (to try a guardrail out), as a run does: under its timeout, failing
    /// closed. An agent guardrail needs a run to run its judge in, and says so.
    public func verdict(on text: String, kind: Kind, runID: String = "check", logger: Logger = ResponsesClient.quietLogger) async -> JournalEvent.GuardrailChecked {
        await run(GuardrailCheck(kind: kind, name: name, text: text, runID: runID, turn: 0, logger: logger, subRuns: nil))
    }

    /// Runs the check under its timeout and journals-ready: the verdict, or a failure that fails closed.
    func run(_ check: GuardrailCheck) async -> JournalEvent.GuardrailChecked {
        let clock = ContinuousClock()
        let start = clock.now
        let verdict: GuardrailVerdict
        var failure: String?
        do {
            let body = self.check
            if runsAgent {
                // A judge's run is cancelled and waited for, so that its end (and what it spent) is journaled.
                let (outcome, timedOut) = await withTimeLimit(timeout) { () async -> Result<GuardrailVerdict, any Error> in
                    do { return .success(try await body(check)) } catch { return .failure(error) }
                }
                if timedOut, case .failure = outcome { throw DeadlineExceeded() }
                verdict = try outcome.get()
            } else {
                verdict = try await withDeadline(timeout) { try await body(check) }
            }
        } catch is DeadlineExceeded {
            verdict = GuardrailVerdict(passed: false)
            failure = "it did not answer within \(timeout)"
        } catch let error as ToolError {
            verdict = GuardrailVerdict(passed: false)
            failure = error.message
        } catch {
            verdict = GuardrailVerdict(passed: false)
            failure = Task.isCancelled ? "the run was cancelled while it ran" : "\(error)"
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return JournalEvent.GuardrailChecked(
            turn: check.turn, kind: check.kind, name: name, passed: failure == nil && verdict.passed,
            reason: failure == nil ? verdict.reason : nil, error: failure, duration: (seconds * 1000).rounded() / 1000,
            subRun: check.recorder.value)
    }
}

/// Thrown in place of the model's response when an input guardrail tripped while the model was answering.
struct GuardrailTripped: Error {}

/// Trips once; an operation raced against it is cancelled when it does.
final class Tripwire: Sendable {
    private struct State {
        var tripped = false
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var next: UInt64 = 0
    }
    private let state = Mutex(State())

    /// Trips the wire: every race still running ends with ``GuardrailTripped``.
    func trip() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.tripped = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the wire trips, or the task is cancelled.
    private func wait() async {
        let id = state.withLock { state -> UInt64 in
            state.next += 1
            return state.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.tripped || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    /// `operation`'s value, unless the wire trips first: then the operation is cancelled and ``GuardrailTripped`` thrown.
    func race<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                await self.wait()
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw GuardrailTripped() }
            return value
        }
    }
}
