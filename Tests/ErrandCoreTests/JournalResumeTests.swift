import ErrandCore
import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

/// A run cut after each kind of step resumes from its journal and finishes as the whole run would.
@Suite struct JournalResumeTests {
    static let script: [ScriptedTurn] = [
        .calls(.call("echo", ["text": "a"], id: "c1"), .call("add", ["a": 2, "b": 3], id: "c2")),
        .calls(.call("echo", ["text": "b"], id: "c3")),
        .message("all done"),
    ]

    @Test func aWholeRunIsJournaledStepByStep() async throws {
        try await withRunner(Self.script) { runner, _ in
            let journal = try temporaryDirectory().appendingPathComponent("run.jsonl")
            let agent = Agent(model: "m", tools: try registry([Echo(), Add()]))
            let result = await runner.run(agent, input: "go", journal: journal, runID: "run-fixed")
            #expect(result.status == .completed)
            let types = try lines(journal).map { $0["type"]?.stringValue ?? "?" }
            #expect(types == ["run_started", "request", "response", "tool_call", "tool_call", "request", "response", "tool_call", "request", "response", "run_finished"])
            #expect(try lines(journal).allSatisfy { $0["run_id"] == "run-fixed" })
            #expect(result.journal == journal)
        }
    }

    private func lines(_ url: URL) throws -> [JSONValue] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    @Test func resumesFromACutAfterEveryStep() async throws {
        // One full run gives the journal; the server keeps its responses, so chains stay valid for the resumed runs.
        try await withRunner(Self.script) { runner, server in
            let folder = try temporaryDirectory()
            let full = folder.appendingPathComponent("full.jsonl")
            let agent = Agent(model: "m", tools: try registry([Echo(), Add()]))
            _ = await runner.run(agent, input: "go", journal: full)
            let all = try String(contentsOf: full, encoding: .utf8).split(separator: "\n").map(String.init)
            try #require(all.count == 11)
            for cut in 1..<(all.count - 1) {
                let kept = Array(all.prefix(cut))
                let responsesKept = kept.filter { $0.contains(#""type":"response""#) }.count
                // A torn half line, as a kill mid-write leaves, is ignored.
                let torn = all[cut].prefix(all[cut].count / 2)
                let journal = folder.appendingPathComponent("cut-\(cut).jsonl")
                try (kept.joined(separator: "\n") + "\n" + torn).write(to: journal, atomically: true, encoding: .utf8)
                server.enqueue(Array(Self.script.dropFirst(responsesKept)))
                let before = server.createRequests.count
                let result = try await runner.resume(agent, journal: journal)
                let label = "cut after line \(cut) (\(kept.last.flatMap { try? JSONValue(parsing: $0) }?["type"]?.stringValue ?? "?"))"
                #expect(result.status == .completed, "\(label): \(result.error ?? "")")
                #expect(result.finalText == "all done", "\(label)")
                #expect(result.toolCalls.map(\.output) == ["echo: a", #"{"sum":5}"#, "echo: b"], "\(label)")
                #expect(server.createRequests.count - before == 3 - responsesKept, "\(label): only the missing turns are asked for")
                #expect(server.remainingTurns == 0, "\(label)")
                let resumedTypes = try lines(journal).map { $0["type"]?.stringValue ?? "?" }
                #expect(resumedTypes.last == "run_finished", "\(label)")
                #expect(resumedTypes.contains("run_resumed"), "\(label)")
            }
        }
    }

    @Test func aFinishedRunIsNotRunAgain() async throws {
        try await withRunner([.message("once")]) { runner, server in
            let journal = try temporaryDirectory().appendingPathComponent("run.jsonl")
            let agent = Agent(model: "m")
            _ = await runner.run(agent, input: "go", journal: journal)
            let again = try await runner.resume(agent, journal: journal)
            #expect(again.status == .completed)
            #expect(again.finalText == "once")
            #expect(server.createRequests.count == 1)
        }
    }

    @Test func aFileThatIsNotAJournalIsRefused() async throws {
        try await withRunner([]) { runner, _ in
            let file = try temporaryDirectory().appendingPathComponent("x.jsonl")
            try "{\"type\":\"response\",\"run_id\":\"r\",\"time\":1}\n".write(to: file, atomically: true, encoding: .utf8)
            await #expect(throws: ToolError.self) { _ = try await runner.resume(Agent(model: "m"), journal: file) }
        }
    }
}
