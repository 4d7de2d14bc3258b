import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// A conversation to compact with `POST /responses/compact`: input items, or a stored response to start from, or both.
public struct CompactRequest: Encodable, Sendable, Hashable {
    /// The model whose context the result is for.
    public var model: String
    /// The conversation (or what follows `previousResponseID`).
    public var input: [InputItem]?
    /// A stored response whose conversation is compacted.
    public var previousResponseID: String?
    /// The instructions the conversation runs under.
    public var instructions: String?

    /// Creates a request.
    public init(model: String, input: [InputItem]? = nil, previousResponseID: String? = nil, instructions: String? = nil) {
        self.model = model
        self.input = input
        self.previousResponseID = previousResponseID
        self.instructions = instructions
    }

    enum CodingKeys: String, CodingKey { case model, input, previousResponseID = "previous_response_id", instructions }
}

/// The answer of `POST /responses/compact` (`object: response.compaction`): the items that replace the conversation,
/// among them an opaque `compaction` item that only this provider can read.
public struct CompactedConversation: Decodable, Sendable, Hashable {
    /// The compaction's id.
    public var id: String
    /// The items to send in place of the conversation, in order.
    public var output: [OutputItem]
    /// What the compaction cost, when reported.
    public var usage: Usage?

    /// Creates a compacted conversation.
    public init(id: String, output: [OutputItem], usage: Usage?) {
        self.id = id
        self.output = output
        self.usage = usage
    }

    enum CodingKeys: String, CodingKey { case id, output, usage }

    /// Reads the answer, tolerating a missing id or usage.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decodeIfPresent(String.self, forKey: .id) ?? ""
        output = try container.decode([OutputItem].self, forKey: .output)
        usage = try? container.decodeIfPresent(Usage.self, forKey: .usage)
    }
}

extension ResponsesClient {
    /// Compacts a conversation on the server (`POST /responses/compact`). A server without the endpoint answers 404 or
    /// 405 (see ``ResponsesError/isEndpointMissing``).
    public func compact(_ request: CompactRequest) async throws -> CompactedConversation {
        let body: ByteBuffer
        do {
            body = ByteBuffer(data: try JSONEncoder().encode(request))
        } catch {
            throw ResponsesError(kind: .invalidRequest, message: "the compaction request could not be encoded", provider: provider.name, underlying: error)
        }
        let answer = try await send(.POST, "/responses/compact", body: body)
        return try await decodeBody(answer, as: CompactedConversation.self)
    }
}

extension OutputItem {
    /// Whether this is a `compaction` item: the provider's opaque stand-in for the conversation before it.
    public var isCompaction: Bool { type == "compaction" }
}

extension ResponsesError {
    /// Whether the provider refused the request because its input does not fit the model's context window: OpenAI's
    /// `context_length_exceeded`, llama.cpp's `exceed_context_size_error` ("exceeds the available context size"), and
    /// the wordings of vLLM, LiteLLM and others ("maximum context length", "context window").
    public var isContextOverflow: Bool {
        // A 429 speaks of tokens too (a rate per minute), never of the window.
        guard kind == .httpStatus || kind == .streamError || kind == .connectionClosed, status != 429, let body = providerError else { return false }
        if body.code == "context_length_exceeded" || body.type == "exceed_context_size_error" { return true }
        if body.code?.contains("context_length") == true || body.type?.contains("ContextWindowExceeded") == true { return true }
        let message = body.message.lowercased()
        return ["exceeds the available context size", "maximum context length", "context_length_exceeded", "context window", "contextwindowexceeded",
                "too many tokens", "prompt is too long"].contains { message.contains($0) }
            && !message.contains("rate limit")
    }

    /// The context window the provider named in its refusal, when it did (llama.cpp: "exceeds the available context
    /// size (8192 tokens)"; vLLM: "maximum context length is 4096 tokens").
    public var reportedContextWindow: Int? {
        guard let message = providerError?.message else { return nil }
        for pattern in [#"available context size \((\d+) tokens\)"#, #"maximum context length is (\d+)"#, #"context window of (\d+)"#] {
            if let match = message.range(of: pattern, options: .regularExpression) {
                let digits = message[match].split { !$0.isNumber }.last
                if let digits, let window = Int(digits) { return window }
            }
        }
        return nil
    }

    /// Whether the server has no such endpoint (404 or 405 to a POST that is not a create).
    public var isEndpointMissing: Bool {
        kind == .httpStatus && (status == 404 || status == 405 || status == 501) && !isPreviousResponseNotFound
    }
}
