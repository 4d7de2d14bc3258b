import Foundation
import ResponsesAPI
import Testing

/// `--input` items are checked before anything is sent: each problem names the item and the field.
@Suite struct InputValidationTests {
    struct Bad: Sendable, CustomStringConvertible {
        var json: String
        var problem: String
        var description: String { problem }
    }

    static let bad: [Bad] = [
        Bad(json: #"{"role": "user", "content": "hi"}"#, problem: "input: expected an array of input items (or a string), not an object"),
        Bad(json: #"[]"#, problem: "input: the list is empty"),
        Bad(json: #""  ""#, problem: "input: the text is empty"),
        Bad(json: #"["hi"]"#, problem: "input[0]: expected an object, not the string \"hi\""),
        Bad(json: #"[{"role": "usr", "content": "hi"}]"#, problem: "input[0].role: 'usr' is not a role; use one of user, assistant, system, developer"),
        Bad(json: #"[{"content": "hi"}]"#, problem: "input[0].role: missing; a message needs role"),
        Bad(json: #"[{"role": "user"}]"#, problem: "input[0].content: missing; a message needs its content"),
        Bad(json: #"[{"role": "user", "content": []}]"#, problem: "input[0].content: the list of parts is empty"),
        Bad(json: #"[{"role": "user", "content": 3}]"#, problem: "input[0].content: expected a string or a list of parts, not the number 3"),
        Bad(json: #"[{"type": 3}]"#, problem: "input[0].type: expected a string, not the number 3"),
        Bad(json: #"[{"role": "user", "content": "a"}, {"role": "user", "content": [{"type": "input_image"}]}]"#,
            problem: "input[1].content[0].image_url: missing; an input_image part needs image_url (a URL or a data: URL) or file_id"),
        Bad(json: #"[{"role": "user", "content": [{"type": "input_image", "image_url": "x", "detail": "max"}]}]"#,
            problem: "input[0].content[0].detail: expected low, high or auto"),
        Bad(json: #"[{"role": "user", "content": [{"type": "input_txt", "text": "a"}]}]"#, problem: "input[0].content[0].type: 'input_txt' is not a content part"),
        Bad(json: #"[{"role": "user", "content": [{"type": "input_text"}]}]"#, problem: "input[0].content[0].text: missing; an input_text part needs text"),
        Bad(json: #"[{"role": "user", "content": ["hi"]}]"#, problem: "input[0].content[0]: expected a content part object"),
        Bad(json: #"[{"role": "user", "content": [{"type": "output_text", "text": "a"}]}]"#,
            problem: "input[0].content[0].type: output_text is for assistant messages; a user message takes input_text"),
        Bad(json: #"[{"role": "user", "content": [{"type": "input_file", "file_data": "aGk="}]}]"#,
            problem: "input[0].content[0].filename: missing; an input_file part with file_data needs its filename"),
        Bad(json: #"[{"role": "user", "content": [{"type": "input_file"}]}]"#, problem: "input[0].content[0].file_id: missing"),
        Bad(json: #"[{"type": "function_call_output", "call_id": "c1", "output": "x"}]"#,
            problem: "input[0].call_id: no function_call with call_id 'c1' comes before it"),
        Bad(json: #"[{"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}, {"type": "function_call_output", "call_id": "c1"}]"#,
            problem: "input[1].output: missing"),
        Bad(json: #"[{"type": "function_call", "call_id": "c1", "name": "f", "arguments": {"a": 1}}]"#,
            problem: "input[0].arguments: expected the arguments as a JSON string"),
        Bad(json: #"[{"type": "function_call", "call_id": "c1", "name": "f"}]"#, problem: "input[0].arguments: missing"),
        Bad(json: #"[{"type": "function_call", "name": "f", "arguments": "{}"}]"#, problem: "input[0].call_id: missing; a function_call needs call_id"),
        Bad(json: #"[{"type": "item_reference"}]"#, problem: "input[0].id: missing; an item_reference needs id"),
    ]

    @Test(arguments: bad)
    func aMalformedItemIsNamedWithItsIndexAndField(_ bad: Bad) throws {
        let json = try JSONValue(parsing: bad.json)
        #expect(throws: InputItemsError.self) { _ = try ResponseInput.validated(json) }
        do {
            _ = try ResponseInput.validated(json)
        } catch {
            #expect(error.problems.contains { $0.hasPrefix(bad.problem) || $0.contains(bad.problem) }, "\(error.problems)")
        }
    }

    @Test func everyProblemIsReportedAtOnce() throws {
        let json = try JSONValue(parsing: #"[{"role": "usr", "content": "a"}, 7, {"role": "user", "content": [{"type": "input_image"}]}]"#)
        do {
            _ = try ResponseInput.validated(json)
            Issue.record("accepted")
        } catch {
            #expect(error.problems.count == 3)
            #expect(error.problems.map { String($0.prefix(8)) } == ["input[0]", "input[1]", "input[2]"])
        }
    }

    @Test func goodItemsAreSentExactlyAsGiven() throws {
        let text = #"""
            [{"type": "message", "role": "system", "content": "Be brief."},
             {"role": "user", "content": [{"type": "input_text", "text": "Look:"}, {"type": "input_image", "file_id": "file-1", "detail": "auto"},
                                          {"type": "input_file", "file_url": "https://example.org/a.pdf"}]},
             {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Seen.", "annotations": []}]},
             {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "abc"},
             {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}", "id": "fc_1", "status": "completed"},
             {"type": "function_call_output", "call_id": "c1", "output": [{"type": "input_text", "text": "result"}]},
             {"type": "item_reference", "id": "msg_9"},
             {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": true, "unknown_field": 1}]
            """#
        let json = try JSONValue(parsing: text)
        let input = try ResponseInput.validated(json)
        guard case .items(let items) = input else {
            Issue.record("expected items")
            return
        }
        let sent = try CreateResponseRequest(model: "m", input: .items(items)).body()
        #expect(sent["input"] == json, "nothing added, dropped or reordered")
        #expect(try ResponseInput.validated("Just text") == .text("Just text"))
    }
}
