import Foundation
import ResponsesAPI
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An append-only JSON-lines record of a run: one ``JournalEvent`` a line (never headers or the key), each written
/// before the next step starts, so that a crash or a kill loses at most the step in flight and
/// ``Runner/resume(_:journal:options:onEvent:)`` can go on. A line that cannot be written is an error, never skipped:
/// the run fails with it rather than leave a journal that no longer tells the run. A new journal is readable and
/// writable by its owner only (0600): it holds what tools read and what the model said.
public final class Journal: RunJournal {
    /// The file.
    public let url: URL
    private let handle: Mutex<FileHandle?>
    private let failed = Mutex<String?>(nil)
    /// How lines are written.
    public let policy: JournalPolicy
    /// How events become lines: the policy's tool output, secrets redacted.
    private let lines: JournalLineEncoder
    private let syncs = Mutex(0)

    public var location: String { url.path }
    public var fileURL: URL? { url }

    /// How many times the journal asked the system to flush to disk (`fsync` of a line or of the folder).
    package var syncCount: Int { syncs.withLock { $0 } }

    /// Opens (or creates) the journal at `url` for appending, creating its folder.
    public init(url: URL, policy: JournalPolicy = JournalPolicy()) throws(CoreError) {
        self.policy = policy
        lines = JournalLineEncoder(policy: policy)
        var created = false
        let manager = FileManager.default
        do {
            try manager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            if !manager.fileExists(atPath: url.path) {
                let descriptor = open(url.path, O_CREAT | O_WRONLY | O_APPEND, 0o600)
                guard descriptor >= 0 else { throw CoreError(.journal, "cannot create the journal at \(url.path): \(Self.lastSystemError())") }
                _ = Foundation.close(descriptor)
                created = true
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
            self.handle = Mutex(handle)
        } catch let error as CoreError {
            throw error
        } catch {
            throw CoreError(.journal, "cannot open the journal at \(url.path): \(Self.describe(error))", underlying: error)
        }
        self.url = url
        if created, policy.durability == .power {
            // The new file's name lives in the folder: without this, a power cut can lose the whole journal.
            let folder = open(url.deletingLastPathComponent().path, O_RDONLY)
            if folder >= 0 {
                _ = fsync(folder)
                _ = Foundation.close(folder)
                syncs.withLock { $0 += 1 }
            }
        }
    }

    /// Where `needle` next occurs in `haystack` at or after `start`: memchr to each candidate first byte, then a
    /// compare (Data's generic `firstRange(of:)` walks it index by index, which a journal line, written every step,
    /// should not pay for).
    static func find(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer, from start: Int = 0) -> Int? {
        guard let first = needle.first, let base = haystack.baseAddress, haystack.count - start >= needle.count else { return nil }
        var offset = start
        let last = haystack.count - needle.count
        while offset <= last {
            guard let found = memchr(base + offset, Int32(first), last - offset + 1) else { return nil }
            let position = base.distance(to: UnsafeRawPointer(found))
            if memcmp(base + position, needle, needle.count) == 0 { return position }
            offset = position + 1
        }
        return nil
    }

    /// Whether `needle` occurs in `data`.
    static func occurs(_ needle: [UInt8], in data: Data) -> Bool {
        data.withUnsafeBytes { find(needle, in: $0) != nil }
    }

    /// Appends one event as a line; throws when it cannot be encoded or written (a full disk, a folder made read-only).
    public func append(_ event: JournalEvent, runID: String) throws(CoreError) {
        let data = try lines.line(event, runID: runID, for: url.path) + [0x0A]
        if let earlier = failed.withLock({ $0 }) { throw CoreError(.journal, earlier) }
        let outcome: Result<Void, any Error> = handle.withLock { handle in
            guard let handle else { return .failure(CoreError(.journal, "the journal at \(url.path) is closed")) }
            return Result {
                try handle.write(contentsOf: data)
                if policy.durability == .power {
                    guard fsync(handle.fileDescriptor) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
                    syncs.withLock { $0 += 1 }
                }
            }
        }
        if case .failure(let error) = outcome {
            let message = "cannot write the journal at \(url.path): \(Self.describe(error))"
            failed.withLock { $0 = message }
            throw CoreError(.journal, message, underlying: error)
        }
    }

    /// Closes the file.
    public func close() async { closeFile() }

    /// Closes the file, from synchronous code.
    public func closeFile() {
        handle.withLock { handle in
            try? handle?.close()
            handle = nil
        }
    }

    deinit { closeFile() }

    /// Reads a journal's events; a last line cut short by a crash is ignored, any other unreadable line is an error.
    public static func read(_ url: URL) throws(CoreError) -> [JournalRecord] {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw CoreError(.journal, "cannot read the journal at \(url.path): \(describe(error))", underlying: error)
        }
        let lines = data.split(separator: 0x0A, omittingEmptySubsequences: true)
        let decoder = JSONDecoder()
        var records: [JournalRecord] = []
        for (index, line) in lines.enumerated() {
            do {
                records.append(try decoder.decode(JournalRecord.self, from: Data(line)))
            } catch where index == lines.count - 1 && data.last != 0x0A {
                break  // the step in flight when the process died
            } catch {
                throw CoreError(.journal, "the journal \(url.path) has an unreadable line \(index + 1): \(error)", underlying: error)
            }
        }
        return records
    }

