import ErrandTesting
import ResponsesAPI

/// A client configuration with short retries, waits and polls, for probing the scripted server.
func fastConfiguration(maxRetries: Int = 2) -> ResponsesClientConfiguration { .loopbackTests(maxRetries: maxRetries) }

/// A loopback port where nothing listens (its socket is bound and never listens), and the socket to close after.
func reserveRefusingPort() throws -> (port: Int, descriptor: Int32) { try FaultyListener.reserveRefusingPort() }
