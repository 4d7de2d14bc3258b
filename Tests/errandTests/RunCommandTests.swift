import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

/// `errand run`, `validate`, `tools`, `schema` and `extract` as a user runs them, against the scripted server.
@Suite(.timeLimit(.minutes(5))) struct RunCommandTests {
    let folder: URL
    let spec: URL
    let journals: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-cli-\(UUID().uuidString)")
        journals = folder.appendingPathComponent("journals")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("work"), withIntermediateDirectories: true)
        try "The secret word is teapot.\n".write(to: folder.appendingPathComponent("work/notes.txt"), atomically: true, encoding: .utf8)
        spec = folder.appendingPathComponent("agent.json")
        try #"""
            {"name": "notes-reader", "model": "test-model", "instructions": "Read the notes.",
             "tools": ["read_file", "list_directory"], "workspace": {"root": "work"}, "limits": {"max_turns": 5}}
            """#.write(to: spec, atomically: true, encoding: .utf8)
    }

    static let readNotes = ScriptedTurn.calls(.call("read_file", ["path": "notes.txt", "offset": nil, "limit": nil], id: "call_read"))

    /// Runs errand with a key, and the scripted server's address when there is one.
    func errand(_ arguments: [String], server: ScriptedResponsesServer? = nil) async throws -> ErrandResult {
        var all = arguments
        if let server { all += ["--base-url", server.baseURL] }
        return try await runErrand(all, environment: ["OPENAI_API_KEY": "sk-test"])
    }

    @Test func runStreamsTheAnswerAndShowsToolCalls() async throws {
        try await ScriptedResponsesServer.withServer([Self.readNotes, .message("The word is teapot.")]) { server in
            let result = try await errand(["run", spec.path, "What", "is", "the", "word?", "--journal-dir", journals.path], server: server)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "The word is teapot.\n")
            #expect(result.stderr.contains("↳ read_file {\"limit\":null,\"offset\":null,\"path\":\"notes.txt\"} ✓"))
            #expect(result.stderr.contains("✓ completed: 2 turns, 1 tool call"))
            #expect(!result.stderr.contains("waiting for the model"), "no spinner when stderr is not a terminal")
            let requests = server.createRequests
            #expect(requests.count == 2)
            #expect(requests[0].body?["model"] == "test-model")
            #expect(requests[0].body?["instructions"] == "Read the notes.")
            #expect(requests[0].body?["input"]?[0]?["content"] == "What is the word?")
            #expect(requests[0].body?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["read_file", "list_directory"])
            #expect(requests[1].body?["input"]?[0]?["output"]?.stringValue?.contains("teapot") == true)
        }
    }

    @Test func runJSONEventsAndQuiet() async throws {
        try await ScriptedResponsesServer.withServer([Self.readNotes, .message("teapot"), Self.readNotes, .message("teapot"), .message("just this")]) { server in
            let json = try await errand(["run", spec.path, "word?", "--json", "--journal-dir", journals.path], server: server)
            #expect(json.status == 0)
            let object = try JSONValue(parsing: json.stdout)
            #expect(object["status"] == "completed")
            #expect(object["output_text"] == "teapot")
            #expect(object["turns"] == 2)
            #expect(object["tool_calls"]?[0]?["name"] == "read_file")
            #expect(object["tool_calls"]?[0]?["call_id"] == "call_read")
            #expect(object["tool_calls"]?[0]?["ok"] == true)
            #expect(object["usage"]?["total_tokens"]?.intValue ?? 0 > 0)
            #expect(object["response_id"]?.stringValue?.hasPrefix("resp_") == true)
            #expect(object["run_id"]?.stringValue?.hasPrefix("run-") == true)
            #expect(object["journal"]?.stringValue?.hasPrefix(journals.path) == true)
            #expect(object["error"] == .null)

            let events = try await errand(["run", spec.path, "word?", "--events", "--journal-dir", journals.path], server: server)
            #expect(events.status == 0)
            let types = try events.stdout.split(separator: "\n").map { try JSONValue(parsing: String($0))["type"]?.stringValue ?? "?" }
            #expect(types.first == "run_started")
            #expect(types.last == "run_finished")
            #expect(types.contains("tool_call_started") && types.contains("tool_call_finished") && types.contains("text_delta"))

            let quiet = try await errand(["run", spec.path, "anything", "--quiet", "--journal-dir", journals.path], server: server)
            #expect(quiet.status == 0)
            #expect(quiet.stdout == "just this\n")
            #expect(quiet.stderr.isEmpty)
        }
    }

    @Test func aLimitExitsOneWithTheReason() async throws {
        try await ScriptedResponsesServer.withServer([Self.readNotes, .message("never")]) { server in
            let result = try await errand(["run", spec.path, "word?", "--max-turns", "1", "--journal-dir", journals.path], server: server)
            #expect(result.status == 1)
            #expect(result.stderr.contains("errand: the run ended max_turns: the run reached its limit of 1 turns"))
            // A resume does not go on with a run that hit its turn limit, so none is offered.
            #expect(!result.stderr.contains("--resume"))
        }
    }

    @Test func aGatewaysMultiLineAnswerIsPrintedOnOneLine() async throws {
        // LiteLLM refuses previous_response_id for a model group without state with a blank line and a second paragraph.
        var dialect = ScriptedDialect.spec
        dialect.keepsState = false
        dialect.previousResponseRefusal = "litellm.BadRequestError: previous_response_id is not supported\n\nReceived Model Group=qwen\nAvailable Model Group Fallbacks=None"
        try await ScriptedResponsesServer.withServer([Self.readNotes, .message("the word")], dialect: dialect) { server in
            let result = try await errand(["run", spec.path, "word?", "--journal-dir", journals.path], server: server)
            #expect(result.status == 0)
            let warning = try #require(result.stderr.split(separator: "\n").first { $0.contains("⚠") })
            #expect(warning.contains("previous_response_id is not supported Received Model Group=qwen Available Model Group Fallbacks=None"))
            #expect(!result.stderr.contains("\n\n"))
        }
        try await ScriptedResponsesServer.withServer([.error(status: 400, message: "upstream failed\n\nTraceback (most recent call last):\n  File x")]) { server in
            let result = try await errand(["run", spec.path, "word?", "--journal-dir", journals.path], server: server)
            #expect(result.status == 1)
            let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
            #expect(lines.count == 1, "\(result.stderr)")
            #expect(result.stderr.contains("upstream failed Traceback (most recent call last): File x"))
        }
    }

    @Test func aProviderFailureExitsOne() async throws {
        try await ScriptedResponsesServer.withServer([.error(status: 429, message: "You exceeded your current quota.", type: "insufficient_quota", code: "insufficient_quota", headers: ["x-should-retry": "false"])]) { server in
            let result = try await errand(["run", spec.path, "word?", "--journal-dir", journals.path], server: server)
            #expect(result.status == 1)
            #expect(result.stderr.contains("errand: the run ended failed:"))
            // A failed run is taken up again by a resume, so one is offered.
            #expect(result.stderr.contains("(resume with --resume run-"))
            #expect(result.stderr.contains("You exceeded your current quota."))
            #expect(!result.stderr.contains("sk-test"))
        }
    }

    @Test func badSpecsAndUsageExitTwo() async throws {
        let bad = folder.appendingPathComponent("bad.json")
        try #"{"name": "x", "tools": ["read_files"], "limits": {"max_turns": -1}}"#.write(to: bad, atomically: true, encoding: .utf8)
        let run = try await errand(["run", bad.path, "task"])
        #expect(run.status == 2)
        #expect(run.stderr.contains("\(bad.path): tools[0]: 'read_files' is not a built-in tool"))
        #expect(run.stderr.contains("\(bad.path): limits.max_turns: must be at least 1, not -1"))
        let validate = try await errand(["validate", spec.path, bad.path])
        #expect(validate.status == 2)
        #expect(validate.stdout.contains("✓ \(spec.path): notes-reader (2 tools: read_file, list_directory)"))
        let missing = try await errand(["run", folder.appendingPathComponent("nope.json").path, "task"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("cannot read the spec"))
        let usage = try await errand(["run", spec.path, "task", "--state", "sometimes"])
        #expect(usage.status == 2)
        // A time limit too large for a Duration is refused, not a crash (it trapped converting to Int64).
        for arguments in [["run", spec.path, "task", "--timeout", "1e300"], ["respond", "--base-url", "http://127.0.0.1:9/v1", "--timeout", "1e300", "hi"]] {
            let huge = try await errand(arguments)
            #expect(huge.status == 2, "\(arguments[0]): \(huge.stderr)")
            #expect(huge.stderr.contains("--timeout must be a number of seconds above 0 and at most 604800"), "\(arguments[0]): \(huge.stderr)")
        }
    }

    @Test func validateToolsAndSchema() async throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let agents = try FileManager.default.contentsOfDirectory(atPath: repository.appendingPathComponent("agents").path)
            .filter { $0.hasSuffix(".json") }.map { repository.appendingPathComponent("agents/\($0)").path }
        let validate = try await errand(["validate"] + agents)
        #expect(validate.status == 0, "\(validate.stderr)")
        #expect(validate.stdout.split(separator: "\n").count == agents.count)

        let tools = try await errand(["tools", repository.appendingPathComponent("agents/codebase-explainer.json").path, "--json"])
        #expect(tools.status == 0)
        let array = try JSONValue(parsing: tools.stdout)
        #expect(array.arrayValue?.compactMap { $0["name"]?.stringValue } == ["list_directory", "read_file", "search_files", "git_log"])
        #expect(array[3]?["parameters"]?["properties"]?["path"]?["x-errand-path"] == nil)
        let text = try await errand(["tools"])
        #expect(text.stdout.contains("read_file\n  Read a text file"))

        let schema = try await errand(["schema"])
        #expect(schema.status == 0)
        #expect(try JSONValue(parsing: schema.stdout)["title"] == "Errand agent spec")
    }

    @Test func extractFilesAndURLs() async throws {
        let page = "<html><head><title>Harbour</title></head><body><nav><a href=\"/\">Home</a></nav><article><p>The tide came in faster than anyone on the pier expected, and the boats rose with it.</p></article></body></html>"
        let file = folder.appendingPathComponent("page.html")
        try page.write(to: file, atomically: true, encoding: .utf8)
        let text = try await errand(["extract", "--format", "text", file.path])
        #expect(text.status == 0)
        #expect(text.stdout == "The tide came in faster than anyone on the pier expected, and the boats rose with it.\n")
        let lines = try await errand(["extract", "--jsonl", file.path, file.path])
        let objects = try lines.stdout.split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        #expect(objects.count == 2 && objects[0]["title"] == "Harbour" && objects[0]["input"] == .string(file.path))
        try await PageServer.withServer(["/page": .html(page)]) { server in
            let fetched = try await errand(["extract", "--format", "text", "--allow-host", "127.0.0.1", server.baseURL + "/page"])
            #expect(fetched.status == 0, "\(fetched.stderr)")
            #expect(fetched.stdout.contains("The tide came in faster"))
            let refused = try await errand(["extract", server.baseURL + "/page"])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("a loopback address; fetching it is refused"))
            #expect(server.requests == ["/page"], "the refused fetch never connected")
        }
    }

    /// A page whose bytes are no characters of its encoding: libxml2 2.9 printed "encoding error" to stderr (through the
    /// CLI's output) and stopped reading. The page is read whole and stderr stays empty; `--verbose` says how it was read.
    @Test func extractKeepsLibxml2OffStderrAndReadsABrokenPageWhole() async throws {
        var bytes = Array("<html><head><meta charset=\"shift_jis\"><title>Tide</title></head><body><article><p>\(String(repeating: "The tide table had a misprint. ", count: 4))".utf8)
        bytes += [0x82, 0xFF, 0x81, 0x20]
        bytes += Array("</p><p>\(String(repeating: "The second paragraph survives the bad bytes. ", count: 4))</p></article></body></html>".utf8)
        let file = folder.appendingPathComponent("broken.html")
        try Data(bytes).write(to: file)
        let result = try await errand(["extract", "--format", "text", file.path])
        #expect(result.status == 0)
        #expect(result.stderr.isEmpty, "\(result.stderr)")
        #expect(result.stdout.contains("The second paragraph survives the bad bytes."))
        let verbose = try await errand(["extract", "--format", "text", "--verbose", file.path])
        #expect(verbose.stderr == "errand: \(file.path): read as SHIFT_JIS (from meta)\n", "\(verbose.stderr)")
    }

    @Test func extractInParallelPrintsWhatOneJobPrintsInInputOrder() async throws {
        // Pages of very different sizes, so that parallel jobs finish out of order; one input is missing.
        var inputs: [String] = []
        for number in 0..<12 {
            let paragraphs = String(repeating: "<p>Page \(number) says the harbour wall was rebuilt in stone, twice, after the storms of that winter.</p>", count: number % 4 == 0 ? 400 : 2)
            let file = folder.appendingPathComponent("page-\(number).html")
            try "<html><head><title>Page \(number)</title></head><body><article>\(paragraphs)</article></body></html>".write(to: file, atomically: true, encoding: .utf8)
            inputs.append(file.path)
            if number == 5 { inputs.append(folder.appendingPathComponent("missing.html").path) }
        }
        let one = try await errand(["extract", "--jsonl", "--jobs", "1"] + inputs)
        let many = try await errand(["extract", "--jsonl", "--jobs", "4"] + inputs)
        #expect(one.status == 1 && many.status == 1, "the missing input fails the command")
        #expect(one.stdout == many.stdout)
        #expect(many.stderr.contains("missing.html"))
        let titles = try many.stdout.split(separator: "\n").map { try JSONValue(parsing: String($0))["title"] }
        #expect(titles == (0..<12).map { .string("Page \($0)") })
    }

    @Test func resumeGoesOnAfterAKilledRun() async throws {
        try await ScriptedResponsesServer.withServer([Self.readNotes, ScriptedTurn.message("too late").delayed(by: .seconds(60))]) { server in
            let running = try Launched(
                ["run", spec.path, "word?", "--journal-dir", journals.path, "--base-url", server.baseURL], environment: ["OPENAI_API_KEY": "sk-test"])
            // Wait until the tool ran and the second request is in flight, then kill the process outright.
            try await waitUntil("the second request") { server.createRequests.count >= 2 }
            try #require(server.createRequests.count == 2)
            kill(running.process.processIdentifier, SIGKILL)
            let killed = await running.wait()
            #expect(killed.status == SIGKILL)
            let files = try FileManager.default.contentsOfDirectory(atPath: journals.path)
            try #require(files.count == 1)
            let runID = String(files[0].dropLast(".jsonl".count))
            let before = try String(contentsOf: journals.appendingPathComponent(files[0]), encoding: .utf8)
            #expect(before.contains(#""type":"tool_finished""#) && !before.contains("run_finished"))

            server.enqueue([.message("The word is teapot.")])
            let resumed = try await errand(["run", spec.path, "--resume", runID, "--journal-dir", journals.path], server: server)
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(resumed.stdout == "The word is teapot.\n")
            let last = try #require(server.createRequests.last)
            #expect(last.body?["previous_response_id"] == server.createRequests[1].body?["previous_response_id"], "the same request is sent again")
            #expect(last.body?["input"]?[0]?["call_id"] == "call_read")
            let after = try String(contentsOf: journals.appendingPathComponent(files[0]), encoding: .utf8)
            #expect(after.contains(#""type":"run_resumed""#) && after.contains(#""status":"completed""#))

            let unknown = try await errand(["run", spec.path, "--resume", "run-nope", "--journal-dir", journals.path], server: server)
            #expect(unknown.status == 2)
            #expect(unknown.stderr.contains("no journal for run run-nope"))
        }
    }

    @Test func ctrlCCancelsWritesTheJournalAndExits130() async throws {
        try await ScriptedResponsesServer.withServer([ScriptedTurn.message("too late").delayed(by: .seconds(60))]) { server in
            let running = try Launched(
                ["run", spec.path, "word?", "--journal-dir", journals.path, "--base-url", server.baseURL], environment: ["OPENAI_API_KEY": "sk-test"])
            try await waitUntil("the first request") { !server.createRequests.isEmpty }
            kill(running.process.processIdentifier, SIGINT)
            let result = await running.wait()
            #expect(result.status == 130, "\(result.stderr)")
            #expect(result.stderr.contains("interrupted"))
            let files = try FileManager.default.contentsOfDirectory(atPath: journals.path)
            let journal = try String(contentsOf: journals.appendingPathComponent(files[0]), encoding: .utf8)
            #expect(journal.contains(#""type":"run_finished""#) && journal.contains(#""status":"cancelled""#))
        }
    }

    /// Process ids whose command line contains `tag`.
    static func processes(tagged tag: String) -> [Int32] {
        ProcessList.processes(withCommandLineContaining: tag)
    }

    func mcpSpec(tag: String) throws -> URL {
        let fixture = ErrandBinary.fixture
        let file = folder.appendingPathComponent("mcp-agent.json")
        try """
            {"name": "mcp-user", "model": "test-model", "tools": ["read_file", {"mcp": {"name": "fx", "command": ["\(fixture)", "--tag", "\(tag)"], "allow_tools": ["slow", "echo"]}}],
             "workspace": {"root": "work"}}
            """.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func toolsListsAnMCPServersToolsAndStopsIt() async throws {
        let tag = "tag-\(UUID().uuidString)"
        let result = try await errand(["tools", try mcpSpec(tag: tag).path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("fx__slow\n  Sleeps, then answers."))
        #expect(result.stdout.contains("fx__echo"))
        #expect(Self.processes(tagged: tag).isEmpty, "the server was stopped")
    }

    @Test func ctrlCDuringAnMCPCallStopsTheServerAndLeavesNoProcess() async throws {
        let tag = "tag-\(UUID().uuidString)"
        let spec = try mcpSpec(tag: tag)
        let turns: [ScriptedTurn] = [.calls(.call("fx__slow", ["seconds": 60], id: "call_slow")), .message("never")]
        try await ScriptedResponsesServer.withServer(turns) { server in
            let running = try Launched(
                ["run", spec.path, "wait", "--journal-dir", journals.path, "--base-url", server.baseURL], environment: ["OPENAI_API_KEY": "sk-test"])
            try await waitUntil("the first request") { !server.createRequests.isEmpty }
            #expect(Self.processes(tagged: tag).count == 1, "the server runs during the call")
            try await Task.sleep(for: .milliseconds(300))
            kill(running.process.processIdentifier, SIGINT)
            let result = await running.wait()
            #expect(result.status == 130, "\(result.stderr)")
            #expect(Self.processes(tagged: tag).isEmpty, "no MCP server outlives errand")
        }
    }

    @Test func anMCPServerThatCannotStartEndsTheRunBeforeTheModel() async throws {
        let fixture = ErrandBinary.fixture
        let file = folder.appendingPathComponent("broken.json")
        try """
            {"name": "broken", "model": "m", "tools": [{"mcp": {"name": "repo", "command": ["\(fixture)", "--fail"]}}]}
            """.write(to: file, atomically: true, encoding: .utf8)
        try await ScriptedResponsesServer.withServer([.message("never")]) { server in
            let result = try await errand(["run", file.path, "hi", "--journal-dir", journals.path], server: server)
            #expect(result.status == 1)
            #expect(result.stderr.contains("MCP server 'repo' did not start"))
            #expect(result.stderr.contains("refusing to start"))
            #expect(server.createRequests.isEmpty, "no model call was made")
        }
    }
}
