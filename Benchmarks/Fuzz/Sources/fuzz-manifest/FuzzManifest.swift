import ErrandSpec
import Foundation
import ResponsesAPI

/// The input is written to one file per process (reused) and loaded with `CommandManifest.load`, as a spec's
/// `{"manifest": …}` entry is.
let file: URL = {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("errand-fuzz-manifest-\(getpid())", isDirectory: true)
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
    return folder.appendingPathComponent("tool.json")
}()
let environment = ["PATH": "/usr/bin:/bin", "HOME": "/tmp"]

/// A manifest is read or refused with problems, never a trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    do {
        try data.write(to: file)
    } catch {
        fatalError("cannot write \(file.path): \(error)")
    }
    do {
        let tool = try CommandManifest.load(file, environment: environment)
        precondition(!tool.executable.isEmpty, "a manifest was read without a program")
        _ = tool.parameters.jsonString
    } catch let error as SpecError {
        precondition(!error.problems.isEmpty, "a SpecError without problems")
        _ = error.description
    } catch {
        fatalError("CommandManifest.load threw something other than a SpecError: \(error)")
    }
    return 0
}
