import ErrandTesting
import Foundation
import ResponsesAPI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Soak: the `errand` CLI (a real process, release build) against the scripted server with random transient faults on
/// a share of the requests, its resident memory sampled every second.
///
///   errand-bench soak ERRAND_BINARY [turns=10000] [tasks=500] [fault-rate=0.05] [seed=1]
///
/// 1. One run of `turns` tool turns (`errand run`, streamed, journaled).
/// 2. `errand batch` of `tasks` three-turn tasks at concurrency 8.
/// Faults, drawn per request: HTTP 503, 429 with `retry-after: 0`, 500, a stream cut after a few events, a data line
/// that is not JSON. Each is one the client absorbs (a retry, a resumed stream, a skipped line) unless several strike
/// the same request; what cannot be absorbed ends a task with its error, which the summary counts.
enum SoakBenchmark {
    /// A fault for a request, or none, from a seeded generator shared by all requests.
    final class Faults: @unchecked Sendable {
        private let lock = NSLock()
        private var random: SplitMix64
        let rate: Double
        private(set) var injected: [String: Int] = [:]
        private(set) var requests = 0

        init(seed: UInt64, rate: Double) {
            random = SplitMix64(seed: seed)
            self.rate = rate
        }

        private func next() -> UInt64 { random.next() }

        /// The clean turn, or a faulty version of it.
        func apply(to clean: ScriptedTurn) -> ScriptedTurn {
            lock.withLock {
                requests += 1
                guard Double(next() % 1_000_000) / 1_000_000 < rate else { return clean }
                let kinds = ["503", "429", "500", "stream cut", "malformed event"]
                let kind = kinds[Int(next() % UInt64(kinds.count))]
                injected[kind, default: 0] += 1
                switch kind {
                case "503": return .error(status: 503, message: "soak: overloaded", type: "server_error")
                case "429": return .error(status: 429, message: "soak: slow down", type: "rate_limit_error", headers: ["retry-after": "0"])
                case "500": return .error(status: 500, message: "soak: internal error", type: "server_error")
                case "stream cut": return clean.droppingStream(afterEvents: 2 + Int(next() % 3))
                default:
                    var turn = clean
                    turn.malformedEventAt = 1 + Int(next() % 3)
                    return turn
                }
            }
        }

        var summary: String {
            lock.withLock { "\(requests) requests, \(injected.values.reduce(0, +)) faults (\(injected.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))" }
        }
    }

