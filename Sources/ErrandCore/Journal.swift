import Foundation
import ResponsesAPI
import Synchronization

/// One line of a journal. Fields not used by a line's `type` are absent.
struct JournalEntry: Codable, Sendable {
    var type: String
    var runID: String
    var time: Double = Date().timeIntervalSince1970
    var turn: Int?
    var agent: String?
    var model: String?
    var mode: String?
    var instructions: String?
    var tools: [ResponseTool]?
    var input: [InputItem]?
    var previousResponseID: String?
    var request: CreateResponseRequest?
    var response: Response?
    var callID: String?
    var name: String?
    var arguments: String?
    var output: String?
    var isError: Bool?
    var durationSeconds: Double?
    var notes: [String]?
    var message: String?
    var status: String?
    var httpStatus: Int?
    var finalText: String?
    var usage: Usage?
    var lastResponseID: String?
    var toolCallCount: Int?
    var responseID: String?

    init(type: String, runID: String) {
        self.type = type
        self.runID = runID
    }

    enum CodingKeys: String, CodingKey {
        case type, runID = "run_id", time, turn, agent, model, mode, instructions, tools, input, previousResponseID = "previous_response_id", request, response
        case callID = "call_id", name, arguments, output, isError = "is_error", durationSeconds = "duration_seconds", notes, message, status
        case httpStatus = "http_status", finalText = "final_text", usage, lastResponseID = "last_response_id", toolCallCount = "tool_call_count"
        case responseID = "response_id"
    }
}

/// An append-only JSON-lines record of a run: the run's start (with the instructions and tools, written once), each
/// request (what changes per turn; never headers or the key),
/// each response, each tool call and its result, each error, and the result. Each line is written before the next step
/// starts, so a crash or a kill loses at most the step in flight, and ``Runner/resume(_:journal:onEvent:)`` can go on.
public final class Journal: Sendable {
    /// The file.
    public let url: URL
    private let handle: Mutex<FileHandle?>
    private let encoder: JSONEncoder

    /// Opens (or creates) the journal at `url` for appending, creating its folder.
    public init(url: URL) throws {
        let manager = FileManager.default
        try manager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !manager.fileExists(atPath: url.path) {
            guard manager.createFile(atPath: url.path, contents: nil) else {
                throw ToolError("cannot create the journal at \(url.path)")
            }
        }
        let handle = try FileHandle(forUpdating: url)
        // A last line without its newline is a step cut short by a crash: drop it, so appended lines stay whole.
        let end = try handle.seekToEnd()
        if end > 0 {
            let tail = min(end, 1 << 20)
            try handle.seek(toOffset: end - tail)
            let data = try handle.readToEnd() ?? Data()
            if data.last != 0x0A {
                let keep = data.lastIndex(of: 0x0A).map { end - tail + UInt64($0 - data.startIndex) + 1 } ?? (tail == end ? 0 : end)
                try handle.truncate(atOffset: keep)
            }
            try handle.seekToEnd()
        }
        self.url = url
        self.handle = Mutex(handle)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        self.encoder = encoder
    }

    /// Appends one line.
    func append(_ entry: JournalEntry) {
        guard var data = try? encoder.encode(entry) else { return }
        data.append(0x0A)
        handle.withLock { handle in
            do { try handle?.write(contentsOf: data) } catch { handle = nil }
        }
    }

    /// Closes the file.
    public func close() {
        handle.withLock { handle in
            try? handle?.close()
            handle = nil
        }
    }

    deinit { close() }

    /// Reads a journal's lines; a last line cut short by a crash is ignored, any other unreadable line is an error.
    static func read(_ url: URL) throws -> [JournalEntry] {
        let data = try Data(contentsOf: url)
        let lines = data.split(separator: 0x0A, omittingEmptySubsequences: true)
        let decoder = JSONDecoder()
        var entries: [JournalEntry] = []
        for (index, line) in lines.enumerated() {
            do {
                entries.append(try decoder.decode(JournalEntry.self, from: Data(line)))
            } catch where index == lines.count - 1 && data.last != 0x0A {
                break  // the step in flight when the process died
            } catch {
                throw ToolError("the journal \(url.path) has an unreadable line \(index + 1): \(error)")
            }
        }
        return entries
    }
}
