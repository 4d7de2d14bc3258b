import ResponsesAPI

extension ResponsesClientConfiguration {
    /// A configuration for tests against a server on loopback: short retry delays, timeouts and polls, so that a
    /// retried or polled exchange takes milliseconds, and a failure seconds rather than minutes.
    public static func loopbackTests(maxRetries: Int = 2, idleTimeout: Duration = .seconds(10)) -> ResponsesClientConfiguration {
        ResponsesClientConfiguration(
            retry: RetryPolicy(maxRetries: maxRetries, initialDelay: .milliseconds(10), maxDelay: .milliseconds(40), jitter: 0.25, maxRetryAfter: .seconds(5)),
            connectTimeout: .seconds(2), responseTimeout: .seconds(10), idleTimeout: idleTimeout,
            polling: PollPolicy(initialInterval: .milliseconds(5), multiplier: 2, maxInterval: .milliseconds(40)))
    }
}
