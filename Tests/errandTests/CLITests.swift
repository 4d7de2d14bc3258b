import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

/// The `errand` binary, run as a user runs it, against the scripted server.
@Suite(.timeLimit(.minutes(5))) struct CLITests {
    /// Runs the binary. Standard input is a pipe that holds `stdin` (or nothing) and is then closed.
    func run(_ arguments: [String], environment: [String: String] = [:], stdin: String? = nil) async throws -> ErrandResult {
        try await runErrand(arguments, environment: environment, stdin: stdin ?? "")
    }

    @Test func theBinaryIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: ErrandBinary.url.path), "expected errand at \(ErrandBinary.url.path)")
    }

    @Test func respondStreamsTheAnswer() async throws {
        try await ScriptedResponsesServer.withServer([.message("The moon hums.")]) { server in
            let result = try await run(["respond", "--base-url", server.baseURL, "--model", "m", "Write a poem about the moon."], environment: ["OPENAI_API_KEY": "k"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "The moon hums.\n")
            let request = try #require(server.createRequests.first)
            #expect(request.body?["input"] == "Write a poem about the moon.")
            #expect(request.body?["stream"] == true)
        }
    }

    @Test func respondWithoutStreamingAndJSON() async throws {
        try await ScriptedResponsesServer.withServer([.message("plain"), .message("as json")]) { server in
            let plain = try await run(["respond", "--no-stream", "--base-url", server.baseURL, "--instructions", "terse", "--max-output-tokens", "40", "hi"])
            #expect(plain.status == 0)
            #expect(plain.stdout == "plain\n")
            #expect(server.createRequests[0].body?["stream"] == nil)
            #expect(server.createRequests[0].body?["instructions"] == "terse")
            #expect(server.createRequests[0].body?["max_output_tokens"] == 40)
            let json = try await run(["respond", "--json", "--base-url", server.baseURL, "-"], stdin: "from stdin\n")
            #expect(json.status == 0)
            let response = try JSONValue(parsing: json.stdout)
            #expect(response["output"]?[0]?["content"]?[0]?["text"] == "as json")
            #expect(server.createRequests[1].body?["input"] == "from stdin")
        }
    }

    @Test func aProviderFailureExitsOneWithOneLine() async throws {
        try await ScriptedResponsesServer.withServer([.error(status: 401, message: "Incorrect API key provided.", code: "invalid_api_key")]) { server in
            let result = try await run(["respond", "--base-url", server.baseURL, "hi"], environment: ["OPENAI_API_KEY": "sk-secret-value"])
            #expect(result.status == 1)
            #expect(result.stderr.contains("HTTP 401"))
            #expect(result.stderr.contains("Incorrect API key provided."))
            #expect(!result.stderr.contains("sk-secret-value"))
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
    }

    @Test func aMissingKeyForAPresetExitsOne() async throws {
        let result = try await run(["respond", "--provider", "mume", "hi"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("MUME_API_KEY"))
    }

    @Test func usageErrorsExitTwo() async throws {
        let unknownFlag = try await run(["respond", "--bogus", "hi"])
        #expect(unknownFlag.status == 2)
        let badProvider = try await run(["respond", "--provider", "nowhere", "hi"])
        #expect(badProvider.status == 2)
        #expect(badProvider.stderr.contains("unknown provider 'nowhere'"))
    }

    @Test func demoRunsWithNoKeyAndNoNetwork() async throws {
        let journals = FileManager.default.temporaryDirectory.appendingPathComponent("errand-demo-\(UUID().uuidString)")
        let result = try await run(["demo", "--journal-dir", journals.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("scripted server"))
        #expect(result.stderr.contains("↳ read_file"))
        #expect(result.stderr.contains("✓ completed: 3 turns, 3 tool calls"))
        #expect(result.stdout.contains("From what I read here"))
        let files = try FileManager.default.contentsOfDirectory(atPath: journals.path)
        #expect(files.count == 1 && files[0].hasSuffix(".jsonl"))
    }
}
