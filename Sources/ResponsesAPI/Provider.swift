import Foundation

/// An API key. Its description is redacted so that it never reaches a log line, an error or a journal by accident.
public struct APIKey: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, ExpressibleByStringLiteral {
    /// The secret itself; read it only to build the `Authorization` header.
    public let value: String

    /// Wraps a key.
    public init(_ value: String) { self.value = value }
    /// Wraps a key written as a literal (tests).
    public init(stringLiteral value: String) { self.value = value }

    /// Always `[redacted]`.
    public var description: String { "[redacted]" }
    /// Always `APIKey([redacted])`.
    public var debugDescription: String { "APIKey([redacted])" }
}

/// Where requests go and how that server wants them: base URL, key, extra headers, and its known drift from the spec.
public struct Provider: Sendable, Hashable {
    /// A short name for messages and logs, e.g. `openai`, `mume`.
    public var name: String
    /// The base URL, e.g. `https://api.openai.com/v1`; requests go to `{baseURL}/responses`.
    public var baseURL: String
    /// The API key, sent as `Authorization: Bearer …`; `nil` sends no `Authorization` header (local servers).
    public var apiKey: APIKey?
    /// The environment variable the key comes from, named in errors when it is missing.
    public var apiKeyEnvironmentVariable: String?
    /// Whether a request without a key should fail before it is sent.
    public var requiresAPIKey: Bool
    /// Extra headers sent with every request (e.g. `OpenAI-Organization`, a routing header).
    public var headers: [String: String]
    /// The name under which the output-token cap is sent.
    public var maxTokensField: CreateResponseRequest.MaxTokensField
    /// Whether a structured output's schema is also sent as Chat Completions' `response_format`: llama.cpp's server
    /// reads only that from a `/responses` body (and turns it into a grammar), ignoring `text.format`. `errand probe`
    /// tells (`output_schema`). Off for servers that follow the spec, which refuse unknown fields.
    public var sendsResponseFormat = false
    /// Where the WebSocket mode listens, when it is not the base URL's `/responses` with `ws`/`wss` (see
    /// ``responsesWebSocketURL``).
    public var webSocketURL: String?

    /// Creates a provider.
    public init(
        name: String, baseURL: String, apiKey: APIKey? = nil, apiKeyEnvironmentVariable: String? = nil, requiresAPIKey: Bool = false,
        headers: [String: String] = [:], maxTokensField: CreateResponseRequest.MaxTokensField = .maxOutputTokens, webSocketURL: String? = nil
    ) {
        self.webSocketURL = webSocketURL
        self.name = name
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.apiKeyEnvironmentVariable = apiKeyEnvironmentVariable
        self.requiresAPIKey = requiresAPIKey
        self.headers = headers
        self.maxTokensField = maxTokensField
    }

    /// Whether the provider compacts conversations itself (`context_management` compaction, `POST /responses/compact`):
    /// OpenAI and Azure OpenAI, known by their hosts. A gateway that passes it through is told so by the spec
    /// (`"context": {"compaction": "server"}`).
    public var offersServerCompaction: Bool {
        guard let host = URL(string: baseURL)?.host?.lowercased() else { return false }
        return host == "api.openai.com" || host.hasSuffix(".openai.azure.com") || host.hasSuffix(".services.ai.azure.com")
    }

    /// The names of the built-in presets.
    public static let presetNames = ["openai", "mume", "umodelverse"]

    /// OpenAI: `OPENAI_BASE_URL` (default `https://api.openai.com/v1`) and `OPENAI_API_KEY`, as the official SDKs read them;
    /// `OPENAI_ORG_ID` and `OPENAI_PROJECT_ID` become the organization and project headers.
    public static func openai(environment: [String: String] = ProcessInfo.processInfo.environment) -> Provider {
        var headers: [String: String] = [:]
        if let org = nonEmpty(environment["OPENAI_ORG_ID"]) { headers["OpenAI-Organization"] = org }
        if let project = nonEmpty(environment["OPENAI_PROJECT_ID"]) { headers["OpenAI-Project"] = project }
        return Provider(
            name: "openai", baseURL: nonEmpty(environment["OPENAI_BASE_URL"]) ?? "https://api.openai.com/v1",
            apiKey: nonEmpty(environment["OPENAI_API_KEY"]).map { APIKey($0) }, apiKeyEnvironmentVariable: "OPENAI_API_KEY",
            requiresAPIKey: true, headers: headers)
    }

    /// Mume AI: `https://mume.ai/api/v1`, key from `MUME_API_KEY`; model ids are vendor-prefixed (`openai/gpt-4.1-mini`).
    public static func mume(environment: [String: String] = ProcessInfo.processInfo.environment) -> Provider {
        Provider(
            name: "mume", baseURL: "https://mume.ai/api/v1", apiKey: nonEmpty(environment["MUME_API_KEY"]).map { APIKey($0) },
            apiKeyEnvironmentVariable: "MUME_API_KEY", requiresAPIKey: true)
    }