    /// Resident memory of a process, in MiB (Linux: /proc; elsewhere unknown).
    static func residentMiB(_ pid: Int32) -> Double? {
        #if os(Linux)
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return nil }
        let kilobytes = line.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0
        return kilobytes / 1024
        #else
        return nil
        #endif
    }

    /// Runs the binary with `arguments`, sampling its memory every second with `progress()`; returns the exit status,
    /// the samples and the seconds taken.
    static func watch(_ binary: String, _ arguments: [String], folder: URL, progress: @escaping () -> String) async throws
        -> (status: Int32, samples: [(Double, Double, String)], seconds: Double, stdout: Data, stderr: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = folder
        process.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "OPENAI_API_KEY": "sk-soak"]
        let out = folder.appendingPathComponent("stdout-\(UUID().uuidString)")
        let err = folder.appendingPathComponent("stderr-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        let clock = ContinuousClock()
        let start = clock.now
        try process.run()
        var samples: [(Double, Double, String)] = []
        while process.isRunning {
            try await Task.sleep(for: .seconds(1))
            let elapsed = clock.now - start
            if let rss = residentMiB(process.processIdentifier) {
                samples.append((Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, rss, progress()))
            }
        }
        process.waitUntilExit()
        let elapsed = clock.now - start
        return (
            process.terminationStatus, samples, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            (try? Data(contentsOf: out)) ?? Data(), (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        )
    }

    static func printSamples(_ samples: [(Double, Double, String)]) {
        // At most ~16 rows: every n-th sample, and the last.
        let step = max(1, samples.count / 15)
        for (index, sample) in samples.enumerated() where index % step == 0 || index == samples.count - 1 {
            print(String(format: "  %7.1f s  %7.1f MiB  ", sample.0, sample.1) + sample.2)
        }
    }

    static func run(_ arguments: [String]) async throws {
        guard let binary = arguments.first else {
            print("usage: errand-bench soak ERRAND_BINARY [turns=10000] [tasks=500] [fault-rate=0.05] [seed=1]")
            return
        }
        let turns = arguments.count > 1 ? Int(arguments[1]) ?? 10_000 : 10_000
        let tasks = arguments.count > 2 ? Int(arguments[2]) ?? 500 : 500
        let rate = arguments.count > 3 ? Double(arguments[3]) ?? 0.05 : 0.05
        let seed = arguments.count > 4 ? UInt64(arguments[4]) ?? 1 : 1
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-soak-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("work"), withIntermediateDirectories: true)
        try "a small file\n".write(to: folder.appendingPathComponent("work/notes.txt"), atomically: true, encoding: .utf8)
        try #"""
            {"name": "soak", "model": "m", "instructions": "List the folder until told to stop.", "tools": ["list_directory"],
             "workspace": {"root": "work"}, "limits": {"max_turns": \#(turns + 1000)}}
            """#.write(to: folder.appendingPathComponent("agent.json"), atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: folder) }
        let call = ScriptedTurn.calls(.call("list_directory", [:]))
        print("soak: \(binary), fault rate \(rate), seed \(seed)\n")

        // 1. One long run: the script is the answers in order; a fault takes the place of one answer, and the retry
        //    gets the next, so the run makes `turns` turns give or take the faults.
        do {
            let faults = Faults(seed: seed, rate: rate)
            let script = (0..<turns).map { _ in faults.apply(to: call) } + [.message("soaked")]
            let injected = faults.summary
            try await ScriptedResponsesServer.withServer(script) { server in
                let outcome = try await watch(
                    binary, ["run", "agent.json", "go", "--json", "--base-url", server.baseURL, "--journal-dir", folder.appendingPathComponent("journals").path],
                    folder: folder, progress: { "\(server.createRequests.count) requests" })
                let result = try? JSONValue(parsing: String(decoding: outcome.stdout, as: UTF8.self))
                print("1. one run of \(turns) scripted answers (\(injected)):")
                print("   exit \(outcome.status), status \(result?["status"]?.stringValue ?? "?"), \(result?["turns"]?.doubleValue.map { Int($0) } ?? -1) turns, "
                    + "\(server.createRequests.count) requests, \(String(format: "%.1f", outcome.seconds)) s")
                if outcome.status != 0 { print("   stderr: \(outcome.stderr.suffix(600))") }
                printSamples(outcome.samples)
                if let first = outcome.samples.dropFirst(2).first, let last = outcome.samples.last {
                    print(String(format: "   RSS %.1f MiB after %.0f s → %.1f MiB at the end", first.1, first.0, last.1))
                }
            }
        }

        // 2. A batch of short tasks, answered by what each conversation has had so far.
        do {
            let faults = Faults(seed: seed &+ 1, rate: rate)
            let lines = (0..<tasks).map { #"{"id": "t\#($0)", "task": "task \#($0)"}"# }.joined(separator: "\n") + "\n"
            try lines.write(to: folder.appendingPathComponent("tasks.jsonl"), atomically: true, encoding: .utf8)
            let responder: @Sendable (ScriptedConversation) -> ScriptedTurn = { conversation in
                faults.apply(to: conversation.chainedResponses < 2 ? call : .message("done with \(conversation.task)"))
            }
            try await ScriptedResponsesServer.withServer([], responder: responder) { server in
                let outcome = try await watch(
                    binary, ["batch", "agent.json", "tasks.jsonl", "--concurrency", "8", "--json", "--base-url", server.baseURL,
                             "--journal-dir", folder.appendingPathComponent("batch-journals").path],
                    folder: folder, progress: { "\(server.createRequests.count) requests" })
                let records = String(decoding: outcome.stdout, as: UTF8.self).split(separator: "\n").compactMap { try? JSONValue(parsing: String($0)) }
                let taskLines = records.filter { $0["type"] == "task" }
                var statuses: [String: Int] = [:]
                var errors: [String: Int] = [:]
                for line in taskLines {
                    let status = line["status"]?.stringValue ?? "?"
                    statuses[status, default: 0] += 1
                    if status != "completed" { errors[String((line["error"]?.stringValue ?? "(no message)").prefix(140)), default: 0] += 1 }
                }
                print("\n2. errand batch of \(tasks) three-turn tasks at concurrency 8 (\(faults.summary)):")
                print("   exit \(outcome.status), \(taskLines.count) task lines: \(statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")), "
                    + "\(String(format: "%.1f", outcome.seconds)) s")
                for (message, count) in errors.sorted(by: { $0.value > $1.value }) { print("   \(count)× \(message)") }
                printSamples(outcome.samples)
            }
        }
    }
}
