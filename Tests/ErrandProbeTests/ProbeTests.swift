import ErrandTesting
import Foundation
import ErrandProbe
import ResponsesAPI
import Testing

/// `ProviderProbe` against every scripted dialect, over loopback: what it reports must be what the dialect does.
@Suite(.timeLimit(.minutes(3))) struct ProbeTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var dialect: ScriptedDialect
        /// The expected verdict of each capability (`nil`: could not tell).
        var expected: [String: Bool?]
        /// Phrases the drift list must contain.
        var drift: [String]
        var state: String
        var capField: String
        var description: String { name }
    }

    /// Everything supported, except compaction: the dialects have none unless they say so.
    static let everything: [String: Bool?] = Dictionary(uniqueKeysWithValues: ProviderProbe.capabilityNames.map { ($0, $0 != "compaction") })

    static let cases: [Case] = [
        Case(name: "spec", dialect: .spec, expected: everything.merging(["max_tokens": false]) { $1 }, drift: [], state: "auto",
             capField: "max_output_tokens"),
        Case(name: "openAIWire", dialect: .openAIWire, expected: everything.merging(["max_tokens": false]) { $1 }, drift: [], state: "auto",
             capField: "max_output_tokens"),
        Case(name: "umodelverse", dialect: .umodelverse, expected: everything.merging(["max_output_tokens": false]) { $1 },
             drift: ["'created' instead of 'created_at'", "bare {\"type\": \"text\"}", "response.done", "max_tokens, not max_output_tokens"],
             state: "auto", capField: "max_tokens"),
        // A server that keeps the chain but does not echo previous_response_id: decided from what the model saw.
        Case(name: "noEcho", dialect: { var dialect = ScriptedDialect.spec; dialect.extraResponseFields = ["previous_response_id": nil]; return dialect }(),
             expected: everything.merging(["max_tokens": false]) { $1 }, drift: [], state: "auto", capField: "max_output_tokens"),
        Case(name: "compacting", dialect: { var dialect = ScriptedDialect.spec; dialect.compaction = true; return dialect }(),
             expected: everything.merging(["max_tokens": false, "compaction": true]) { $1 }, drift: [], state: "auto", capField: "max_output_tokens"),
        Case(name: "stateless", dialect: .stateless,
             expected: everything.merging(["max_tokens": false, "stateful": false, "store": false, "background": false, "stream_resumption": false]) { $1 },
             drift: [], state: "stateless", capField: "max_output_tokens"),
        Case(name: "llamaCpp", dialect: .llamaCpp,
             expected: everything.merging([
                "max_tokens": false, "stateful": false, "store": false, "function_calling": nil, "tool_choice_required": false,
                "tool_choice_named": false, "parallel_calls": nil, "strict_schemas": nil, "background": false, "stream_resumption": false,
                "websocket": false, "websocket_chaining": nil, "output_schema": false,
             ]) { $1 },
             drift: [
                "'code' as a number (400)", "status 'completed', not 'incomplete'", "tool call as text", "stream events without sequence_number",
                "ignores text.format",
             ],
             state: "stateless",
             capField: "max_output_tokens"),
    ]

    @Test(arguments: cases)
    func theProbeReportsWhatTheServerDoes(_ test: Case) async throws {
        try await ScriptedResponsesServer.withServer(dialect: test.dialect, responder: ScriptedModel.responder(test.dialect)) { server in
            try await ResponsesClient.withClient(provider: server.provider, configuration: .loopbackTests(maxRetries: 0)) { client in
                let report = await ProviderProbe(client: client, model: "probe-model").run()
                if ProcessInfo.processInfo.environment["ERRAND_SHOW_PROBE"] != nil { print(test.name, report.jsonValue.jsonString) }
                for name in ProviderProbe.capabilityNames {
                    let finding = try #require(report.findings[name], "\(name) was not reported")
                    #expect(finding.supported == test.expected[name] ?? nil, "\(test.name) \(name): \(finding.verdict): \(finding.evidence)")
                    #expect(!finding.evidence.isEmpty)
                }
                for phrase in test.drift {
                    #expect(report.drift.contains { $0.contains(phrase) }, "\(test.name): no drift '\(phrase)' in \(report.drift)")
                }
                if test.drift.isEmpty { #expect(report.drift.isEmpty, "\(test.name): \(report.drift)") }
                #expect(report.provider["state"]?.stringValue == test.state)
                #expect(report.provider["max_tokens_field"]?.stringValue == test.capField)
                #expect(report.provider["transport"]?.stringValue == (test.expected["websocket_chaining"] == true ? "websocket" : nil))
                #expect(report.provider["base_url"]?.stringValue == server.baseURL)
                #expect(report.provider["response_format"] == (test.name == "llamaCpp" ? true : nil), "llama.cpp keeps to a schema only as response_format")
                #expect(report.requests == server.requests.count)
                #expect(report.requests <= 20, "a small, fixed set of requests (sent \(report.requests))")
                // Every create asks for a few tokens at most.
                for request in server.createRequests {
                    let cap = request.body?["max_output_tokens"]?.intValue ?? request.body?["max_tokens"]?.intValue
                    #expect(cap ?? 0 <= 128, "\(request.body?.jsonString ?? "")")
                }
                let json = report.jsonValue
                for name in ProviderProbe.capabilityNames {
                    #expect(json[name]?["supported"] != nil && json[name]?["evidence"]?.stringValue != nil)
                }
                #expect(json["drift"]?.arrayValue != nil)
            }
        }
    }

    @Test func evidenceIsOneLineWithLongIDsShortened() {
        let id = "resp_" + String(repeating: "bGl0ZWxsbTpjdXN0b21", count: 16)
        let finding = ProviderProbe.Finding(false, "HTTP 400: litellm.BadRequestError: {\"error\": 1}\n\nLiteLLM: model group failed\nfor \(id)")
        #expect(!finding.evidence.contains("\n"))
        #expect(finding.evidence.contains("LiteLLM: model group failed"))
        #expect(!finding.evidence.contains(id) && finding.evidence.contains("…"), "\(finding.evidence)")
        #expect(finding.evidence.count <= 300)
    }

    @Test func aServerThatIsNotThereIsOneFindingNotThirteen() async throws {
        let (port, descriptor) = try FaultyListener.reserveRefusingPort()
        defer { close(descriptor) }
        let provider = Provider(name: "nowhere", baseURL: "http://127.0.0.1:\(port)/v1")
        try await ResponsesClient.withClient(provider: provider, configuration: .loopbackTests(maxRetries: 0)) { client in
            let report = await ProviderProbe(client: client, model: "m").run()
            #expect(report.requests == 1)
            #expect(report.findings["responses"]?.supported == nil)
            #expect(report.findings["background"]?.evidence.hasPrefix("not probed") == true)
        }
    }

    @Test func aWrongBaseURLIsSaid() async throws {
        // A web server that is not a Responses API: POST /v1/responses is a 404 page.
        try await PageServer.withServer(["/": .html("<p>hello</p>")]) { pages in
            let provider = Provider(name: "web", baseURL: pages.baseURL + "/v1")
            try await ResponsesClient.withClient(provider: provider, configuration: .loopbackTests(maxRetries: 0)) { client in
                let report = await ProviderProbe(client: client, model: "m").run()
                #expect(report.findings["responses"]?.supported == false)
                #expect(report.findings["responses"]?.evidence.contains("HTTP 404") == true)
                #expect(report.findings["responses"]?.evidence.contains("base URL") == true)
                #expect(report.requests == 1)
            }
        }
    }
}
