import AsyncHTTPClient
import ErrandTesting
import Foundation
import NIOCore
import NIOHTTP1
import ResponsesAPI
import Synchronization
import Testing

/// The scripted server as a provider with a finite context window and OpenAI's compaction, over real loopback.
@Suite(.timeLimit(.minutes(3))) struct ScriptedContextWindowTests {
    private func post(_ server: ScriptedResponsesServer, _ path: String, _ body: JSONValue) async throws -> (Int, JSONValue?) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(server.port)\(path)")
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: body.jsonString))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), try? JSONValue(parsing: Data(bytes.readableBytesView)))
    }

    private func user(_ text: String) -> JSONValue { ["role": "user", "content": .string(text)] }

    private func dialect(window: Int? = nil, compaction: Bool = false) -> ScriptedDialect {
        var dialect = ScriptedDialect.spec
        dialect.contextWindow = window
        dialect.compaction = compaction
        return dialect
    }

    /// `context_management` asking for compaction past `threshold` tokens.
    private func compacting(_ threshold: Int) -> JSONValue { [["type": "compaction", "compact_threshold": .number(Double(threshold))]] }

    private func inputTokens(_ response: JSONValue?) -> Int? { response?["usage"]?["input_tokens"]?.intValue }

    // MARK: The window

    @Test func theTokenEstimateIsBytesOverFourPerItemAndACompactionItemCountsForty() {
        let short: JSONValue = ["role": "user", "content": "hi"]  // {"content":"hi","role":"user"}: 30 bytes
        #expect(ScriptedResponsesServer.estimatedTokens([short]) == 8)
        #expect(ScriptedResponsesServer.estimatedTokens([short, short]) == 16, "rounded up per item")
        let huge: JSONValue = ["type": "compaction", "id": "cmp_1", "encrypted_content": .string(String(repeating: "z", count: 4000))]
        #expect(ScriptedResponsesServer.estimatedTokens([huge, short]) == 48)
        #expect(ScriptedResponsesServer.estimatedTokens([]) == 0)
        #expect(ScriptedResponsesServer.estimatedContextTokens(instructions: "Be brief.", items: [short]) == 8 + 10, "{\"text\":\"Be brief.\",\"type\":\"input_text\"}: 40 bytes")
    }

    @Test func aChainThatOutgrowsTheWindowIsRefusedAndKeepsItsTurn() async throws {
        let long = String(repeating: "x", count: 400)
        try await ScriptedResponsesServer.withServer([.message(long), .message("kept")], dialect: dialect(window: 100)) { server in
            let (status1, first) = try await post(server, "/v1/responses", ["model": "m", "input": "hi"])
            #expect(status1 == 200)
            #expect(inputTokens(first) == ScriptedResponsesServer.estimatedTokens([user("hi")]), "usage counts the context")
            let id = try #require(first?["id"])
            let output = try #require(first?["output"]?.arrayValue)
            let grown = ScriptedResponsesServer.estimatedTokens([user("hi")] + output + [user("again")])
            try #require(grown > 100)
            let (status2, refusal) = try await post(server, "/v1/responses", ["model": "m", "previous_response_id": id, "input": "again"])
            #expect(status2 == 400)
            #expect(refusal?["error"]?["code"] == "context_length_exceeded")
            #expect(refusal?["error"]?["type"] == "invalid_request_error")
            #expect(refusal?["error"]?["param"] == "input")
            #expect(refusal?["error"]?["message"] == "Your input exceeds the context window of this model. Please adjust your input and try again.")
            #expect(server.createRequests.count == 2, "the refused request is recorded")
            #expect(server.remainingTurns == 1, "and used up no turn")
            let (status3, third) = try await post(server, "/v1/responses", ["model": "m", "input": "fresh"])
            #expect(status3 == 200)
            #expect(third?["output"]?[0]?["content"]?[0]?["text"] == "kept")
        }
    }

    @Test func llamaCppRefusesWithItsBodyAndTheNumbers() async throws {
        #expect(ScriptedDialect.llamaCpp.contextOverflowStyle == .llamaCpp)
        #expect(ScriptedDialect.spec.contextOverflowStyle == .openAI)
        var dialect = ScriptedDialect.llamaCpp
        dialect.contextWindow = 50
        try await ScriptedResponsesServer.withServer([.message("fits")], dialect: dialect) { server in
            let text = String(repeating: "y", count: 300)
            let (status, refusal) = try await post(server, "/v1/responses", ["model": "m", "instructions": "Be brief.", "input": .string(text)])
            let tokens = ScriptedResponsesServer.estimatedContextTokens(instructions: "Be brief.", items: [user(text)])
            #expect(status == 400)
            #expect(refusal?["error"]?["code"] == 400)
            #expect(refusal?["error"]?["type"] == "exceed_context_size_error")
            #expect(refusal?["error"]?["n_prompt_tokens"]?.intValue == tokens)
            #expect(refusal?["error"]?["n_ctx"] == 50)
            #expect(
                refusal?["error"]?["message"]
                    == .string("request (\(tokens) tokens) exceeds the available context size (50 tokens), try increasing it"))
            #expect(server.remainingTurns == 1)
            let (okStatus, answer) = try await post(server, "/v1/responses", ["model": "m", "instructions": "Be brief.", "input": "short"])
            #expect(okStatus == 200)
            #expect(inputTokens(answer) == ScriptedResponsesServer.estimatedContextTokens(instructions: "Be brief.", items: [user("short")]))
        }
    }

    // MARK: Server-side compaction

    @Test func crossingTheThresholdPutsACompactionItemFirstAndTheChainShrinks() async throws {
        let seen = Mutex<[[JSONValue]]>([])
        let replies = ["ok", "short reply", "third"]
        let long = String(repeating: "w", count: 500)
        try await ScriptedResponsesServer.withServer(dialect: dialect(window: 160, compaction: true), responder: { conversation in
            let count = seen.withLock { seen in
                seen.append(conversation.items)
                return seen.count
            }
            return .message(replies[min(count, replies.count) - 1])
        }) { server in
            let (_, first) = try await post(server, "/v1/responses", ["model": "m", "input": .string(long), "context_management": compacting(150)])
            #expect(first?["output"]?[0]?["type"] == "message", "under the threshold: no compaction")
            let reply1 = try #require(first?["output"]?[0])
            let whole = [user(long), reply1, user("next")]
            try #require(ScriptedResponsesServer.estimatedTokens(whole) > 160, "uncompacted, it would not even fit the window")

            let (status2, second) = try await post(server, "/v1/responses", [
                "model": "m", "previous_response_id": try #require(first?["id"]), "input": "next", "context_management": compacting(150),
            ])
            #expect(status2 == 200)
            let compaction = try #require(second?["output"]?[0])
            #expect(compaction == ["type": "compaction", "id": "cmp_1", "encrypted_content": "scripted-compaction:1:3"])
            #expect(second?["output"]?[1]?["content"]?[0]?["text"] == "short reply")
            #expect(seen.withLock { $0.last } == [compaction, reply1, user("next")], "the responder sees the compaction and the last two items")
            let compacted = ScriptedResponsesServer.estimatedTokens([compaction, reply1, user("next")])
            #expect(inputTokens(second) == compacted)
            #expect(server.compactionsMade == 1)

            let (_, third) = try await post(server, "/v1/responses", [
                "model": "m", "previous_response_id": try #require(second?["id"]), "input": "more", "context_management": compacting(150),
            ])
            let reply2 = try #require(second?["output"]?[1])
            let after = [compaction, reply2, user("more")]
            #expect(seen.withLock { $0.last } == after, "the chain stops at the compacted response")
            #expect(inputTokens(third) == ScriptedResponsesServer.estimatedTokens(after))
            #expect(try #require(inputTokens(third)) < ScriptedResponsesServer.estimatedTokens(whole))
            #expect(third?["output"]?[0]?["type"] == "message", "small again: no second compaction")
            #expect(server.compactionsMade == 1)
        }
    }

    @Test func aReplayedCompactionItemIsAcceptedAndAForgedOneRefused() async throws {
        let long = String(repeating: "v", count: 600)
        try await ScriptedResponsesServer.withServer([.message("a"), .message("b"), .message("c")], dialect: dialect(compaction: true)) { server in
            let (_, first) = try await post(server, "/v1/responses", [
                "model": "m", "store": false, "input": [user(long)], "context_management": compacting(100),
            ])
            let compaction = try #require(first?["output"]?[0])
            #expect(compaction["type"] == "compaction")
            let reply = try #require(first?["output"]?[1])
            let replay = [compaction, reply, user("go on")]
            let (status, second) = try await post(server, "/v1/responses", ["model": "m", "store": false, "input": .array(replay)])
            #expect(status == 200)
            #expect(second?["output"]?[0]?["content"]?[0]?["text"] == "b")
            #expect(inputTokens(second) == 40 + ScriptedResponsesServer.estimatedTokens([reply, user("go on")]))

            let forged: JSONValue = ["type": "compaction", "id": "cmp_x", "encrypted_content": "gAAAAB-made-elsewhere"]
            let (refusedStatus, refusal) = try await post(server, "/v1/responses", ["model": "m", "input": [forged, user("go on")]])
            #expect(refusedStatus == 400)
            #expect(refusal?["error"]?["code"] == "invalid_encrypted_content")
            #expect(refusal?["error"]?["param"] == "input")
            #expect(refusal?["error"]?["message"] == "The encrypted content for item cmp_x could not be verified.")
            #expect(server.remainingTurns == 1)
            #expect(server.compactionsMade == 1)
        }
    }

    @Test func withoutTheDialectFlagContextManagementIsIgnoredAndUsageStaysTheBodyEstimate() async throws {
        try await ScriptedResponsesServer.withServer([.message("plain")]) { server in
            let body: JSONValue = ["model": "m", "input": .string(String(repeating: "u", count: 400)), "context_management": compacting(1)]
            let (status, answer) = try await post(server, "/v1/responses", body)
            #expect(status == 200)
            #expect(answer?["output"]?.arrayValue?.count == 1)
            #expect(answer?["output"]?[0]?["type"] == "message")
            #expect(inputTokens(answer) == body.jsonString.utf8.count / 4)
            #expect(server.compactionsMade == 0)
        }
    }

    // MARK: POST /responses/compact

    @Test func theCompactEndpointReturnsTheUserMessagesAndACompactionItem() async throws {
        try await ScriptedResponsesServer.withServer([.message("first answer"), .message("after")], dialect: dialect(compaction: true)) { server in
            let (_, first) = try await post(server, "/v1/responses", ["model": "m", "input": "hello"])
            let reply = try #require(first?["output"]?[0])
            let (status, compacted) = try await post(server, "/v1/responses/compact", [
                "model": "m", "previous_response_id": try #require(first?["id"]), "input": [user("and then")],
            ])
            #expect(status == 200)
            #expect(compacted?["object"] == "response.compaction")
            #expect(compacted?["id"] == "cmpresp_1")
            #expect(compacted?["created_at"]?.intValue != nil)
            let output = try #require(compacted?["output"]?.arrayValue)
            #expect(output == [
                ["type": "message", "role": "user", "content": "hello"], ["type": "message", "role": "user", "content": "and then"],
                ["type": "compaction", "id": "cmp_1", "encrypted_content": "scripted-compaction:1:3"],
            ])
            let tokens = ScriptedResponsesServer.estimatedTokens([user("hello"), reply, user("and then")])
            #expect(compacted?["usage"]?["input_tokens"]?.intValue == tokens)
            #expect(compacted?["usage"]?["output_tokens"] == 40)
            #expect(compacted?["usage"]?["total_tokens"]?.intValue == tokens + 40)
            #expect(server.compactRequests.count == 1)
            #expect(server.createRequests.count == 1, "a compact call is not a create")
            #expect(server.compactionsMade == 1)
            #expect(server.remainingTurns == 1, "compacting uses no turn")

            // The output replaces the history in the next create.
            let (nextStatus, next) = try await post(server, "/v1/responses", ["model": "m", "input": .array(output + [user("continue")])])
            #expect(nextStatus == 200)
            #expect(next?["output"]?[0]?["content"]?[0]?["text"] == "after")
        }
    }

    @Test func theCompactEndpointIsUnknownWithoutTheDialectFlag() async throws {
        try await ScriptedResponsesServer.withServer([.message("unused")]) { server in
            let (status, error) = try await post(server, "/v1/responses/compact", ["model": "m", "input": [user("hello")]])
            #expect(status == 404)
            #expect(error?["error"]?["message"]?.stringValue?.contains("no route POST /v1/responses/compact") == true)
            #expect(server.compactRequests.count == 1, "recorded all the same")
            #expect(server.createRequests.isEmpty)
            #expect(server.compactionsMade == 0)
        }
    }

    // MARK: WebSocket

    @Test func anOverflowOverAWebSocketArrivesAsAnErrorFrame() async throws {
        try await ScriptedResponsesServer.withServer([.message("still open")], dialect: dialect(window: 50)) { server in
            try await ResponsesClient.withClient(provider: server.provider) { client in
                let connection = try await client.openConnection()
                let long = String(repeating: "t", count: 400)
                let error = await #expect(throws: ResponsesError.self) {
                    try await connection.send(CreateResponseRequest(model: "m", input: .text(long)))
                }
                #expect(error?.kind == .httpStatus)
                #expect(error?.status == 400)
                #expect(error?.providerError?.code == "context_length_exceeded")
                #expect(server.createRequests.count == 1)
                #expect(server.createRequests.first?.webSocketConnection == 1)
                #expect(server.remainingTurns == 1)
                let response = try await connection.send(CreateResponseRequest(model: "m", input: .text("short")))
                #expect(response.outputText == "still open", "the connection stays usable")
                #expect(response.usage?.inputTokens == ScriptedResponsesServer.estimatedTokens([user("short")]))
                await connection.close()
            }
        }
    }
}
