import AsyncHTTPClient
import ErrandTesting
import Foundation
import NIOCore
import NIOHTTP1
import ResponsesAPI
import Testing

/// The scripted server's own contract, checked with a plain HTTP client (not the Responses client it serves).
@Suite(.timeLimit(.minutes(3))) struct ScriptedServerTests {
    private func post(_ server: ScriptedResponsesServer, _ path: String, _ body: JSONValue?) async throws -> (Int, JSONValue?) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(server.port)\(path)")
        request.method = body == nil ? .GET : .POST
        if let body { request.body = .bytes(ByteBuffer(string: body.jsonString)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), try? JSONValue(parsing: Data(bytes.readableBytesView)))
    }

    @Test func answersTurnsInOrderAndRecordsRequests() async throws {
        try await ScriptedResponsesServer.withServer([.message("one"), .message("two")]) { server in
            let (status1, first) = try await post(server, "/v1/responses", ["model": "m", "input": "a"])
            let (_, second) = try await post(server, "/v1/responses", ["model": "m", "input": "b"])
            #expect(status1 == 200)
            #expect(first?["output"]?[0]?["content"]?[0]?["text"] == "one")
            #expect(second?["output"]?[0]?["content"]?[0]?["text"] == "two")
            #expect(first?["model"] == "m")
            #expect(server.createRequests.map { $0.body?["input"] } == ["a", "b"])
            #expect(server.remainingTurns == 0)
            let (status3, third) = try await post(server, "/v1/responses", ["model": "m", "input": "c"])
            #expect(status3 == 500)
            #expect(third?["error"]?["message"]?.stringValue?.contains("no turn left for request #3") == true)
        }
    }

    @Test func chainingChecksThatEveryCallHasAnOutput() async throws {
        try await ScriptedResponsesServer.withServer([.calls(.call("f", id: "call_a"), .call("g", id: "call_b")), .message("thanks")]) { server in
            let (_, first) = try await post(server, "/v1/responses", ["model": "m", "input": "go"])
            let id = try #require(first?["id"])
            let partial: JSONValue = ["model": "m", "previous_response_id": id, "input": [["type": "function_call_output", "call_id": "call_a", "output": "1"]]]
            let (status, error) = try await post(server, "/v1/responses", partial)
            #expect(status == 400)
            #expect(error?["error"]?["message"] == "No tool output found for function call call_b.")
            let complete: JSONValue = ["model": "m", "previous_response_id": id, "input": [
                ["type": "function_call_output", "call_id": "call_a", "output": "1"], ["type": "function_call_output", "call_id": "call_b", "output": "2"],
            ]]
            let (okStatus, answer) = try await post(server, "/v1/responses", complete)
            #expect(okStatus == 200)
            #expect(answer?["previous_response_id"] == id)
        }
    }

    @Test func aStatelessServerRefusesChainsAndRetrieval() async throws {
        try await ScriptedResponsesServer.withServer([.message("one")], dialect: .stateless) { server in
            let (_, first) = try await post(server, "/v1/responses", ["model": "m", "input": "a"])
            let id = try #require(first?["id"]?.stringValue)
            let (getStatus, _) = try await post(server, "/v1/responses/\(id)", nil)
            #expect(getStatus == 404)
            let (status, error) = try await post(server, "/v1/responses", ["model": "m", "previous_response_id": .string(id), "input": "b"])
            #expect(status == 400)
            #expect(error?["error"]?["code"] == "previous_response_not_found")
            #expect(error?["error"]?["param"] == "previous_response_id")
        }
    }

    @Test func dynamicTurnsSeeTheRequest() async throws {
        let echo = ScriptedTurn.respond { request in .message("you said: \(request.body?["input"]?.stringValue ?? "?")") }
        try await ScriptedResponsesServer.withServer([echo]) { server in
            let (_, answer) = try await post(server, "/v1/responses", ["model": "m", "input": "hello"])
            #expect(answer?["output"]?[0]?["content"]?[0]?["text"] == "you said: hello")
        }
    }

    @Test func encryptedReasoningIsReturnedWhenAskedFor() async throws {
        try await ScriptedResponsesServer.withServer([ScriptedTurn(output: [.reasoning(summary: "think"), .message("ok")])]) { server in
            let (_, answer) = try await post(server, "/v1/responses", ["model": "m", "input": "x", "store": false, "include": ["reasoning.encrypted_content"]])
            #expect(answer?["output"]?[0]?["encrypted_content"]?.stringValue?.hasPrefix("enc:") == true)
            #expect(answer?["store"] == false)
            let (status, _) = try await post(server, "/v1/responses/\(answer?["id"]?.stringValue ?? "")", nil)
            #expect(status == 404, "store: false keeps nothing")
        }
    }

    @Test func shutdownClosesKeptAliveConnectionsAndStopsListening() async throws {
        let server = try await ScriptedResponsesServer.start([.message("one")])
        _ = try await post(server, "/v1/responses", ["model": "m", "input": "a"])
        // HTTPClient.shared keeps the connection alive; shutdown must still return.
        await server.shutdown()
        let fresh = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(server.port)/v1/responses")
        request.method = .POST
        do {
            _ = try await fresh.execute(request, timeout: .seconds(5))
            Issue.record("the server still answers after shutdown")
        } catch {
            #expect(String(describing: error).contains("onnection"), "refused (AsyncHTTPClient retries a refused connect until its connect timeout): \(error)")
        }
        try await fresh.shutdown()
    }
}
