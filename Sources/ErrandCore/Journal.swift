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
public final class Journal: Sendable {
    /// The file.
    public let url: URL
    private let handle: Mutex<FileHandle?>
    private let failed = Mutex<String?>(nil)
    private let encoder: JSONEncoder

    /// Opens (or creates) the journal at `url` for appending, creating its folder.
    public init(url: URL) throws(CoreError) {
        let manager = FileManager.default
        do {
            try manager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            if !manager.fileExists(atPath: url.path) {
                let descriptor = open(url.path, O_CREAT | O_WRONLY | O_APPEND, 0o600)
                guard descriptor >= 0 else { throw CoreError(.journal, "cannot create the journal at \(url.path): \(Self.lastSystemError())") }
                _ = Foundation.close(descriptor)
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
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        self.encoder = encoder
    }

    /// Appends one event as a line; throws when it cannot be encoded or written (a full disk, a folder made read-only).
    public func append(_ event: JournalEvent, runID: String) throws(CoreError) {
        let data: Data
        do {
            data = try encoder.encode(JournalRecord(runID: runID, event: event)) + [0x0A]
        } catch {
            throw CoreError(.journal, "cannot encode a \(event.type) line for the journal at \(url.path): \(error)", underlying: error)
        }
        if let earlier = failed.withLock({ $0 }) { throw CoreError(.journal, earlier) }
        let outcome: Result<Void, any Error> = handle.withLock { handle in
            guard let handle else { return .failure(CoreError(.journal, "the journal at \(url.path) is closed")) }
            return Result { try handle.write(contentsOf: data) }
        }
        if case .failure(let error) = outcome {
            let message = "cannot write the journal at \(url.path): \(Self.describe(error))"
            failed.withLock { $0 = message }
            throw CoreError(.journal, message, underlying: error)
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
