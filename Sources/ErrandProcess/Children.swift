import Foundation
import Subprocess
import Synchronization

#if canImport(System)
import System
#else
import SystemPackage
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What every child of errand (a command tool's run, an MCP server) is started with, through swift-subprocess:
/// `posix_spawn` with every signal at its default and an empty mask, exactly the environment given, a process group of
/// its own (so that Ctrl-C at the terminal reaches errand first, which then stops its children in order, and so that
/// stopping a child stops what it started), and a teardown of SIGTERM to the group, a grace period, then SIGKILL.
///
/// One thing is written here by hand: waiting for a child to exit *without reaping it* (swift-subprocess reaps), so
/// that a command that exits while something it started in the background still holds its pipes is not waited on until
/// its timeout: a pidfd `poll(2)` on Linux, a kqueue `EVFILT_PROC` on Darwin.
package enum Children {
    /// Writing to a pipe whose reader is gone raises SIGPIPE, whose default action ends errand: ignored once, before
    /// the first child starts (children get every signal back at its default).
    package static let ignoreBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    /// The options of a child: its own process group; on teardown SIGTERM to the group, `grace`, then SIGKILL to it.
    package static func options(grace: Duration) -> PlatformOptions {
        var options = PlatformOptions()
        options.processGroupID = 0
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: grace)]
        return options
    }

    /// The configuration of a child: `executable` (an absolute path) with `arguments`, exactly `environment`, in
    /// `directory`.
    package static func configuration(
        executable: String, arguments: [String], environment: [String: String], directory: String, grace: Duration
    ) -> Configuration {
        var variables: [Environment.Key: String] = [:]
        for (name, value) in environment {
            if let key = Environment.Key(rawValue: name) { variables[key] = value }
        }
        return Configuration(
            executable: .path(FilePath(executable)), arguments: Arguments(arguments), environment: .custom(variables),
            workingDirectory: FilePath(directory), platformOptions: options(grace: grace))
    }

    /// A termination as a shell shows it: the exit code, or 128 plus the signal.
    package static func exitCode(_ status: TerminationStatus) -> Int32 {
        switch status {
        case .exited(let code): Int32(truncatingIfNeeded: code)
        case .signaled(let signal): 128 + Int32(truncatingIfNeeded: signal)
        }
    }

    /// A termination in words: "exit status N" or "killed by signal N".
    package static func describe(_ status: TerminationStatus) -> String {
        switch status {
        case .exited(let code): "exit status \(code)"
        case .signaled(let signal): "killed by signal \(signal)"
        }
    }

    /// Returns once the child has exited, without reaping it (the caller's `run` reaps it). The wait happens on a
    /// thread of its own, polling in steps so that a cancelled caller is let go at once.
    package static func exited(_ process: ProcessIdentifier) async {
        let pid = process.value
        #if os(Linux)
        let descriptor = process.processDescriptor
        #endif
        let gone = Mutex(false)
        await withTaskCancellationHandler {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                Thread.detachNewThread {
                    #if os(Linux)
                    while !gone.withLock({ $0 }) {
                        if descriptor >= 0 {
                            var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                            if poll(&entry, 1, 100) > 0 { break }
                        } else if !isRunning(pid) {
                            break
                        } else {
                            usleep(20_000)
                        }
                    }
                    #else
                    let queue = kqueue()
                    defer { close(queue) }
                    var change = kevent(
                        ident: UInt(pid), filter: Int16(EVFILT_PROC), flags: UInt16(EV_ADD | EV_ONESHOT), fflags: NOTE_EXIT, data: 0, udata: nil)
                    var timeout = timespec(tv_sec: 0, tv_nsec: 100_000_000)
                    var event = kevent()
                    if kevent(queue, &change, 1, nil, 0, nil) == 0 {
                        while !gone.withLock({ $0 }) {
                            if kevent(queue, nil, 0, &event, 1, &timeout) > 0 { break }
                        }
                    }
                    #endif
                    done.resume()
                }
            }
        } onCancel: {
            gone.withLock { $0 = true }
        }
    }

    #if os(Linux)
    /// Whether `pid` runs (a zombie does not), for kernels without pidfd.
    private static func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        guard let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].dropFirst().first != "Z"
    }
    #endif
}
