import NIOCore
import NIOWebSocket
import ResponsesAPI
import Synchronization

/// One open WebSocket of a test server: its number, its writer, and the ways to end it.
///
/// Frames go out through the channel's writer, so a close frame or a cut always comes after the frames written before
/// it. Once the session is ending, the server stops answering and only reads until the peer hangs up. A cut is a FIN
/// after the written frames (the client sees the connection end with no close frame); a close is the handshake of
/// RFC 6455 (close frame, the client's close frame, FIN).
final class WebSocketSession: Sendable {
    /// 1 for the first WebSocket the server accepted, 2 for the next…
    let number: Int
    /// The connection's channel.
    let channel: any Channel
    private let outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>
    private let phase = Mutex(Phase())

    private struct Phase {
        var ending = false
        var finished = false
    }

    init(number: Int, channel: any Channel, outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>) {
        self.number = number
        self.channel = channel
        self.outbound = outbound
    }

    /// Whether a close or a cut has begun: nothing more is answered.
    var isEnding: Bool { phase.withLock { $0.ending } }

    /// Sends a frame.
    func send(_ frame: WebSocketFrame) async throws {
        try await outbound.write(frame)
    }

    /// Sends one text frame.
    func send(text: String) async throws {
        try await send(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text)))
    }

    /// Sends a JSON value as one compact text frame.
    func send(json: JSONValue) async throws {
        try await send(text: json.jsonString)
    }

    /// Starts the closing handshake: `before` (e.g. an error frame), then a close frame with `code`. The reader calls
    /// ``closeAnswered()`` when the client's close frame comes; the connection is closed after `grace` in any case.
    func close(code: UInt16, before: [JSONValue] = [], grace: TimeAmount = .seconds(2)) async {
        guard begin() else { return }
        for json in before { try? await send(json: json) }
        try? await send(Self.closeFrame(code))
        close(after: grace)
    }

    /// Answers the client's close frame (with its code, or none) and ends the output: the client hangs up next.
    func answerClose(code: UInt16?) async {
        guard begin() else { return }
        try? await send(Self.closeFrame(code))
        finish()
        close(after: .seconds(2))
    }

    /// The client answered our close frame: end the output, so that it hangs up.
    func closeAnswered() {
        finish()
    }

    /// Cuts the TCP connection without a close frame, after the frames already written: a FIN, then a close when the
    /// peer hangs up (or after a second).
    func drop() {
        guard begin() else { return }
        finish()
        close(after: .seconds(1))
    }

    /// Closes the TCP connection at once, dropping anything not yet sent.
    func abort() async {
        _ = begin()
        try? await channel.close()
    }

    /// Marks the session ending; true the first time only.
    private func begin() -> Bool {
        phase.withLock { phase in
            defer { phase.ending = true }
            return !phase.ending
        }
    }

    /// Half-closes after the frames already written (once).
    private func finish() {
        let first = phase.withLock { phase in
            defer { phase.finished = true }
            return !phase.finished
        }
        if first { outbound.finish() }
    }

    private static func closeFrame(_ code: UInt16?) -> WebSocketFrame {
        var data = ByteBuffer()
        if let code { data.writeInteger(code) }
        return WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
    }

    private func close(after grace: TimeAmount) {
        let channel = self.channel
        let scheduled = channel.eventLoop.scheduleTask(in: grace) { channel.close(promise: nil) }
        channel.closeFuture.whenComplete { _ in scheduled.cancel() }
    }
}
