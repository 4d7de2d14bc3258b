import ErrandCore
import ErrandTesting
import Foundation

#if os(Linux)
/// glibc's malloc_trim, which the Glibc module does not export.
@_silgen_name("malloc_trim") func mallocTrim(_ pad: Int) -> Int32
#endif
import ResponsesAPI

#if canImport(Darwin)
import Darwin
#endif

/// The agent loop's own cost per turn: a run of many one-tool turns against the scripted server, beside a floor that
/// sends the same chained requests with the bare client (same server, same transport, no runner).
enum LoopBenchmark {
    struct Noop: Tool {
        struct Arguments: Decodable {}
        let name = "noop"
        let description = "Does nothing."
        let parameters = JSONSchema.object([:])
        func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput { "ok" }
    }

    static func script(_ turns: Int) -> [ScriptedTurn] {
        Array(repeating: ScriptedTurn.calls(.call("noop", [:])), count: turns - 1) + [.message("done")]
    }

    static func agent(streaming: Bool, turns: Int) throws -> Agent {
        var tools = ToolRegistry()
        try tools.register(Noop())
        return Agent(model: "m", instructions: "Call noop until told otherwise.", tools: tools, limits: RunLimits(maxTurns: turns + 1), streaming: streaming)
    }

    /// The same chained requests the runner sends, made with the client alone.
    static func floor(turns: Int, streaming: Bool) async throws -> Double {
        try await ScriptedResponsesServer.withServer(script(turns)) { server in
            try await ResponsesClient.withClient(provider: server.provider) { client in
                let tools = try agent(streaming: streaming, turns: turns).tools.definitions
                var previous: String?
                var input: [InputItem] = [.user("go")]
                let clock = ContinuousClock()
                let start = clock.now
                for _ in 0..<turns {
                    let request = CreateResponseRequest(
                        model: "m", input: .items(input), instructions: "Call noop until told otherwise.", tools: tools, previousResponseID: previous)
                    let response = streaming ? try await client.stream(request).finalResponse() : try await client.create(request)
                    previous = response.id
                    input = response.functionCalls.map { .functionCallOutput(FunctionCallOutput(callID: $0.callID, output: "ok")) }
                }
                return seconds(clock.now - start)
            }
        }
    }

    static func runner(turns: Int, streaming: Bool, journal: URL?) async throws -> Double {
        try await ScriptedResponsesServer.withServer(script(turns)) { server in
            try await ResponsesClient.withClient(provider: server.provider) { client in
                let agent = try agent(streaming: streaming, turns: turns)
                let clock = ContinuousClock()
                let start = clock.now
                let result = await Runner(client: client).run(agent, input: "go", journal: journal)
                let elapsed = clock.now - start
                precondition(result.status == .completed && result.turns == turns, "the run ended \(result.status): \(result.error ?? "")")
                return seconds(elapsed)
            }
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Resident memory after returning freed heap pages to the system, so that it shows what is still in use.
    static func residentMegabytes() -> Double {
        #if os(Linux)
        _ = mallocTrim(0)
        #endif
        #if os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
            let pages = text.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        else { return 0 }
        return pages * 4096 / 1_048_576
        #elseif canImport(Darwin)
        var info = mach_task_basic_info()
        var count = mach_msg_type_number_t(MemoryLayout<mach_task_basic_info>.size / MemoryLayout<natural_t>.size)
        let status = withUnsafeMutablePointer(to: &info) { pointer in
            pointer.withMemoryRebound(to: integer_t.self, capacity: Int(count)) { task_info(mach_task_self_, task_flavor_t(MACH_TASK_BASIC_INFO), $0, &count) }
        }
        return status == KERN_SUCCESS ? Double(info.resident_size) / 1_048_576 : 0
        #else
        return 0
        #endif
    }

    static func run() async throws {
        let turns = 300
        let rounds = 5
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        print("\nagent loop: \(turns) turns of one tool call each, \(rounds) rounds, medians (release build)")
        for streaming in [true, false] {
            var floors: [Double] = []
            var bare: [Double] = []
            var journaled: [Double] = []
            for round in 0..<rounds {
                floors.append(try await floor(turns: turns, streaming: streaming))
                bare.append(try await runner(turns: turns, streaming: streaming, journal: nil))
                journaled.append(try await runner(turns: turns, streaming: streaming, journal: folder.appendingPathComponent("run-\(streaming)-\(round).jsonl")))
            }
            let floor = floors.sorted()[rounds / 2]
            let plain = bare.sorted()[rounds / 2]
            let withJournal = journaled.sorted()[rounds / 2]
            let mode = streaming ? "streamed" : "JSON"
            print(String(format: "  %@ floor (client only):   %7.1f ms  %6.3f ms/turn", mode, floor * 1000, floor * 1000 / Double(turns)))
            print(String(format: "  %@ runner, no journal:    %7.1f ms  %6.3f ms/turn  → runtime cost %+.3f ms/turn", mode, plain * 1000, plain * 1000 / Double(turns), (plain - floor) * 1000 / Double(turns)))
            print(String(format: "  %@ runner with journal:   %7.1f ms  %6.3f ms/turn  → runtime cost %+.3f ms/turn", mode, withJournal * 1000, withJournal * 1000 / Double(turns), (withJournal - floor) * 1000 / Double(turns)))
        }
        // Memory over long runs: one server and one client, runs of 1000 turns one after another.
        var memory: [String] = []
        try await ScriptedResponsesServer.withServer() { server in
            try await ResponsesClient.withClient(provider: server.provider) { client in
                let agent = try agent(streaming: true, turns: 1000)
                for _ in 0..<8 {
                    server.enqueue(script(1000))
                    let result = await Runner(client: client).run(agent, input: "go")
                    precondition(result.status == .completed)
                    server.forget()
                    memory.append(String(format: "%.1f", residentMegabytes()))
                }
            }
        }
        print("  resident memory after each of 8 runs of 1000 turns (server forgets between runs): \(memory.joined(separator: ", ")) MB")
    }
}
