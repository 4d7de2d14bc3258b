import ErrandCore
import ErrandTools
import Foundation
import Logging
import ResponsesAPI
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A folder of the workspace swapped for a symbolic link to the outside, over and over, by a thread of its own, while
/// the file tools read, list, search and write through it. The path is inside when the tool checks it; the swap races
/// the open. Nothing outside may ever be read, listed, matched or written.
@Suite(.serialized, .timeLimit(.minutes(10))) struct SandboxRaceTests {
    static let iterations = 1500

    let root: URL
    let outside: URL
    let registry: ToolRegistry
    let context: ToolContext

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("errand-race-\(UUID().uuidString)")
        root = base.appendingPathComponent("workspace")
        outside = base.appendingPathComponent("outside")
        let manager = FileManager.default
        try manager.createDirectory(at: root.appendingPathComponent("d"), withIntermediateDirectories: true)
        try manager.createDirectory(at: outside, withIntermediateDirectories: true)
        try "inside\n".write(to: root.appendingPathComponent("d/a.txt"), atomically: true, encoding: .utf8)
        try "SECRET\n".write(to: outside.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
        try "SECRET\n".write(to: outside.appendingPathComponent("outside-only.txt"), atomically: true, encoding: .utf8)
        let workspace = try Workspace(root: root, writable: true)
        var registry = ToolRegistry()
        try FileTools.register(into: &registry, workspace: workspace)
        self.registry = registry
        context = ToolContext(runID: "r", callID: "c", workspace: workspace, logger: Logger(label: "race"))
    }

    /// Swaps `d` between the real folder and a link to the outside until told to stop; returns how many swaps it made.
    func whileSwapping(_ body: (_ swapCount: () -> Int) async throws -> Void) async throws -> Int {
        let stop = Atomic<Bool>(false)
        let swaps = Atomic<Int>(0)
        let stuck = Atomic<Bool>(false)
        let folder = root.appendingPathComponent("d").path
        let parked = root.appendingPathComponent(".parked").path
        let target = outside.path
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            while !stop.load(ordering: .relaxed) {
                guard rename(folder, parked) == 0 else { continue }
                symlink(target, folder)
                sched_yield()
                // write_file may have created a folder `d` in the gap: it goes, the real one comes back.
                if unlink(folder) != 0 { try? FileManager.default.removeItem(atPath: folder) }
                // Bounded: a rename that keeps failing (not a leftover in the way) ends the swapping and fails the test.
                var attempts = 0
                while rename(parked, folder) != 0, attempts < 10_000 {
                    try? FileManager.default.removeItem(atPath: folder)
                    attempts += 1
                }
                if attempts == 10_000 {
                    stuck.store(true, ordering: .relaxed)
                    break
                }
                swaps.add(1, ordering: .relaxed)
                // A breath between swaps: the other tests running meanwhile need this core too.
                usleep(200)
            }
            done.signal()
        }
        /// Stops the swapper and waits for it, for 30 s at most: a swapper that does not stop fails the test instead of
        /// holding it.
        func stopSwapping() {
            stop.store(true, ordering: .relaxed)
            #expect(done.wait(timeout: .now() + 30) == .success, "the swapper thread did not stop")
            let wasStuck = stuck.load(ordering: .relaxed)
            #expect(!wasStuck, "the real folder could not be renamed back into place")
        }
        do {
            try await body { swaps.load(ordering: .relaxed) }
        } catch {
            stopSwapping()
            throw error
        }
        stopSwapping()
        return swaps.load(ordering: .relaxed)
    }

    /// Calls a tool; the output, or the refusal's message.
    func attempt(_ name: String, _ arguments: JSONValue) async -> (output: String?, refusal: String?) {
        do {
            return (try await registry[name]!.call(arguments: arguments, context: context).text, nil)
        } catch let error as ToolError {
            return (nil, error.message)
        } catch {
            return (nil, "\(error)")
        }
    }

    func race(_ name: String, _ arguments: JSONValue, leaked: (String) -> Bool) async throws {
        var succeeded = 0, refused = 0
        var leaks: [String] = []
        var attempts = 0
        let swaps = try await whileSwapping { swapCount in
            // Long enough for the swapping thread to get going, even on a busy machine.
            let clock = ContinuousClock()
            let start = clock.now
            // And until the swapper has swapped 200 times (a busy machine gives it little time), within 10 s.
            while attempts < Self.iterations || clock.now - start < .milliseconds(1500) || (swapCount() < 200 && clock.now - start < .seconds(10)) {
                attempts += 1
                // Half the time off: the other suites start beside this one and spawn processes with deadlines.
                if attempts % 16 == 0 { try await Task.sleep(for: .milliseconds(1)) }
                let result = await attempt(name, arguments)
                if let output = result.output {
                    succeeded += 1
                    if leaked(output) { leaks.append(output) }
                } else {
                    refused += 1
                }
            }
        }
        #expect(leaks.isEmpty, "\(name) escaped the workspace \(leaks.count) times in \(attempts): \(leaks.prefix(2))")
        #expect(swaps > 100, "the swapping thread barely ran (\(swaps) swaps): the race was not tried")
        #expect(succeeded > 0, "no call got through: the race was not tried")
        #expect(succeeded + refused == attempts)
        print("\(name): \(attempts) calls, \(succeeded) answered, \(refused) refused, \(swaps) swaps")
    }

    @Test func readingThroughASwappedFolderNeverEscapes() async throws {
        try await race("read_file", ["path": "d/a.txt", "offset": nil, "limit": nil]) { $0.contains("SECRET") }
    }

    @Test func listingASwappedFolderNeverShowsTheOutside() async throws {
        try await race("list_directory", ["path": "d", "recursive": true, "max_entries": nil]) { $0.contains("outside-only") }
    }

    @Test func searchingThroughASwappedFolderNeverMatchesTheOutside() async throws {
        try await race("search_files", ["pattern": "SEC+RET", "path": "d", "glob": nil]) { $0.contains(": SECRET") }
    }

    @Test func writingThroughASwappedFolderNeverLandsOutside() async throws {
        try await race("write_file", ["path": "d/new.txt", "content": "written"]) { _ in false }
        let outsideNames = try FileManager.default.contentsOfDirectory(atPath: outside.path).sorted()
        #expect(outsideNames == ["a.txt", "outside-only.txt"], "a write landed outside: \(outsideNames)")
        #expect(try String(contentsOf: outside.appendingPathComponent("a.txt"), encoding: .utf8) == "SECRET\n")
    }
}
