import Foundation
import ResponsesAPI
import Synchronization

/// How one run reaches the model: over HTTP, or over one WebSocket connection opened at its first turn and kept for
/// the next ones, replaced when it closes.
///
/// The link only holds the connection and remembers why it was lost; what to send on a new one (chain or replay) is
/// decided from the run's state in ``RunLoop``, and every change is journaled there as a `connection` event.
final class ModelLink: Sendable {
    private struct State {
        /// The transport settled for the run (`nil` until the first turn decides it).
        var transport: ResponsesTransportKind?
        var connection: ResponsesConnection?
        /// Why the next connection is opened (what ended the last one).
        var reason: String?
        /// Reconnects for the turn in `reconnectTurn`.
        var reconnects = 0
        var reconnectTurn = 0
    }

    /// How many times one turn may go again on a new connection.
    static let maxReconnectsPerTurn = 3

    private let state = Mutex(State())

    /// What the turn goes over.
    enum Route {
        /// HTTP; `settled` carries the `connection` event to journal when the run just settled on HTTP.
        case http(settled: JournalEvent.Connection?)
        /// A WebSocket connection; `opened` carries the `connection` event to journal (its `next` is filled in by the
        /// caller) when it is new to the run.
        case webSocket(ResponsesConnection, opened: JournalEvent.Connection?)
    }

    /// The route for `turn`: the run's connection, a new one (an idle one of the client's, or opened now) when it has
    /// none, or HTTP. With `auto`, a server that refuses the upgrade settles the run on HTTP (and the client remembers
    /// it, so that a batch's next runs do not ask again).
    func route(_ client: ResponsesClient, turn: Int, background: Bool) async throws -> Route {
        let (transport, current, reason) = state.withLock { ($0.transport, $0.connection, $0.reason) }
        let wanted = transport ?? client.configuration.transport
        if wanted == .http { return .http(settled: nil) }
        if background {
            // Background responses are HTTP's: the WebSocket mode has no `background`.
            return .http(settled: nil)
        }
        if let current {
            if current.isOpen, current.age < client.configuration.webSocketMaxAge { return .webSocket(current, opened: nil) }
            let why = current.isOpen ? "the connection reached \(client.configuration.webSocketMaxAge) (webSocketMaxAge)" : "the connection had closed"
            await current.close()
            state.withLock {
                $0.connection = nil
                $0.reason = $0.reason ?? why
            }
            return try await route(client, turn: turn, background: background)
        }
        if wanted == .auto, let refusal = client.webSocketRefusal {
            state.withLock { $0.transport = .http }
            return .http(settled: JournalEvent.Connection(
                turn: turn, transport: .http, url: nil, number: nil, reason: "the server has no WebSocket mode (\(refusal)); using HTTP", next: nil))
        }
        let connection: ResponsesConnection
        let reused: Bool
        do {
            (connection, reused) = try await client.openConnectionNoting()
        } catch let error as ResponsesError where wanted == .auto && error.isWebSocketUnavailable {
            client.noteWebSocketRefusal(error.message)
            state.withLock { $0.transport = .http }
            return .http(settled: JournalEvent.Connection(
                turn: turn, transport: .http, url: nil, number: nil, reason: "\(error.message): the server has no WebSocket mode; using HTTP", next: nil))
        }
        state.withLock {
            $0.transport = .websocket
            $0.connection = connection
            $0.reason = nil
        }
        let why = reason ?? (reused ? "reused from an earlier run" : "the run's first connection")
        return .webSocket(connection, opened: JournalEvent.Connection(
            turn: turn, transport: .websocket, url: connection.url, number: connection.number, reason: why, next: nil))
    }

    /// The connection was lost during `turn` (`reason` says how): it is dropped, and the next route opens a new one.
    /// Returns false when the turn has been sent again too often already.
    func lost(_ connection: ResponsesConnection, turn: Int, reason: String) async -> Bool {
        let again = state.withLock { state -> Bool in
            if state.connection === connection { state.connection = nil }
            state.reason = reason
            if state.reconnectTurn != turn {
                state.reconnectTurn = turn
                state.reconnects = 0
            }
            state.reconnects += 1
            return state.reconnects <= Self.maxReconnectsPerTurn
        }
        connection.abort()
        return again
    }

    /// The run ended: its connection goes back to the client for the next run when the run ended cleanly (nothing in
    /// flight on it), and is closed otherwise.
    func finish(_ client: ResponsesClient, reusable: Bool) async {
        let connection = state.withLock { state -> ResponsesConnection? in
            defer { state.connection = nil }
            return state.connection
        }
        guard let connection else { return }
        if reusable { await client.release(connection) } else { await connection.close() }
    }
}
