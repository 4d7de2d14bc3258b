import ErrandCore
import ErrandTesting
import Foundation
import ResponsesAPI
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every fault a provider, a network or a host can throw at a run, at every point where it can happen, over loopback
/// HTTP. The run is three turns: two side-effecting calls in parallel, one more, then an answer. For each case:
/// the run ends with the expected outcome and, when it fails, a message that says what happened; the journal parses
/// and replays; no side effect ran twice; and when the fault was transient, resuming completes the run with every
/// side effect run exactly once and the same answer as a run without faults.
///
/// Each case prints one line (fault, point, outcome), the rows of the matrix in the issue's note.
@Suite(.serialized, .timeLimit(.minutes(10))) struct FaultMatrixTests {
    /// Where in the run a fault strikes: the request of turn 1 (before any tool), 2 (after the parallel calls), 3.
    enum Point: Int, Sendable, CaseIterable, CustomStringConvertible {
        case turn1 = 0, turn2, turn3
        var description: String { ["before the first turn", "between turns 1 and 2", "between turns 2 and 3"][rawValue] }
    }

    /// What the run should do.
    enum Expected: Sendable {
        /// The client absorbs the fault (a retry, a stream resumption, a tolerated oddity): the run completes.
        case recovers
        /// The run fails with a message containing this; a resume completes it.
        case failsThenResumes(String)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var fault: String
        var point: Point
        var expected: Expected
        /// How many requests at the point get the fault (the rest are answered cleanly).
        var times: Int = 1
        /// The faulty answer, made from the clean turn.
        var inject: @Sendable (ScriptedTurn) -> ScriptedTurn
        var streaming = true
        var testDescription: String { "\(fault) @ \(point)" }
    }

    /// The clean script, by turn.
    static let turns: [ScriptedTurn] = [
        .calls(.call("effect", ["key": "a"], id: "c1"), .call("effect", ["key": "b"], id: "c2")),
        .calls(.call("effect", ["key": "c"], id: "c3")),
        .message("done: a b c"),
    ]

    /// Stream events of each clean turn as the scripted server generates them (spec dialect): 2 lifecycle events, 4
    /// per function call, 7 for a message, and the terminal event.
    static let eventCounts = [11, 7, 9]

    static let httpStatuses = [408, 409, 429, 500, 502, 503, 504]

    static func httpError(_ status: Int, retryAfter: String?) -> ScriptedTurn {
        .error(status: status, message: "scripted \(status)", type: status == 429 ? "rate_limit_error" : "server_error",
               headers: retryAfter.map { ["retry-after": $0] } ?? [:])
    }

    static let cases: [Case] = {
        var cases: [Case] = []
        for point in Point.allCases {
            // HTTP errors the client retries, with and without retry-after.
            for status in httpStatuses {
                for retryAfter in [nil, "1"] as [String?] {
                    cases.append(Case(fault: "HTTP \(status)\(retryAfter.map { " retry-after \($0)" } ?? "")", point: point, expected: .recovers) { _ in
                        httpError(status, retryAfter: retryAfter)
                    })
                }
            }
            // A storm longer than the retry budget (2 retries here).
            cases.append(Case(fault: "429 storm (3 in a row)", point: point, expected: .failsThenResumes("HTTP 429"), times: 3) { _ in
                httpError(429, retryAfter: "0")
            })
            cases.append(Case(fault: "503 storm (3 in a row)", point: point, expected: .failsThenResumes("HTTP 503"), times: 3) { _ in
                httpError(503, retryAfter: nil)
            })
            cases.append(Case(fault: "HTTP 400", point: point, expected: .failsThenResumes("HTTP 400")) { _ in
                .error(status: 400, message: "scripted bad request")
            })
            cases.append(Case(fault: "HTTP 401", point: point, expected: .failsThenResumes("HTTP 401")) { _ in
                .error(status: 401, message: "Incorrect API key provided", type: "invalid_request_error", code: "invalid_api_key")
            })
            // The stream cut after each event: the stored response's stream is resumed from the last sequence number.
            for k in 0..<eventCounts[point.rawValue] {
                cases.append(Case(fault: "stream cut after event \(k)", point: point, expected: k == 0
                    ? .failsThenResumes("no event named the response's id") : .recovers) { $0.droppingStream(afterEvents: k) })
            }
            // A data line that is not JSON, before each event: skipped, named in the log, the stream still completes.
            for k in 0..<eventCounts[point.rawValue] {
                var turn = turns[point.rawValue]
                turn.malformedEventAt = k
                let malformed = turn
                cases.append(Case(fault: "malformed JSON before event \(k)", point: point, expected: .recovers) { _ in malformed })
            }
            cases.append(Case(fault: "idle stall (no event for 1.5× the idle timeout)", point: point, expected: .recovers) {
                $0.pacing(.seconds(7))
            })
            cases.append(Case(fault: "unknown event type", point: point, expected: .recovers) {
                $0.rewritingEvents { events in
                    var events = events
                    events.insert(["type": "response.something_new", "sequence_number": 1, "detail": ["x": 1]], at: 2)
                    return events
                }
            })
            cases.append(Case(fault: "terminal event missing", point: point, expected: .recovers) {
                $0.rewritingEvents { Array($0.dropLast()) }
            })
            cases.append(Case(fault: "two terminal events", point: point, expected: .recovers) {
                $0.rewritingEvents { $0 + [$0.last!] }
            })
            cases.append(Case(fault: "events out of order", point: point, expected: .recovers) {
                $0.rewritingEvents { events in
                    // Lifecycle first and the terminal last, everything between reversed.
                    Array(events.prefix(2)) + events.dropFirst(2).dropLast().reversed() + [events.last!]
                }
            })
            cases.append(Case(fault: "response.failed", point: point, expected: .failsThenResumes("The model crashed")) { turn in
                var failed = turn
                failed.status = "failed"
                failed.failure = (code: "server_error", message: "The model crashed")
                return failed
            })
            cases.append(Case(fault: "error event", point: point, expected: .failsThenResumes("overloaded")) { turn in
                var failed = turn
                failed.streamError = (code: "server_overloaded", message: "The engine is overloaded")
                return failed
            })
            cases.append(Case(fault: "event larger than the limit", point: point, expected: .failsThenResumes("larger than")) {
                $0.rewritingEvents { events in
                    var events = events
                    events.insert(["type": "response.something_new", "sequence_number": 1, "padding": .string(String(repeating: "x", count: 300_000))], at: 2)
                    return events
                }
            })
            // The same HTTP faults on a non-streamed request.
            cases.append(Case(fault: "HTTP 503 (not streamed)", point: point, expected: .recovers, inject: { _ in httpError(503, retryAfter: nil) }, streaming: false))
            cases.append(Case(fault: "503 storm (not streamed)", point: point, expected: .failsThenResumes("HTTP 503"), times: 3, inject: { _ in
                httpError(503, retryAfter: nil)
            }, streaming: false))
            cases.append(Case(fault: "body not JSON (not streamed)", point: point, expected: .failsThenResumes("base URL"), inject: { turn in
                var broken = turn
                broken.customBody = .string("<html>proxy error</html>")
                return broken
            }, streaming: false))
        }
        return cases
    }()

    /// A tool with a side effect: each run of a key is counted.
    struct Effect: Tool {
        struct Arguments: Decodable { var key: String }
        let name = "effect"
        let description = "Do something once."
        let parameters = JSONSchema.object(["key": .string()])
        let ledger: Ledger
        /// Characters added to each output (to make journal lines long).
        var padding = 0
        func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput {
            ledger.record(arguments.key)
            return .text("did \(arguments.key)" + (padding > 0 ? " " + String(repeating: "~", count: padding) : ""))
        }
    }

    final class Ledger: Sendable {
        private let runs = Mutex<[String: Int]>([:])
        func record(_ key: String) { runs.withLock { $0[key, default: 0] += 1 } }
        var counts: [String: Int] { runs.withLock { $0 } }
    }

    /// The configuration of the matrix: two retries, short waits, a 5 s idle limit (a loaded machine can be silent for seconds), a 256 KiB event limit.
    static func configuration() -> ResponsesClientConfiguration {
        ResponsesClientConfiguration(
            retry: RetryPolicy(maxRetries: 2, initialDelay: .milliseconds(5), maxDelay: .milliseconds(20), jitter: 0, maxRetryAfter: .seconds(2)),
            connectTimeout: .seconds(2), responseTimeout: .seconds(10), idleTimeout: .seconds(5), maxResponseBytes: 256 << 10)
    }

    /// Answers each request with its turn (found from the outputs it carries), faulty for the first `times` requests
    /// at the case's point.
    static func responder(for test: Case) -> @Sendable (RecordedRequest) -> ScriptedTurn {
        let remaining = Mutex(test.times)
        return { request in
            let outputs = Set((request.body?["input"]?.arrayValue ?? []).compactMap { $0["type"] == "function_call_output" ? $0["call_id"]?.stringValue : nil })
            let index = outputs.contains("c3") ? 2 : outputs.contains("c1") ? 1 : 0
            let clean = turns[index]
            guard index == test.point.rawValue, remaining.withLock({ left in
                defer { left -= 1 }
                return left > 0
            }) else { return clean }
            return test.inject(clean)
        }
    }

    @Test(arguments: cases)
    func aFaultEndsOrHealsTheRunAndNothingIsLost(_ test: Case) async throws {
        let respond = Self.responder(for: test)
        let script = Array(repeating: ScriptedTurn.respond(respond), count: 40)
        try await ScriptedResponsesServer.withServer(script) { server in
            try await ResponsesClient.withClient(provider: server.provider, configuration: Self.configuration(), logger: ResponsesClient.quietLogger) { client in
                let runner = Runner(client: client)
                let ledger = Ledger()
                var agent = Agent(model: "m", tools: try registry([Effect(ledger: ledger)]))
                agent.streaming = test.streaming
                let journal = try temporaryDirectory().appendingPathComponent("run.jsonl")
                let first = await runner.run(agent, input: "go", journal: journal)
                // Whatever happened, the journal reads and replays to the result the run returned.
                let replayed = try RunState(replaying: try Journal.read(journal)).result(journal: journal)
                #expect(replayed.status == first.status, "\(test)")
                #expect(ledger.counts.values.allSatisfy { $0 == 1 }, "\(test): a side effect ran twice: \(ledger.counts)")
                var outcome: String
                switch test.expected {
                case .recovers:
                    #expect(first.status == .completed, "\(test): FAILED WITH \(first.error ?? "")")
                    outcome = "completed in the run"
                case .failsThenResumes(let fragment):
                    #expect(first.status == .failed, "\(test)")
                    let message = first.error ?? ""
                    #expect(message.contains(fragment), "\(test): the message does not say '\(fragment)': \(message)")
                    let resumed = try await runner.resume(agent, journal: journal)
                    #expect(resumed.status == .completed, "\(test): the resume did not complete: \(resumed.error ?? "") (the run had failed with: \(message))")
                    outcome = "failed: \(message.prefix(110).replacingOccurrences(of: "\n", with: " ")) → resumed, completed"
                    #expect(try RunState(replaying: try Journal.read(journal)).result(journal: journal).status == .completed, "\(test)")
                }
                let final = try RunState(replaying: try Journal.read(journal)).result(journal: journal)
                #expect(final.finalText == "done: a b c", "\(test)")
                #expect(ledger.counts == ["a": 1, "b": 1, "c": 1], "\(test): every side effect exactly once: \(ledger.counts)")
                print("FAULT | \(test.fault) | \(test.point) | \(outcome)")
            }
        }
    }

    /// Faults below HTTP, at the first request (the endpoint is wrong or broken from the start): the run fails with a
    /// message that names what happened, and the same journal resumed against a working server completes.
    enum ConnectionFault: String, Sendable, CaseIterable {
        case refused, reset, garbage, silent, deaf
    }

    @Test(arguments: ConnectionFault.allCases)
    func aBrokenEndpointFailsTheRunWithTheReasonAndTheJournalResumes(_ fault: ConnectionFault) async throws {
        var refusing: (port: Int, descriptor: Int32)?
        var listener: FaultyListener?
        defer {
            if let refusing { close(refusing.descriptor) }
            listener?.stop()
        }
        switch fault {
        case .refused: refusing = try FaultyListener.reserveRefusingPort()
        case .reset: listener = try FaultyListener(.reset)
        case .garbage: listener = try FaultyListener(.garbage(Array("SSH-2.0-OpenSSH_9.6\r\nProtocol mismatch.\n".utf8)))
        case .silent: listener = try FaultyListener(.silent)
        case .deaf: listener = try FaultyListener(.deaf)
        }
        let url = listener?.baseURL ?? "http://127.0.0.1:\(refusing?.port ?? 1)/v1"
        let expected = [
            ConnectionFault.refused: "nothing is listening", .reset: "closed the connection abruptly", .garbage: "the answer is not HTTP",
            .silent: "never answered", .deaf: "never answered",
        ][fault]!
        var configuration = Self.configuration()
        configuration.responseTimeout = .milliseconds(800)
        let ledger = Ledger()
        let agent = Agent(model: "m", tools: try registry([Effect(ledger: ledger)]))
        let journal = try temporaryDirectory().appendingPathComponent("run.jsonl")
        let clock = ContinuousClock()
        let start = clock.now
        let first = try await ResponsesClient.withClient(provider: Provider.custom(baseURL: url, apiKey: "k"), configuration: configuration, logger: ResponsesClient.quietLogger) { client in
            await Runner(client: client).run(agent, input: "go", journal: journal)
        }
        let took = clock.now - start
        #expect(first.status == .failed)
        let message = first.error ?? ""
        #expect(!message.isEmpty && (expected.isEmpty || message.contains(expected)), "\(fault): \(message)")
        #expect(took < .seconds(8), "\(fault): took \(took)")
        #expect(ledger.counts.isEmpty)
        try await ScriptedResponsesServer.withServer(Self.turns) { server in
            try await ResponsesClient.withClient(provider: server.provider, configuration: Self.configuration(), logger: ResponsesClient.quietLogger) { client in
                let resumed = try await Runner(client: client).resume(agent, journal: journal)
                #expect(resumed.status == .completed, "\(fault): \(resumed.error ?? "")")
                #expect(resumed.finalText == "done: a b c")
            }
        }
        #expect(ledger.counts == ["a": 1, "b": 1, "c": 1])
        print("FAULT | connection \(fault.rawValue) | before the first turn | failed in \(took.formatted(.units(allowed: [.seconds, .milliseconds], width: .narrow))): \(message.prefix(110)) → resumed, completed")
    }

    // MARK: The host: the journal's disk

    /// Whether a small tmpfs can be mounted here (root with CAP_SYS_ADMIN): a disk that really fills.
    static let canMountTmpfs: Bool = {
        guard getuid() == 0 else { return false }
        guard let folder = try? temporaryDirectory() else { return false }
        defer { try? FileManager.default.removeItem(at: folder) }
        guard mountTmpfs(at: folder, bytes: 8192) else { return false }
        return unmount(folder)
    }()

    static func mountTmpfs(at folder: URL, bytes: Int) -> Bool {
        shell("/bin/mount", ["-t", "tmpfs", "-o", "size=\(bytes),mode=0700", "tmpfs", folder.path])
    }

    static func unmount(_ folder: URL) -> Bool { shell("/bin/umount", [folder.path]) }

    static func shell(_ program: String, _ arguments: [String]) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// A journal on a 16-page tmpfs, 15 pages taken by another file: the run's first lines fit, then the disk is
    /// full. The run stops with the reason; what was written reads; once there is room, the resume completes and no
    /// side effect has run twice.
    @Test(.enabled(if: canMountTmpfs, "needs root and mount(8) to make a small tmpfs"))
    func aDiskThatFillsMidRunStopsTheRunAndTheJournalResumesWhenThereIsRoom() async throws {
        let folder = try temporaryDirectory()
        try #require(Self.mountTmpfs(at: folder, bytes: 65536))
        defer { _ = Self.unmount(folder) }
        let filler = folder.appendingPathComponent("filler")
        try Data(repeating: 0x2E, count: 61440).write(to: filler)
        let journal = folder.appendingPathComponent("run.jsonl")
        let ledger = Ledger()
        // A long output per call, so that the journal outgrows its room after the first turn.
        let agent = Agent(model: "m", tools: try registry([Effect(ledger: ledger, padding: 900)]))
        let clean = Self.responder(for: Case(fault: "none", point: .turn1, expected: .recovers, times: 0) { $0 })
        try await ScriptedResponsesServer.withServer(Array(repeating: ScriptedTurn.respond(clean), count: 40)) { server in
            try await ResponsesClient.withClient(provider: server.provider, configuration: Self.configuration(), logger: ResponsesClient.quietLogger) { client in
                let runner = Runner(client: client)
                let first = await runner.run(agent, input: "go", journal: journal)
                #expect(first.status == .failed)
                #expect(first.error?.contains("cannot write the journal at \(journal.path): No space left on device") == true, "\(first.error ?? "")")
                let written = try Journal.read(journal)
                #expect(!written.isEmpty, "the lines written before the disk filled read back")
                #expect(ledger.counts.values.allSatisfy { $0 == 1 })
                let requestsBefore = server.createRequests.count
                try FileManager.default.removeItem(at: filler)
                let resumed = try await runner.resume(agent, journal: journal)
                #expect(resumed.status == .completed, "RESUME: \(resumed.error ?? "")")
                #expect(resumed.finalText == "done: a b c")
                #expect(ledger.counts.values.allSatisfy { $0 == 1 }, "no side effect twice: \(ledger.counts)")
                print("FAULT | journal disk full (tmpfs) | after \(written.count) lines, \(requestsBefore) requests | failed: \(first.error ?? "") → room made, resumed, completed")
            }
        }
    }

    /// A journal folder that cannot be written (a read-only mount as root, a read-only mode otherwise): the run fails
    /// before asking the model anything, and says why.
    @Test(.enabled(if: getuid() != 0 || canMountTmpfs, "as root, needs mount(8) for a read-only folder"))
    func aReadOnlyJournalFolderFailsTheRunBeforeAnyRequest() async throws {
        let folder = try temporaryDirectory()
        if getuid() == 0 {
            try #require(Self.shell("/bin/mount", ["-t", "tmpfs", "-o", "ro,size=8192", "tmpfs", folder.path]))
        } else {
            try FileManager.default.setAttributes([.posixPermissions: 0o500], ofItemAtPath: folder.path)
        }
        defer {
            if getuid() == 0 { _ = Self.unmount(folder) }
            try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: folder.path)
        }
        try await ScriptedResponsesServer.withServer(Self.turns) { server in
            try await ResponsesClient.withClient(provider: server.provider, configuration: Self.configuration(), logger: ResponsesClient.quietLogger) { client in
                let result = await Runner(client: client).run(Agent(model: "m"), input: "go", journal: folder.appendingPathComponent("run.jsonl"))
                #expect(result.status == .failed)
                let message = result.error ?? ""
                #expect(message.contains("Read-only file system") || message.contains("Permission denied"), "\(message)")
                #expect(server.createRequests.isEmpty)
                print("FAULT | journal folder read-only | before the first turn | failed: \(message)")
            }
        }
    }
}
