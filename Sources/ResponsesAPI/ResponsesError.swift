import Foundation

/// The `error` object of a provider's error body: `{"error": {"message", "type", "param", "code"}}`.
public struct ProviderErrorBody: Codable, Sendable, Hashable {
    /// What went wrong, in the provider's words.
    public var message: String
    /// The error type, e.g. `invalid_request_error`, `insufficient_quota`.
    public var type: String?
    /// The request parameter at fault, e.g. `previous_response_id`.
    public var param: String?
    /// The error code, e.g. `previous_response_not_found`, `rate_limit_exceeded`.
    public var code: String?

    /// Creates an error body.
    public init(message: String, type: String? = nil, param: String? = nil, code: String? = nil) {
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    /// Reads the error from a whole response body: `{"error": {…}}`, `{"error": "text"}`, `{"message": …}`, or plain text.
    static func parse(_ body: [UInt8]) -> ProviderErrorBody? {
        guard !body.isEmpty else { return nil }
        guard let json = try? JSONValue(parsing: Data(body)) else {
            let text = String(decoding: body.prefix(2000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty ? nil : ProviderErrorBody(message: text)
        }
        let object = json["error"]?.objectValue != nil ? json["error"]! : json
        if let text = json["error"]?.stringValue { return ProviderErrorBody(message: text, code: json["code"]?.stringValue) }
        func string(_ key: String) -> String? {
            if let text = object[key]?.stringValue { return text }
            if let number = object[key]?.intValue { return String(number) }
            return nil
        }
        guard let message = string("message") ?? string("detail") ?? string("msg") else {
            return ProviderErrorBody(message: json.jsonString)
        }
        return ProviderErrorBody(message: message, type: string("type"), param: string("param"), code: string("code"))
    }
}

/// Every failure of the Responses API client: an HTTP error status with the provider's error body, a connection or
/// timeout failure, an undecodable answer, a stream that broke or reported an error. Never carries the API key.
public struct ResponsesError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is. New kinds may be added without breaking callers.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case httpStatus = "HTTP error", connection = "connection failed", timeout = "timed out"
            case decoding = "undecodable answer", streamInterrupted = "stream interrupted", streamError = "stream error"
            case missingAPIKey = "missing API key", invalidRequest = "invalid request", responseFailed = "response failed"
            case connectionClosed = "connection closed"
        }
        private let base: Base

        /// The provider answered with an error status (see `status` and `providerError`).
        public static let httpStatus = Kind(base: .httpStatus)
        /// The connection could not be made or broke before an answer arrived.
        public static let connection = Kind(base: .connection)
        /// A connect, response or idle timeout passed.
        public static let timeout = Kind(base: .timeout)
        /// The answer was not the JSON expected.
        public static let decoding = Kind(base: .decoding)
        /// A stream broke after it started and could not be resumed.
        public static let streamInterrupted = Kind(base: .streamInterrupted)
        /// The stream reported an `error` event and ended without a terminal event.
        public static let streamError = Kind(base: .streamError)
        /// No API key was configured for a provider that needs one.
        public static let missingAPIKey = Kind(base: .missingAPIKey)
        /// The request could not be built (bad base URL, unencodable body).
        public static let invalidRequest = Kind(base: .invalidRequest)
        /// A background response ended `failed`.
        public static let responseFailed = Kind(base: .responseFailed)
        /// A WebSocket connection closed, broke or reached its time limit before the response's terminal event: the
        /// turn can go again on a new connection.
        public static let connectionClosed = Kind(base: .connectionClosed)

        /// The kind in words.
        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var kind: Kind
    /// A one-line summary for people.
    public var message: String
    /// The HTTP status, for ``Kind/httpStatus``.
    public var status: Int?
    /// The provider's error body (from an error status, an `error` stream event or a failed response).
    public var providerError: ProviderErrorBody?
    /// The `x-request-id` header of the failing answer, to quote to the provider's support.
    public var requestID: String?
    /// The provider's name, e.g. `openai`.
    public var provider: String?
    /// The lower-level error, when there is one.
    public var underlying: (any Error)?
    /// The HTTP method of the request that failed (`POST` for a create, `GET` for a retrieve), when known.
    public var method: String?
    /// What a stream had delivered before it failed, so that nothing done is lost.
    public var partialResponse: Response?

    /// Creates an error.
    public init(
        kind: Kind, message: String, status: Int? = nil, providerError: ProviderErrorBody? = nil, requestID: String? = nil,
        provider: String? = nil, underlying: (any Error)? = nil, partialResponse: Response? = nil, method: String? = nil
    ) {
        self.method = method
        self.kind = kind
        self.message = message
        self.status = status
        self.providerError = providerError
        self.requestID = requestID
        self.provider = provider
        self.underlying = underlying
        self.partialResponse = partialResponse
    }

    /// Whether the provider refused a `previous_response_id`: the `previous_response_not_found` code, a 404 for it, or
    /// any 400 that names `previous_response_id` in its `param`, `code` or message (as servers that keep no state answer).
    public var isPreviousResponseNotFound: Bool {
        guard kind == .httpStatus, let status else { return false }
        let body = providerError
        if body?.code == "previous_response_not_found" { return true }
        let names = [body?.param, body?.code, body?.message].contains { $0?.contains("previous_response") == true }
        return (status == 400 || status == 404) && names
    }

    /// Whether a WebSocket upgrade was refused in a way that says the server has no WebSocket mode (404, 405, 426, a
    /// plain answer instead of 101), rather than refusing the client (401, 403) or failing (5xx).
    public var isWebSocketUnavailable: Bool {
        guard kind == .httpStatus, method == "WEBSOCKET", let status else { return false }
        return status == 404 || status == 405 || status == 426 || status == 400 || (200..<300).contains(status)
    }

    /// Whether the provider answered 404 (an unknown response id, or a wrong base URL).
    public var isNotFound: Bool { kind == .httpStatus && status == 404 }

    /// Whether the provider reported a rate limit or exhausted quota (429).
    public var isRateLimited: Bool { kind == .httpStatus && status == 429 }

    /// The longest stretch of the provider's own words in ``description``.
    public static let providerTextLimit = 300

    /// The error in one line: what happened, the provider's words (squashed onto the line and shortened), and what to
    /// do next where that is known.
    public var description: String {
        var text = "\(provider.map { "\($0): " } ?? "")\(message)"
        if let body = providerError {
            var details = [body.type, body.param.map { "param: \($0)" }, body.code.map { "code: \($0)" }].compactMap { $0 }
                .map { OneLine.squash($0, limit: 80) }
            details = details.filter { !text.contains($0) }
            let said = OneLine.squash(body.message, limit: Self.providerTextLimit)
            if !text.contains(said) { text += ": \(said)" }
            if !details.isEmpty { text += " [\(details.joined(separator: ", "))]" }
        }
        if let requestID { text += " (request \(requestID))" }
        if let hint { text += ". \(hint)" }
        return text
    }

    private var hint: String? {
        switch (kind, status) {
        case (.httpStatus, _) where isWebSocketUnavailable: "This server has no WebSocket mode; use --transport http (or auto)"
        case (.httpStatus, 401?) where method == "WEBSOCKET": "Check the API key (the handshake carries it as Authorization)"
        case (.connectionClosed, _):
            "Send the turn again on a new connection (runs do this by themselves, up to 3 times a turn; after that, check the network and the server, then resume the run)"
        case (.httpStatus, 401?): "Check the API key"
        case (.httpStatus, 403?): "The API key lacks access to this model or endpoint"
        case (.httpStatus, 404?) where !isPreviousResponseNotFound && method == "POST": "Check the base URL and the model id"
        case (.httpStatus, 429?): "Rate limited or out of quota: wait, or check the account's plan and billing"
        case (.httpStatus, let status?) where status >= 500: "The provider had a server error; try again later"
        case (.connection, _): "Check the network and the base URL"
        case (.decoding, _): "Check that the base URL is the API's (for example https://api.openai.com/v1), not a web page or a proxy in front of it"
        default: nil
        }
    }

    /// Replaces every occurrence of `secret` in the texts this error shows.
    package mutating func redact(_ secret: String?) {
        guard let secret, secret.count >= 4 else { return }
        message = message.replacingOccurrences(of: secret, with: "[redacted]")
        if var body = providerError {
            body.message = body.message.replacingOccurrences(of: secret, with: "[redacted]")
            body.param = body.param?.replacingOccurrences(of: secret, with: "[redacted]")
            providerError = body
        }
    }
}
