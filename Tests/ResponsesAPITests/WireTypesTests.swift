import Foundation
import Testing

@testable import ResponsesAPI

@Suite struct WireTypesTests {
    private func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(json.utf8))
    }

    @Test func jsonValueRoundTripsAndReads() throws {
        let value: JSONValue = ["a": [1, 2.5, "x", true, nil], "b": ["c": "d"]]
        let text = value.jsonString
        #expect(text == #"{"a":[1,2.5,"x",true,null],"b":{"c":"d"}}"#)
        #expect(try JSONValue(parsing: text) == value)
        #expect(value["a"]?[1]?.doubleValue == 2.5)
        #expect(value["a"]?[0]?.intValue == 1)
        #expect(value["b"]?["c"]?.stringValue == "d")
        #expect(value["missing"] == nil)
        #expect(try JSONValue(parsing: "true") == .bool(true))
        #expect(try JSONValue(parsing: "1") == .number(1))
    }

    @Test func requestEncodesEveryFieldUnderItsWireName() throws {
        let request = CreateResponseRequest(
            model: "m", input: .items([.user("hi"), .functionCallOutput(FunctionCallOutput(callID: "call_1", output: "42"))]),
            instructions: "be brief",
            tools: [.function(FunctionTool(name: "f", description: "d", parameters: ["type": "object"], strict: true)), .hosted(["type": "web_search"])],
            toolChoice: .function(name: "f"), parallelToolCalls: false, maxOutputTokens: 64, maxToolCalls: 3, previousResponseID: "resp_0",
            conversation: nil, store: false, stream: true, streamOptions: ["include_obfuscation": false], background: false,
            temperature: 0.5, topP: 0.9, topLogprobs: 2, reasoning: ReasoningOptions(effort: "low", summary: "auto"),
            text: TextOptions(format: .jsonSchema(name: "out", schema: ["type": "object"], strict: true), verbosity: "low"),
            truncation: "auto", metadata: ["k": "v"], include: ["reasoning.encrypted_content"], prompt: ["id": "pmpt_1"],
            serviceTier: "flex", safetyIdentifier: "u1", promptCacheKey: "ck",
            contextManagement: [["type": "compaction", "compact_threshold": 200_000]], extra: ["custom_field": 1])
        let body = try request.body()
        let expected: JSONValue = [
            "model": "m",
            "input": [
                ["type": "message", "role": "user", "content": "hi"],
                ["type": "function_call_output", "call_id": "call_1", "output": "42"],
            ],
            "instructions": "be brief",
            "tools": [
                ["type": "function", "name": "f", "description": "d", "parameters": ["type": "object"], "strict": true],
                ["type": "web_search"],
            ],
            "tool_choice": ["type": "function", "name": "f"], "parallel_tool_calls": false, "max_output_tokens": 64, "max_tool_calls": 3,
            "previous_response_id": "resp_0", "store": false, "stream": true, "stream_options": ["include_obfuscation": false],
            "background": false, "temperature": 0.5, "top_p": 0.9, "top_logprobs": 2,
            "reasoning": ["effort": "low", "summary": "auto"],
            "text": ["format": ["type": "json_schema", "name": "out", "schema": ["type": "object"], "strict": true], "verbosity": "low"],
            "truncation": "auto", "metadata": ["k": "v"], "include": ["reasoning.encrypted_content"], "prompt": ["id": "pmpt_1"],
            "service_tier": "flex", "safety_identifier": "u1", "prompt_cache_key": "ck", "custom_field": 1,
            "context_management": [["type": "compaction", "compact_threshold": 200_000]],
        ]
        #expect(body == expected)
        // And back: the decoded request equals the original.
        #expect(try body.decode(as: CreateResponseRequest.self) == request)
    }

    @Test func extraIsMergedLastAndWinsOverNamedFields() throws {
        let request = CreateResponseRequest(
            model: "m", input: "x", maxOutputTokens: 100, temperature: 0.2,
            extra: ["temperature": 0.9, "reasoning": ["effort": "high"], "brand_new_field": ["a": [1, 2]]])
        for field in CreateResponseRequest.MaxTokensField.allCases {
            let body = try request.body(maxTokensField: field)
            #expect(body["temperature"] == 0.9)
            #expect(body["reasoning"] == ["effort": "high"])
            #expect(body["brand_new_field"] == ["a": [1, 2]])
            #expect(body[field.rawValue] == 100)
            #expect(body.objectValue?.count == 6, "\(body.jsonString)")
        }
    }

    @Test func aBodyWithToolsEncodedOnceIsTheSameBody() throws {
        let tools: [ResponseTool] = [
            .function(FunctionTool(name: "read_file", description: "Read \"a\" file/path.", parameters: ["type": "object", "properties": ["path": ["type": "string"]]], strict: true)),
            .hosted(["type": "web_search_preview"]),
        ]
        let encoded = try CreateResponseRequest.encodedTools(tools)
        let requests = [
            CreateResponseRequest(model: "m", input: "x", tools: tools, maxOutputTokens: 5, extra: ["brand_new_field": 1]),
            CreateResponseRequest(tools: tools),
        ]
        for request in requests {
            for field in CreateResponseRequest.MaxTokensField.allCases {
                let spliced = try JSONValue(parsing: request.encodedBody(maxTokensField: field, encodedTools: encoded))
                let plain = try JSONValue(parsing: request.encodedBody(maxTokensField: field))
                #expect(spliced == plain)
                #expect(spliced["tools"]?.arrayValue?.count == 2)
            }
        }
    }

    @Test func stringInputAndMaxTokensField() throws {
        let request = CreateResponseRequest(model: "m", input: "Write a poem.", maxOutputTokens: 100)
        #expect(try request.body() == ["model": "m", "input": "Write a poem.", "max_output_tokens": 100])
        #expect(try request.body(maxTokensField: .maxTokens) == ["model": "m", "input": "Write a poem.", "max_tokens": 100])
        #expect(try decode(CreateResponseRequest.self, #"{"max_tokens": 5}"#).maxOutputTokens == 5)
    }

    static let toolChoices: [(String, ToolChoice)] = [
        (#""none""#, .none), (#""auto""#, .auto), (#""required""#, .required),
        (#"{"type":"function","name":"f"}"#, .function(name: "f")),
        (#"{"mode":"required","tools":[{"name":"f","type":"function"}],"type":"allowed_tools"}"#, .allowedTools(mode: "required", tools: [["type": "function", "name": "f"]])),
        (#"{"name":"t","server_label":"s","type":"mcp"}"#, .mcp(serverLabel: "s", name: "t")),
        (#"{"server_label":"s","type":"mcp"}"#, .mcp(serverLabel: "s", name: nil)),
        (#"{"name":"c","type":"custom"}"#, .custom(name: "c")),
        (#"{"type":"web_search_preview"}"#, .hosted(type: "web_search_preview")),
        (#"{"type":"file_search"}"#, .hosted(type: "file_search")),
        (#"{"type":"something_new","x":1}"#, .raw(["type": "something_new", "x": 1])),
    ]

    @Test(arguments: toolChoices)
    func toolChoiceRoundTrips(_ json: String, _ choice: ToolChoice) throws {
        #expect(try decode(ToolChoice.self, json) == choice)
        #expect(choice.jsonValue == (try JSONValue(parsing: json)))
    }

    @Test func responseAcceptsCreatedOrCreatedAt() throws {
        #expect(try decode(Response.self, #"{"id":"resp_1","created_at":1741290958,"status":"completed","output":[]}"#).createdAt == 1741290958)
        #expect(try decode(Response.self, #"{"id":"resp_1","created":1741290959,"status":"completed","output":[]}"#).createdAt == 1741290959)
    }

    @Test func responseKeepsIDsWithoutPrefixAndExtraFields() throws {
        let response = try decode(Response.self, #"""
            {"id":"7f0c1f9e-8a2b-4c1d-9e3f-2a6b5c4d3e2f","object":"response","status":"completed","store":false,
             "billing":{"payer":"developer"},"timings":{"predicted_ms":12.5},"content_filters":[],
             "output":[{"type":"function_call","id":"0b7e","call_id":"0b7e-call","name":"f","arguments":"{}"}]}
            """#)
        #expect(response.id == "7f0c1f9e-8a2b-4c1d-9e3f-2a6b5c4d3e2f")
        #expect(response.store == false)
        #expect(response.extra["billing"]?["payer"] == "developer")
        #expect(response.extra["timings"]?["predicted_ms"]?.doubleValue == 12.5)
        #expect(response.functionCalls == [FunctionCall(id: "0b7e", callID: "0b7e-call", name: "f", arguments: "{}", status: nil)])
    }

    @Test func bareTextItemReadsAsAssistantText() throws {
        let response = try decode(Response.self, #"{"id":"r","created":1,"status":"completed","output":[{"type":"text","text":"Hi!"}]}"#)
        #expect(response.outputText == "Hi!")
        guard case .message(let message) = response.output.first else {
            Issue.record("not a message")
            return
        }
        #expect(message.role == "assistant")
    }

    @Test func outputTextConcatenatesAssistantTextPartsOnly() throws {
        let response = try decode(Response.self, #"""
            {"id":"resp_1","status":"completed","output":[
              {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"thinking"}]},
              {"type":"message","id":"m1","role":"assistant","content":[{"type":"output_text","text":"Hello, ","annotations":[]},{"type":"refusal","refusal":"no"}]},
              {"type":"function_call","call_id":"c","name":"f","arguments":"{}"},
              {"type":"message","id":"m2","role":"assistant","content":[{"type":"output_text","text":"world.","annotations":[]}]}
            ]}
            """#)
        #expect(response.outputText == "Hello, world.")
        #expect(response.refusal == "no")
    }

    @Test func unknownItemsAndPartsAreKeptRaw() throws {
        let response = try decode(Response.self, #"""
            {"id":"resp_1","status":"in_progress","output":[
              {"type":"quantum_call","id":"q1","qubits":3},
              {"type":"web_search_call","id":"ws_1","status":"completed","action":{"type":"search","query":"swift"}},
              {"type":"message","role":"assistant","content":[{"type":"hologram","data":"x"}]}
            ],"error":{"code":"insufficient_quota","message":"quota"}}
            """#)
        #expect(response.output[0] == .unknown(type: "quantum_call", raw: ["type": "quantum_call", "id": "q1", "qubits": 3]))
        guard case .hostedToolCall(let call) = response.output[1] else {
            Issue.record("not a hosted call")
            return
        }
        #expect(call.type == "web_search_call")
        #expect(call["action"]?["query"] == "swift")
        #expect(response.error == ResponseFailure(code: "insufficient_quota", message: "quota"))
        #expect(response.status == .inProgress)
        // Unknown items replay unchanged.
        let replayed = try JSONValue(encoding: response.output[0])
        #expect(replayed == ["type": "quantum_call", "id": "q1", "qubits": 3])
    }

    @Test func outputItemsReplayAsInput() throws {
        let call = OutputItem.functionCall(FunctionCall(id: "fc_1", callID: "call_1", name: "f", arguments: #"{"a":1}"#))
        let reasoning = OutputItem.reasoning(ReasoningItem(id: "rs_1", summary: ["s"], encryptedContent: "enc"))
        let input: [InputItem] = [.output(call), .output(reasoning), .itemReference(id: "msg_1")]
        let json = try JSONValue(encoding: input)
        #expect(json == [
            ["type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": #"{"a":1}"#, "status": "completed"],
            ["type": "reasoning", "id": "rs_1", "summary": [["type": "summary_text", "text": "s"]], "encrypted_content": "enc"],
            ["type": "item_reference", "id": "msg_1"],
        ])
        #expect(try json.decode(as: [InputItem].self) == input)
    }

    @Test func usageReadsDetailsAndChatNames() throws {
        let usage = try decode(Usage.self, #"{"input_tokens":10,"input_tokens_details":{"cached_tokens":4},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":15}"#)
        #expect(usage == Usage(inputTokens: 10, outputTokens: 5, totalTokens: 15, cachedTokens: 4, reasoningTokens: 2))
        #expect(try decode(Usage.self, #"{"prompt_tokens":3,"completion_tokens":4}"#) == Usage(inputTokens: 3, outputTokens: 4, totalTokens: 7))
        #expect(usage + usage == Usage(inputTokens: 20, outputTokens: 10, totalTokens: 30, cachedTokens: 8, reasoningTokens: 4))
    }
}
