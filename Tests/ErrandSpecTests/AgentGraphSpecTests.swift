import ErrandCore
import ErrandSpec
import ErrandTools
import Foundation
import ResponsesAPI
import Testing

/// Specs that name other specs (agents used as tools, handoffs, judges), output schemas and guardrails: what loads,
/// what is refused (naming the file and the path), and the agents built from them.
@Suite(.serialized) struct AgentGraphSpecTests {
    static let environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]

    /// A folder with the files given (name → JSON text).
    func folder(_ files: [String: String]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("errand-graph-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(to: url.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return url
    }

    func problems(_ files: [String: String], load name: String = "a.json") throws -> [String] {
        let folder = try folder(files)
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            _ = try AgentSpec.load(folder.appendingPathComponent(name), environment: Self.environment)
            return []
        } catch {
            return error.problems.map { "\($0.path): \($0.message)".replacingOccurrences(of: folder.path + "/", with: "") }
        }
    }

    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    @Test(arguments: ["lead-reviewer", "file-reviewer", "triage", "billing", "tech-support", "politeness-judge", "contact-extractor"])
    func theExamplesValidateAndBuild(_ name: String) throws {
        let spec = try AgentSpec.load(Self.repository.appendingPathComponent("agents/\(name).json"), environment: Self.environment)
        #expect(spec.name == name)
        _ = try spec.agent(environment: Self.environment)
    }

    @Test func theLeadUsesTheReviewerAsATool() throws {
        let spec = try AgentSpec.load(Self.repository.appendingPathComponent("agents/lead-reviewer.json"), environment: Self.environment)
        let agent = try spec.agent(environment: Self.environment)
        let review = try #require(agent.tools["review"])
        #expect(review.description.hasPrefix("Review one file"))
        #expect(review.parameters["required"] == ["task"])
        #expect(review.isIdempotent, "a resumed parent resumes the child instead of refusing to run the call again")
        #expect(agent.guardrails.input.map(\.name) == ["deny-secrets"])
        #expect(agent.limits.maxAgentDepth == 1)
    }

    @Test func theTriageGraphHandsOnAndBack() throws {
        let spec = try AgentSpec.load(Self.repository.appendingPathComponent("agents/triage.json"), environment: Self.environment)
        let triage = try spec.agent(environment: Self.environment)
        #expect(triage.handoffs.map(\.agentName) == ["billing", "tech-support"])
        #expect(triage.toolDefinitions.compactMap(\.name) == ["transfer_to_billing", "transfer_to_tech-support"])
        let billing = triage.handoffs[0].agent
        #expect(billing.model == "gpt-4.1-mini")
        #expect(billing.instructions?.hasPrefix("You handle billing") == true)
        #expect(billing.handoffs.map(\.agentName) == ["triage"], "agents hand to each other: a graph, not a cycle")
        #expect(billing.handoffs[0].agent.handoffs.map(\.agentName) == ["billing", "tech-support"])
        #expect(triage.reachable(named: "tech-support")?.model == "gpt-4.1")
        #expect(triage.guardrails.output.map(\.name) == ["polite"])
        // The model given on the command line is every agent's.
        let local = try spec.agent(overrides: SpecOverrides(model: "qwen"), environment: Self.environment)
        #expect(local.handoffs.map { $0.agent.model } == ["qwen", "qwen"])
    }

    @Test func anOutputSchemaIsSentStrictWhenItCanBe() throws {
        let spec = try AgentSpec.load(Self.repository.appendingPathComponent("agents/contact-extractor.json"), environment: Self.environment)
        let schema = try #require(spec.outputSchema)
        #expect(schema.name == "contact-extractor")
        #expect(schema.isStrict)
        let agent = try spec.agent(environment: Self.environment)
        #expect(agent.outputSchema == schema)
        #expect(agent.limits.outputRetries == 2)
        // --output-schema wins over the spec's.
        let file = try folder(["other.json": #"{"type": "object", "properties": {"x": {"type": "number"}}}"#])
        defer { try? FileManager.default.removeItem(at: file) }
        let other = try AgentSpec.outputSchema(file: file.appendingPathComponent("other.json"))
        #expect(other.name == "other")
        #expect(!other.isStrict, "x is not required, so strict mode would refuse the schema")
        #expect(try spec.agent(overrides: SpecOverrides(outputSchema: other), environment: Self.environment).outputSchema == other)
    }

    static let reviewer = #"{"name": "b", "instructions": "You review."}"#

    struct Case: Sendable, CustomTestStringConvertible {
        var files: [String: String]
        var problem: String
        var testDescription: String { problem }
    }

    static let cases: [Case] = [
        Case(files: ["a.json": #"{"name": "a", "tools": [{"agent": "a.json"}]}"#],
             problem: "tools[0].agent: a cycle: a.json → a.json; an agent cannot call itself, even through others"),
        Case(files: ["a.json": #"{"name": "a", "tools": [{"agent": "b.json"}]}"#, "b.json": #"{"name": "b", "tools": [{"agent": "a.json"}]}"#],
             problem: "tools[0].agent: tools[0].agent: a cycle: a.json → b.json → a.json; an agent cannot call itself, even through others (in b.json)"),
        Case(files: ["a.json": #"{"name": "a", "guardrails": {"output": [{"agent": "a.json"}]}}"#],
             problem: "guardrails.output[0].agent: a cycle: a.json → a.json; an agent cannot call itself, even through others"),
        Case(files: ["a.json": #"{"name": "a", "tools": [{"agent": "missing.json"}]}"#],
             problem: "tools[0].agent: cannot read the spec 'missing.json': there is no such file"),
        Case(files: ["a.json": #"{"name": "a", "tools": [{"agent": "b.json", "nmae": "x"}]}"#, "b.json": reviewer],
             problem: "tools[0].nmae: unknown key; did you mean 'name'?"),
        Case(files: ["a.json": #"{"name": "a", "tools": [{"agent": "b.json"}]}"#, "b.json": #"{"name": "b", "limits": {"max_turns": 0}}"#],
             problem: "tools[0].agent: limits.max_turns: must be at least 1, not 0 (in b.json)"),
        Case(files: ["a.json": #"{"name": "a", "output_schema": {"type": "object", "properties": {"n": {"type": "strin"}}}}"#],
             problem: "output_schema: properties.n.type: 'strin' is not a JSON Schema type (array, boolean, integer, null, number, object, string)"),
        Case(files: ["a.json": #"{"name": "a", "output_schema": {"type": "array", "items": {"type": "string"}}}"#],
             problem: "output_schema: the schema must describe an object (\"type\": \"object\"): structured outputs and tool parameters take no other"),
        Case(files: ["a.json": #"{"name": "a", "output_schema": {"file": "nope.json"}}"#],
             problem: "output_schema.file: cannot read 'nope.json'"),
        Case(files: ["a.json": #"{"name": "a", "output_schema": "a string"}"#],
             problem: "output_schema: expected a JSON Schema object, or {\"file\": \"schema.json\"}, not the string \"a string\""),
        Case(files: ["a.json": #"{"name": "a", "guardrails": {"input": [{"manifest": "deny.json"}]}}"#,
                     "deny.json": #"{"name": "deny", "description": "d", "command": ["no-such-program-errand"]}"#],
             problem: "guardrails.input[0].manifest: command[0]: program 'no-such-program-errand' not found on PATH (in deny.json)"),
        Case(files: ["a.json": #"{"name": "a", "guardrails": {"input": [{"manifest": "deny.json", "agent": "b.json"}]}}"#],
             problem: "guardrails.input[0]: expected one of {\"manifest\": \"deny.json\"} (a command) or {\"agent\": \"judge.json\"} (a judge agent)"),
        Case(files: ["a.json": #"{"name": "a", "guardrails": {"output": [{"agent": "b.json"}]}}"#,
                     "b.json": #"{"name": "b", "output_schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}"#],
             problem: "guardrails.output[0].agent: a judge's output_schema must be {\"pass\": boolean, \"reason\": string} (in b.json); leave it out and Errand sets it"),
        Case(files: ["a.json": #"{"name": "a", "handoffs": ["a.json"]}"#], problem: "handoffs[0]: an agent cannot hand the conversation to itself"),
        Case(files: ["a.json": #"{"name": "a", "handoffs": ["b.json", "c.json"]}"#, "b.json": #"{"name": "b"}"#, "c.json": #"{"name": "b"}"#],
             problem: "handoffs[1]: a second handoff to an agent named 'b'"),
        Case(files: ["a.json": #"{"name": "a", "limits": {"max_agent_depth": -1}}"#], problem: "limits.max_agent_depth: must be at least 0, not -1"),
    ]

    @Test(arguments: cases)
    func badGraphsAreRefusedNamingTheFileAndPath(_ c: Case) throws {
        let found = try problems(c.files)
        #expect(found.contains(c.problem), "\(found)")
    }

    @Test func agentsThatHandToEachOtherLoadOnce() throws {
        let found = try problems([
            "a.json": #"{"name": "a", "handoffs": ["b.json"]}"#, "b.json": #"{"name": "b", "handoffs": ["a.json", "c.json"]}"#,
            "c.json": #"{"name": "c", "handoffs": ["a.json"]}"#,
        ])
        #expect(found.isEmpty, "\(found)")
    }

    @Test func aToolAgentThatHandsBackToItsCallerBuildsOnce() throws {
        // R hands to B; B uses A as a tool; A hands to B. Each agent is built once, and the handoffs resolve.
        let folder = try folder([
            "r.json": #"{"name": "r", "handoffs": ["b.json"]}"#, "b.json": #"{"name": "b", "tools": [{"agent": "a.json"}]}"#,
            "a.json": #"{"name": "a", "handoffs": ["b.json"]}"#,
        ])
        defer { try? FileManager.default.removeItem(at: folder) }
        let spec = try AgentSpec.load(folder.appendingPathComponent("r.json"), environment: Self.environment)
        let r = try spec.agent(environment: Self.environment)
        let b = try #require(r.reachable(named: "b"))
        #expect(b.tools.names == ["a"])
        #expect(r.handoffs.map(\.agentName) == ["b"])
    }

    // MARK: Command guardrails, run for real

    /// The verdict of a manifest's guardrail on `text`; `timeout` is generous unless a test needs it short (the whole
    /// suite runs at once on two cores, and starting a process can take seconds then).
    func check(_ manifest: String, text: String, timeout: Duration = .seconds(60)) async throws -> JournalEvent.GuardrailChecked {
        let folder = try folder(["g.json": manifest])
        defer { try? FileManager.default.removeItem(at: folder) }
        let command = try CommandManifest.load(folder.appendingPathComponent("g.json"), environment: Self.environment)
        let guardrail = command.guardrail(timeout: timeout, workspace: try Workspace(root: folder))
        return await guardrail.verdict(on: text, kind: .input)
    }

    @Test func theDenySecretsManifestTripsOnAKeyAndPassesTheRest() async throws {
        let manifest = try String(contentsOf: Self.repository.appendingPathComponent("tools/deny-secrets.json"), encoding: .utf8)
        let tripped = try await check(manifest, text: "Deploy with this:\n-----BEGIN OPENSSH PRIVATE KEY-----\nabc")
        #expect(!tripped.passed)
        #expect(tripped.reason == "the text carries a private key or an AWS access key id")
        let passed = try await check(manifest, text: "Review Sources/App/main.swift")
        #expect(passed.passed)
        #expect(passed.error == nil)
    }

    @Test(arguments: [
        (#"["sh", "-c", "echo 'Traceback: boom' >&2; exit 1"]"#, "failed with exit status 1 and gave no reason on stdout: Traceback: boom"),
        (#"["sh", "-c", "kill -9 $$"]"#, "was killed by signal 9"),
        (#"["sleep", "120"]"#, "did not answer within"),
    ])
    func aCommandThatCannotCheckFailsClosed(_ c: (command: String, error: String)) async throws {
        let verdict = try await check(
            #"{"name": "g", "description": "d", "command": \#(c.command)}"#, text: "hello", timeout: c.command.contains("sleep") ? .seconds(2) : .seconds(60))
        #expect(!verdict.passed)
        #expect(verdict.error?.contains(c.error) == true, "\(verdict.error ?? "nil")")
    }
}