    /// UModelverse: `https://api.umodelverse.ai/v1`, key from `UMODELVERSE_API_KEY`; its docs name the token cap `max_tokens`.
    public static func umodelverse(environment: [String: String] = ProcessInfo.processInfo.environment) -> Provider {
        Provider(
            name: "umodelverse", baseURL: "https://api.umodelverse.ai/v1",
            apiKey: nonEmpty(environment["UMODELVERSE_API_KEY"]).map { APIKey($0) }, apiKeyEnvironmentVariable: "UMODELVERSE_API_KEY",
            requiresAPIKey: true, maxTokensField: .maxTokens)
    }

    /// Any compatible server at `baseURL`; the key defaults to `OPENAI_API_KEY` as the SDKs do, and may be absent.
    public static func custom(
        baseURL: String, apiKey: APIKey? = nil, name: String = "custom", environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Provider {
        Provider(
            name: name, baseURL: baseURL, apiKey: apiKey ?? nonEmpty(environment["OPENAI_API_KEY"]).map { APIKey($0) },
            apiKeyEnvironmentVariable: "OPENAI_API_KEY")
    }

    /// The preset of that name, or `nil` when there is none.
    public static func preset(named name: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> Provider? {
        switch name.lowercased() {
        case "openai": .openai(environment: environment)
        case "mume": .mume(environment: environment)
        case "umodelverse": .umodelverse(environment: environment)
        default: nil
        }
    }

    /// The provider a command names, the one rule for `errand run`, `respond` and `probe`: the `preset` given (a flag
    /// or a spec), else `ERRAND_PROVIDER` when no base URL is given either, else `openai`. A `baseURL` with a preset
    /// moves that preset; without one it is a compatible server of its own (its key from `OPENAI_API_KEY`).
    public static func resolve(
        preset: String?, baseURL: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ResponsesError) -> Provider {
        let fromEnvironment = baseURL == nil ? nonEmpty(environment["ERRAND_PROVIDER"]) : nil
        guard let name = preset ?? fromEnvironment ?? (baseURL == nil ? "openai" : nil) else {
            return .custom(baseURL: baseURL ?? "", environment: environment)
        }
        guard var provider = Provider.preset(named: name, environment: environment) else {
            let source = preset == nil ? "ERRAND_PROVIDER names" : "the provider is"
            throw ResponsesError(
                kind: .invalidRequest, message: "\(source) '\(name)', which is not a preset: use one of \(presetNames.joined(separator: ", ")), or a base URL")
        }
        if let baseURL { provider.baseURL = baseURL }
        return provider
    }

    /// The model to use when none is named: `ERRAND_MODEL`, else the provider's usual one.
    public func defaultModel(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let model = Self.nonEmpty(environment["ERRAND_MODEL"]) { return model }
        switch name {
        case "mume": return "openai/gpt-4.1-mini"
        case "umodelverse": return "gpt-4o"
        default: return "gpt-4.1-mini"
        }
    }

    /// How many runs of a batch talk to this provider at once unless told otherwise: 8 for OpenAI, whose rate limits
    /// are per organisation and generous; 4 for the other presets and for custom servers (a local model serves a few
    /// requests at once at best, and compatible providers tend to throttle early).
    public var suggestedConcurrency: Int {
        name == "openai" && baseURL.hasPrefix("https://api.openai.com") ? 8 : 4
    }

    /// The URL of the Responses API's WebSocket mode: ``webSocketURL`` when set, else the base URL's `/responses` with
    /// `http` made `ws` and `https` made `wss` (`https://api.openai.com/v1` → `wss://api.openai.com/v1/responses`).
    public var responsesWebSocketURL: String {
        if let webSocketURL = Self.nonEmpty(webSocketURL) { return webSocketURL }
        let http = url("/responses")
        if http.lowercased().hasPrefix("https://") { return "wss://" + http.dropFirst("https://".count) }
        if http.lowercased().hasPrefix("http://") { return "ws://" + http.dropFirst("http://".count) }
        return http
    }

    /// The URL of an endpoint below the base URL.
    func url(_ path: String, query: [(String, String)] = []) -> String {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        var url = base + path
        if !query.isEmpty {
            url += "?" + query.map { "\(Self.escape($0.0))=\(Self.escape($0.1))" }.joined(separator: "&")
        }
        return url
    }

    private static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+?"))) ?? text
    }

    private static func nonEmpty(_ value: String?) -> String? {
        guard let value = value?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }
}

extension Provider: CustomStringConvertible {
    /// The name and base URL; never the key.
    public var description: String { "\(name) (\(baseURL))" }
}
