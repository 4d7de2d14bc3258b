// Transport-only comparison of two WebSocket clients against ../shared/bench/mock_responses_ws.py: TURNS chained
// response.create frames (store:false, one function_call_output each) on one connection, reading frames until
// response.completed; no JSON decoding beyond finding the response id.
//
//     python3 ../shared/bench/mock_responses_ws.py 18195 200 &
//     swift run -c release --package-path Benchmarks/WebSocketClients ws-clients 18195 200 kit   # vapor/websocket-kit
//     … ws-clients 18195 200 hb    # hummingbird-project/swift-websocket, reading in the connection's closure
//     … ws-clients 18195 200 hb2   # the same, through the reader-task hand-off that kit needs (and Errand uses)
//     python3 ../shared/bench/ws_floor.py 18195 1 200                                              # the floor
//
// Prints `CLIENT ms_per_run=X` for one run of TURNS + 1 turns.
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import WSClient
import WebSocketKit

let args = CommandLine.arguments
let port = Int(args[1])!, turns = Int(args[2])!, which = args[3]
let url = "ws://127.0.0.1:\(port)/v1/responses"

func frame(previous: String?, callID: String?) -> String {
    var body: [String: Any] = ["type": "response.create", "model": "mock", "store": false, "tools": [["type": "function", "name": "read_file", "parameters": ["type": "object", "properties": [:]]]]]
    if let previous, let callID {
        body["previous_response_id"] = previous
        body["input"] = [["type": "function_call_output", "call_id": callID, "output": "note"]]
    } else {
        body["input"] = "go"
    }
    return String(data: try! JSONSerialization.data(withJSONObject: body), encoding: .utf8)!
}

func completed(_ text: String) -> (id: String, call: String?)? {
    guard text.contains("\"response.completed\"") else { return nil }
    let json = try! JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
    let response = json["response"] as! [String: Any]
    let output = response["output"] as! [[String: Any]]
    return (response["id"] as! String, output.first?["call_id"] as? String)
}

final class Queue: Sendable {
    let state = Mutex<(frames: [String], waiter: CheckedContinuation<String, Never>?)>(([], nil))
    func push(_ text: String) {
        let w = state.withLock { s -> CheckedContinuation<String, Never>? in
            if let w = s.waiter { s.waiter = nil; return w }
            s.frames.append(text); return nil
        }
        w?.resume(returning: text)
    }
    func next() async -> String {
        await withCheckedContinuation { c in
            let ready = state.withLock { s -> String? in
                if !s.frames.isEmpty { return s.frames.removeFirst() }
                s.waiter = c; return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }
}

let start = ContinuousClock.now
switch which {
case "kit":
    let queue = Queue()
    let box = Mutex<WebSocket?>(nil)
    let ready = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: Void.self)
    try await WebSocket.connect(to: url, configuration: .init(maxFrameSize: 1 << 24), on: MultiThreadedEventLoopGroup.singleton) { ws in
        ws.onText { _, text in queue.push(text) }
        box.withLock { $0 = ws }
        ready.succeed(())
    }.get()
    try await ready.futureResult.get()
    let ws = box.withLock { $0 }!
    var previous: String?, call: String?
    for _ in 0...turns {
        try await ws.send(frame(previous: previous, callID: call))
        while true {
            if let done = completed(await queue.next()) { previous = done.id; call = done.call; break }
        }
    }
    try await ws.close()
case "hb":
    _ = try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: 1 << 24), logger: Logger(label: "b")) { inbound, outbound, _ in
        var iterator = inbound.messages(maxSize: 1 << 24).makeAsyncIterator()
        var previous: String?, call: String?
        for _ in 0...turns {
            try await outbound.write(.text(frame(previous: previous, callID: call)))
            while let message = try await iterator.next() {
                guard case .text(let text) = message else { continue }
                if let done = completed(text) { previous = done.id; call = done.call; break }
            }
        }
    }
case "hb2":
    // The same hand-off as the kit case: a reader task pushes frames into the queue the turn loop waits on.
    let queue = Queue()
    _ = try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: 1 << 24), logger: Logger(label: "b")) { inbound, outbound, _ in
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await message in inbound.messages(maxSize: 1 << 24) {
                    if case .text(let text) = message { queue.push(text) }
                }
            }
            var previous: String?, call: String?
            for _ in 0...turns {
                try await outbound.write(.text(frame(previous: previous, callID: call)))
                while true {
                    if let done = completed(await queue.next()) { previous = done.id; call = done.call; break }
                }
            }
            group.cancelAll()
        }
    }
default:
    fatalError("kit or hb")
}
let elapsed = ContinuousClock.now - start
print("\(which) ms_per_run=\(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)")
