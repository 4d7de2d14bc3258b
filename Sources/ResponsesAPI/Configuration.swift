import Foundation
import NIOHTTP1

/// When and how long to wait before trying a request again.
///
/// Retried: 408, 409, 429 and 5xx answers, and connection failures before the first byte of a body. The
/// `x-should-retry` header overrides the status rule either way. The wait is `retry-after-ms`, else `retry-after`
/// (seconds or an HTTP date), when the server gives one up to ``maxRetryAfter``; else exponential backoff from
/// ``initialDelay`` doubling up to ``maxDelay``, less a random share of up to ``jitter``.
public struct RetryPolicy: Sendable, Hashable {
    /// How many times to try again after the first attempt.
    public var maxRetries: Int
    /// The first backoff wait.
    public var initialDelay: Duration
    /// The ceiling of a backoff wait.
    public var maxDelay: Duration
    /// The share (0–1) by which a backoff wait is randomly shortened, so that clients do not retry in step.
    public var jitter: Double
    /// The longest server-requested wait honoured; longer ones fall back to backoff.
    public var maxRetryAfter: Duration

    /// Creates a policy; the defaults match the official SDKs (2 retries, 0.5 s doubling to 8 s, 25 % jitter).
    public init(
        maxRetries: Int = 2, initialDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(8), jitter: Double = 0.25,
        maxRetryAfter: Duration = .seconds(60)
    ) {
        self.maxRetries = maxRetries
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.jitter = jitter
        self.maxRetryAfter = maxRetryAfter
    }

    /// No retries.
    public static let none = RetryPolicy(maxRetries: 0)

    /// Whether an answer with this status and these headers should be retried.
    public func shouldRetry(status: Int, headers: HTTPHeaders) -> Bool {
        switch headers.first(name: "x-should-retry")?.lowercased() {
        case "true": return true
        case "false": return false
        default: return status == 408 || status == 409 || status == 429 || status >= 500
        }
    }

    /// The wait before retry number `attempt` (0 for the first retry).
    public func delay(attempt: Int, headers: HTTPHeaders? = nil, now: Date = Date()) -> Duration {
        if let headers, let requested = Self.requestedDelay(headers, now: now), requested >= .zero, requested <= maxRetryAfter {
            return requested
        }
        let exponent = min(attempt, 30)
        var seconds = min(initialDelay.seconds * pow(2, Double(exponent)), maxDelay.seconds)
        if jitter > 0 { seconds *= 1 - Double.random(in: 0...min(jitter, 1)) }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// The wait a server asked for with `retry-after-ms` or `retry-after` (seconds or an HTTP date).
    static func requestedDelay(_ headers: HTTPHeaders, now: Date) -> Duration? {
        // A server's number is checked before it becomes a duration: "1e30", "inf" or "-5" mean nothing usable.
        func milliseconds(_ value: Double) -> Duration? {
            guard value.isFinite, value >= 0, value < 1e12 else { return nil }
            return .milliseconds(Int64(value))
        }
        if let text = headers.first(name: "retry-after-ms"), let ms = Double(text.trimmingCharacters(in: .whitespaces)) {
            return milliseconds(ms)
        }
        guard let text = headers.first(name: "retry-after")?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let seconds = Double(text) { return milliseconds(seconds * 1000) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: text) else { return nil }
        return milliseconds(max(0, date.timeIntervalSince(now)) * 1000)
    }
}

/// How a response that is not done yet (`queued` or `in_progress`: background mode, or a provider that answers a create
/// before it has finished) is polled with `GET /responses/{id}`: the first wait is short, each next one is
/// ``multiplier`` times longer, up to ``maxInterval``.
public struct PollPolicy: Sendable, Hashable {
    /// The wait before the first poll.
    public var initialInterval: Duration
    /// How much longer each next wait is.
    public var multiplier: Double
    /// The longest wait between two polls.
    public var maxInterval: Duration

    /// Creates a policy; the defaults poll after 0.25 s, then 0.5 s, 1 s, 2 s, and every 4 s from then on.
    public init(initialInterval: Duration = .milliseconds(250), multiplier: Double = 2, maxInterval: Duration = .seconds(4)) {
        self.initialInterval = initialInterval
        self.multiplier = multiplier
        self.maxInterval = maxInterval
    }

    /// Polls at one fixed interval.
    public static func every(_ interval: Duration) -> PollPolicy {
        PollPolicy(initialInterval: interval, multiplier: 1, maxInterval: interval)
    }

