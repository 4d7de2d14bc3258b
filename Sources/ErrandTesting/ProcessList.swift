import Foundation

/// The processes running on this machine, for tests that check that nothing was left behind.
public enum ProcessList {
    /// The ids of the processes whose command line contains `text` (on Linux from `/proc`, on Darwin from `ps`).
    public static func processes(withCommandLineContaining text: String) -> [Int32] {
        #if os(Linux)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return false }
            return String(decoding: data, as: UTF8.self).contains(text)
        }
        #else
        let ps = Process()
        ps.executableURL = URL(fileURLWithPath: "/bin/ps")
        ps.arguments = ["-axww", "-o", "pid=,command="]
        let pipe = Pipe()
        ps.standardOutput = pipe
        guard (try? ps.run()) != nil else { return [] }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        ps.waitUntilExit()
        return output.split(separator: "\n").compactMap { line -> Int32? in
            let trimmed = line.drop { $0 == " " }
            guard let space = trimmed.firstIndex(of: " "), trimmed[space...].contains(text) else { return nil }
            return Int32(trimmed[..<space])
        }
        #endif
    }
}
