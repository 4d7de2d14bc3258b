import ErrandCore
import Foundation
import ResponsesAPI
import Testing

/// Local compaction against a real server with a small window: opt-in, never in CI. Start llama.cpp's server with a
/// 2048-token context and run, e.g.
///
///     CTX=2048 PORT=8081 ../shared/localmodel/serve.sh start
///     ERRAND_LIVE_SMALL_CONTEXT_URL=http://127.0.0.1:8081/v1 ERRAND_LIVE_MODEL=qwen2.5-coder-1.5b-instruct \
///         swift test --filter LiveCompaction
///
/// The run's input is longer than the window. The server refuses it (`exceeds the available context size`); the run
/// learns the window from the refusal, has the model summarise the older history in a turn of its own, and sends the
/// turn again. What the model answers is printed, not judged.
@Suite(
    .enabled(if: ProcessInfo.processInfo.environment["ERRAND_LIVE_SMALL_CONTEXT_URL"] != nil, "set ERRAND_LIVE_SMALL_CONTEXT_URL (a server with a small context) to run"),
    .timeLimit(.minutes(20)))
struct LiveCompactionTests {
    @Test func aRunThatNeedsMoreThanTheWindowCompletesByLocalCompaction() async throws {
        let environment = ProcessInfo.processInfo.environment
        let url = try #require(environment["ERRAND_LIVE_SMALL_CONTEXT_URL"])
        let model = environment["ERRAND_LIVE_MODEL"] ?? "qwen2.5-coder-1.5b-instruct"
        let words = ["amber", "basalt", "cobalt", "dune", "ember", "fjord", "granite", "harbor"]
        var input: [InputItem] = []
        for (index, word) in words.enumerated() {
            let filler = String(repeating: "The survey team logged soil samples, wind readings and the state of the trail at this site. ", count: 14)
            input.append(.user("Field note \(index + 1). \(filler)The code word of note \(index + 1) is \(word)."))
            input.append(.message(.assistant("Noted.")))
        }
        input.append(.user("What is the code word of field note 3? Answer with the word only."))
        var agent = Agent(model: model, instructions: "You keep field notes and answer questions about them.", streaming: false)
        agent.context = ContextPolicy(compaction: .auto)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-live-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let journal = folder.appendingPathComponent("run.jsonl")
        let configuration = ResponsesClientConfiguration(responseTimeout: .seconds(600))
        let result = try await ResponsesClient.withClient(provider: Provider(name: "live", baseURL: url), configuration: configuration) { client in
            await Runner(client: client).run(agent, input: .items(input), journal: journal)
        }
        let records = try Journal.read(journal)
        let compactions = records.compactMap { if case .compaction(let e) = $0.event { e } else { nil } }
        print("──── live compaction: \(result.status.rawValue) · answer: \(result.finalText)")
        for e in compactions { print("  \(e.method.rawValue) (\(e.reason)) window \(e.window.map(String.init) ?? "?"): \(e.tokensBefore) → \(e.tokensAfter) · \(e.kept)") }
        print("  journal: \(journal.path)")
        #expect(result.status == .completed, "\(result.error ?? "")")
        let first = try #require(compactions.first)
        #expect(first.reason == .overflow)
        #expect(first.window == 2048)
        #expect(first.method == .summary)
        #expect(!result.finalText.isEmpty)
    }
}