    /// The wait before poll number `poll` (0 for the first).
    public func interval(beforePoll poll: Int) -> Duration {
        let first = max(0, initialInterval.seconds)
        let cap = max(first, maxInterval.seconds)
        let factor = multiplier.isFinite && multiplier >= 1 ? multiplier : 1
        let seconds = min(first * pow(factor, Double(min(poll, 64))), cap)
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}

/// How a client reaches the model.
public enum ResponsesTransportKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// One HTTP request per turn (`POST /responses`), streamed as server-sent events or answered whole.
    case http
    /// The Responses API's WebSocket mode: one connection per run, a `response.create` frame per turn, and only the
    /// new input after the first.
    case websocket
    /// The WebSocket mode when the server accepts the upgrade, HTTP otherwise (decided once per run).
    case auto
}

/// Settings of a ``ResponsesClient``.
public struct ResponsesClientConfiguration: Sendable, Hashable {
    /// Retries of failed requests.
    public var retry: RetryPolicy
    /// The time allowed to open a connection.
    public var connectTimeout: Duration
    /// The time allowed from sending a request to the first byte of the answer's head (non-streaming answers can take minutes).
    public var responseTimeout: Duration
    /// The longest silence allowed while reading an answer, between stream events included.
    public var idleTimeout: Duration
    /// Whether a stream that breaks after it started is resumed with `GET /responses/{id}?stream=true&starting_after=…`.
    public var resumeStreams: Bool
    /// How many times one stream may be resumed.
    public var maxStreamResumes: Int
    /// The cap on a non-streaming answer's size.
    public var maxResponseBytes: Int
    /// The `User-Agent` header.
    public var userAgent: String
    /// How a response that is not done yet is polled.
    public var polling: PollPolicy
    /// Whether a background response is cancelled on the server (`POST /responses/{id}/cancel`) when the task waiting
    /// for it (polling or streaming) is cancelled, so that nothing keeps running and billing after the caller gave up.
    public var cancelBackgroundOnCancellation: Bool
    /// How many connections to one host the client keeps at most (requests beyond wait for one).
    public var maxConnectionsPerHost: Int
    /// Caps on the requests and tokens per minute this client sends, shared by every task that uses the client.
    public var rateLimits: RateLimits
    /// How runs reach the model: HTTP requests, the WebSocket mode, or the WebSocket mode where the server accepts it.
    public var transport: ResponsesTransportKind
    /// How often an open WebSocket connection is pinged (`nil`: never).
    public var webSocketPingInterval: Duration?
    /// How long a ping may go unanswered before the connection counts as dead and is closed.
    public var webSocketPingTimeout: Duration
    /// How long a WebSocket connection is used for new runs and turns. Servers end connections at an age (OpenAI at
    /// 60 minutes); one older than this is closed and replaced before a turn rather than cut in the middle of one.
    public var webSocketMaxAge: Duration

    /// Creates settings.
    public init(
        retry: RetryPolicy = RetryPolicy(), connectTimeout: Duration = .seconds(10), responseTimeout: Duration = .seconds(600),
        idleTimeout: Duration = .seconds(120), resumeStreams: Bool = true, maxStreamResumes: Int = 3,
        maxResponseBytes: Int = 64 << 20, userAgent: String = "errand/0.1", polling: PollPolicy = PollPolicy(),
        cancelBackgroundOnCancellation: Bool = true, maxConnectionsPerHost: Int = 8, rateLimits: RateLimits = RateLimits(),
        transport: ResponsesTransportKind = .http, webSocketPingInterval: Duration? = .seconds(30),
        webSocketPingTimeout: Duration = .seconds(20), webSocketMaxAge: Duration = .seconds(55 * 60)
    ) {
        self.transport = transport
        self.webSocketPingInterval = webSocketPingInterval
        self.webSocketPingTimeout = webSocketPingTimeout
        self.webSocketMaxAge = webSocketMaxAge
        self.retry = retry
        self.connectTimeout = connectTimeout
        self.responseTimeout = responseTimeout
        self.idleTimeout = idleTimeout
        self.resumeStreams = resumeStreams
        self.maxStreamResumes = maxStreamResumes
        self.maxResponseBytes = maxResponseBytes
        self.userAgent = userAgent
        self.polling = polling
        self.cancelBackgroundOnCancellation = cancelBackgroundOnCancellation
        self.maxConnectionsPerHost = maxConnectionsPerHost
        self.rateLimits = rateLimits
    }
}

extension Duration {
    /// The duration in seconds.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