    /// A file error in words: the system's message for a POSIX error (`No space left on device`), else Foundation's.
    static func describe(_ error: any Error) -> String {
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return ns.localizedDescription
    }

    static func lastSystemError() -> String { String(cString: strerror(errno)) }
}

/// How a journal's events become lines, for every store alike: one JSON object (a ``JournalRecord``) with tool output
/// kept as the policy says and every secret redacted, as written and as JSON escapes it.
package struct JournalLineEncoder: Sendable {
    /// How lines are written.
    package let policy: JournalPolicy
    /// The secrets to redact, as bytes, each also as JSON escapes it (longest first).
    private let redactions: [([UInt8], [UInt8])]

    /// An encoder for `policy`.
    package init(policy: JournalPolicy) {
        self.policy = policy
        var secrets: [[UInt8]] = []
        for secret in policy.secrets where secret.utf8.count >= 8 {
            // As written, and as JSON escapes it once, twice and three times: a secret inside a tool's arguments is a
            // JSON string inside a JSON string.
            var form = secret
            for _ in 0..<4 {
                let bytes = Array(form.utf8)
                if !secrets.contains(bytes) { secrets.append(bytes) }
                guard let escaped = try? JSONEncoder().encode(form), escaped.count > 2 else { break }
                form = String(decoding: escaped.dropFirst().dropLast(), as: UTF8.self)
            }
        }
        redactions = secrets.sorted { $0.count > $1.count }.map { ($0, Array("[redacted]".utf8)) }
    }

    /// The event's line (without its newline); `place` names the journal in an error.
    package func line(_ event: JournalEvent, runID: String, for place: String) throws(CoreError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        do {
            return redacted(try encoder.encode(JournalRecord(runID: runID, event: journaled(event))))
        } catch {
            throw CoreError(.journal, "cannot encode a \(event.type) line for the journal at \(place): \(error)", underlying: error)
        }
    }

    /// The event as it is journaled: tool output kept as the policy says.
    /// A tool's output is in two places: its `tool_finished` line and the `function_call_output` of the next request.
    private func journaled(_ event: JournalEvent) -> JournalEvent {
        guard policy.toolOutput != .full else { return event }
        switch event {
        case .toolFinished(var record):
            record.output = policy.kept(record.output)
            return .toolFinished(record)
        case .requestSent(var request):
            request.input = request.input?.map { item in
                guard case .functionCallOutput(var output) = item, case .text(let text) = output.output else { return item }
                output.output = .text(policy.kept(text))
                return .functionCallOutput(output)
            }
            return .requestSent(request)
        default:
            return event
        }
    }

    /// The line with every secret replaced.
    private func redacted(_ line: Data) -> Data {
        // Most lines hold no secret: a search over the line's bytes finds that without copying them.
        guard redactions.contains(where: { Journal.occurs($0.0, in: line) }) else { return line }
        var bytes = [UInt8](line)
        for (secret, replacement) in redactions {
            var output: [UInt8] = []
            var copied = 0
            bytes.withUnsafeBytes { buffer in
                while let position = Journal.find(secret, in: buffer, from: copied) {
                    output.append(contentsOf: buffer[copied..<position])
                    output.append(contentsOf: replacement)
                    copied = position + secret.count
                }
            }
            guard copied > 0 else { continue }
            output.append(contentsOf: bytes[copied...])
            bytes = output
        }
        return Data(bytes)
    }
}
