import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A throwaway PostgreSQL server for tests: a cluster of its own in a new temporary folder, on a free port of
/// 127.0.0.1, with a database `errand` that the superuser `errand` reaches without a password.
///
/// ```swift
/// @Test(.enabled(if: PostgresCluster.unavailableReason == nil, "PostgreSQL's initdb is needed"))
/// func storesRuns() throws {
///     let cluster = try PostgresCluster.start()
///     defer { cluster.stop() }
///     try cluster.psql("create table runs (id int)")
///     … connect to cluster.url …
/// }
/// ```
///
/// The server is tuned for tests, not for keeping data: no fsync, no full-page writes, asynchronous commits, small
/// shared buffers, 200 connections. It runs the binaries of an installed PostgreSQL (`initdb` and `pg_ctl` on `PATH`,
/// else the newest `/usr/lib/postgresql/*/bin`); as root it runs them as the `postgres` user, since `initdb` refuses
/// to run as root. ``stop()`` (or the end of the last reference) kills the server and removes the folder.
///
/// The server outlives a test process that is killed before it could stop it; the next ``start()`` on the machine
/// stops every cluster whose process has gone and removes its folder.
public final class PostgresCluster: Sendable {
    /// Why a cluster could not start, or a `psql` call failed, with what the tools said (the tail of the server log
    /// for a server that did not start).
    public struct Failure: Error, CustomStringConvertible, Sendable {
        /// What went wrong, with the tools' output.
        public var description: String
    }

    /// The port the server listens on, on 127.0.0.1.
    public let port: Int
    /// The temporary folder that holds the cluster (`data/`), its log (`server.log`) and its unix socket.
    public let folder: URL
    private let tools: Tools
    private let stopped = Mutex(false)

    /// `postgresql://errand@127.0.0.1:PORT/errand`: the superuser, on the database `errand`, with no password.
    public var url: String { "postgresql://errand@127.0.0.1:\(port)/errand" }

    /// A URL to the same server for another user, password and database, which need not exist: for tests of a wrong
    /// password or a missing database. The parts are percent-encoded.
    public func url(user: String, password: String?, database: String) -> String {
        let credentials = Self.encoded(user) + (password.map { ":" + Self.encoded($0) } ?? "")
        return "postgresql://\(credentials)@127.0.0.1:\(port)/\(Self.encoded(database))"
    }

    private var logFile: URL { folder.appending(path: "server.log", directoryHint: .notDirectory) }

    private init(port: Int, folder: URL, tools: Tools) {
        self.port = port
        self.folder = folder
        self.tools = tools
    }

    deinit { stop() }

    // MARK: Availability

    /// Why a cluster cannot be started on this machine (no `initdb` found; as root, no `postgres` user to run it as),
    /// or `nil` when it can. Cheap: it looks for files and starts no process.
    ///
    /// For test traits: `.enabled(if: PostgresCluster.unavailableReason == nil, "…")`.
    public static var unavailableReason: String? {
        switch Tools.locate() {
        case .success: nil
        case .failure(let failure): failure.description
        }
    }

    // MARK: Starting and stopping

    /// Starts a cluster: `initdb` into a new temporary folder (trust authentication, superuser `errand`), the server
    /// on a free port of 127.0.0.1 and a unix socket in the folder, and a database `errand`; it returns once the
    /// server accepts connections.
    ///
    /// A port taken between being found free and being bound is tried again with another, three times in all. It
    /// blocks the calling thread for the second or so this takes.
    ///
    /// - Throws: ``Failure`` when no PostgreSQL is installed (``unavailableReason``), `initdb` fails, or the server
    ///   does not accept connections within about 60 seconds; the error ends with the tail of the server log.
    public static func start() throws -> PostgresCluster {
        let tools = try Tools.locate().get()
        stopAbandonedClusters(tools: tools)
        let folder = try makeFolder(owner: tools.identity.owner)
        let log = folder.appending(path: "server.log", directoryHint: .notDirectory)
        do {
            let initdb = try tools.runServerTool(
                tools.initdb, ["-D", dataFolder(in: folder).path, "-U", "errand", "-A", "trust", "--no-locale", "-E", "UTF8", "--no-sync"],
                in: folder, timeout: .seconds(120)
            )
            guard initdb.status == 0 else { throw Failure(description: "initdb failed (\(initdb.summary)):\n\(initdb.output)") }
        } catch {
            try? FileManager.default.removeItem(at: folder)
            throw error
        }
        var attempt = 1
        while true {
            let logStart = (try? FileManager.default.attributesOfItem(atPath: log.path)[.size] as? Int) ?? 0
            let port: Int
            do {
                let reserved = try FaultyListener.reserveRefusingPort()
                close(reserved.descriptor)
                port = reserved.port
            } catch {
                try? FileManager.default.removeItem(at: folder)
                throw Failure(description: "no free port on 127.0.0.1 for PostgreSQL: \(error)")
            }
            let cluster = PostgresCluster(port: port, folder: folder, tools: tools)
            do {
                try cluster.startServer()
                return cluster
            } catch {
                // The cluster's end would remove the folder that the next attempt needs: stop its server only.
                cluster.stopped.withLock { $0 = true }
                stopServer(in: folder, tools: tools)
                let newLog = tail(of: log, from: logStart, lines: 1000)
                let portTaken = ["could not bind", "Address already in use", "could not create any TCP/IP sockets"].contains { newLog.contains($0) }
                if error is Failure && portTaken && attempt < 3 {
                    attempt += 1
                    continue
                }
                try? FileManager.default.removeItem(at: folder)
                throw error
            }
        }
    }

    /// Starts the server on ``port`` and waits until it accepts connections, then creates the database `errand`.
    /// Takes the server down (a clean, fast shutdown, as for a restart or a failover), keeps it down for `downtime`,
    /// and starts it again on the same port with the same data: an outage, for tests of what survives one. Blocks.
    public func outage(for downtime: Duration) throws {
        _ = try tools.runServerTool(
            tools.pgCtl, ["-D", Self.dataFolder(in: folder).path, "-m", "fast", "-w", "-t", "30", "stop"], in: folder, timeout: .seconds(45))
        Thread.sleep(forTimeInterval: Double(downtime.components.seconds) + Double(downtime.components.attoseconds) / 1e18)
        try startServer(creatingDatabase: false)
    }

    private func startServer(creatingDatabase: Bool = true) throws {
        let deadline = ContinuousClock.now + .seconds(60)
        let options = [
            "-c listen_addresses=127.0.0.1", "-c port=\(port)", "-c unix_socket_directories='\(folder.path)'",
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off", "-c max_connections=200", "-c shared_buffers=16MB",
        ].joined(separator: " ")
        let start = try tools.runServerTool(
            tools.pgCtl, ["-D", Self.dataFolder(in: folder).path, "-l", logFile.path, "-w", "-t", "60", "-o", options, "start"], in: folder,
            timeout: .seconds(90)
        )
        guard start.status == 0 else { throw startFailure("pg_ctl start failed (\(start.summary)):\n\(start.output)") }
        // pg_ctl waited for the postmaster to say it is ready; a first query over TCP says so for clients too.
        while true {
            let probe = try runPSQL("select 1", database: "postgres", timeout: .seconds(15))
            if probe.status == 0 { break }
            if ContinuousClock.now >= deadline {
                throw startFailure("the server did not accept connections on 127.0.0.1:\(port) within 60 seconds:\n\(probe.output)")
            }
            usleep(100_000)
        }
        guard creatingDatabase else { return }
        let create = try runPSQL("create database errand", database: "postgres", timeout: .seconds(60))
        guard create.status == 0 else { throw startFailure("could not create the database errand (\(create.summary)):\n\(create.output)") }
    }

    private func startFailure(_ what: String) -> Failure {
        Failure(
            description: "PostgreSQL in \(folder.path) did not start on 127.0.0.1:\(port): \(what.trimmingCharacters(in: .whitespacesAndNewlines))\n"
                + "server log (last lines):\n\(Self.tail(of: logFile, from: 0, lines: 30))"
        )
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`, no checkpoint: the data is thrown away) and removes the
    /// folder. Calling it again does nothing; the end of the last reference calls it.
    public func stop() {
        let first = stopped.withLock { stopped in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        Self.stopServer(in: folder, tools: tools)
        try? FileManager.default.removeItem(at: folder)
    }

    /// Stops the server of the cluster in `folder`, if one runs, and kills the postmaster if `pg_ctl` could not.
    private static func stopServer(in folder: URL, tools: Tools) {
        let pidFile = dataFolder(in: folder).appending(path: "postmaster.pid", directoryHint: .notDirectory)
        guard FileManager.default.fileExists(atPath: pidFile.path) else { return }
        _ = try? tools.runServerTool(
            tools.pgCtl, ["-D", dataFolder(in: folder).path, "-m", "immediate", "-w", "-t", "30", "stop"], in: folder, timeout: .seconds(45)
        )
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8),
            let line = text.split(separator: "\n").first, let pid = pid_t(line.trimmingCharacters(in: .whitespaces)), pid > 0,
            kill(pid, 0) == 0
        else { return }
        kill(pid, SIGKILL)
    }

    /// Stops the clusters of test processes that ended without stopping them (killed, crashed), and removes their
    /// folders: each folder names the process that made it.
    private static func stopAbandonedClusters(tools: Tools) {
        for base in Set(["/tmp", temporaryBase()]) {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] where name.hasPrefix("errand-pg.") {
                let folder = URL(fileURLWithPath: base, isDirectory: true).appending(path: name, directoryHint: .isDirectory)
                let ownerFile = folder.appending(path: ownerFileName, directoryHint: .notDirectory)
                guard let text = try? String(contentsOf: ownerFile, encoding: .utf8), let owner = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                    owner > 0, kill(owner, 0) != 0, errno == ESRCH
                else { continue }
                stopServer(in: folder, tools: tools)
                try? FileManager.default.removeItem(at: folder)
            }
        }
    }

    // MARK: SQL

    /// Runs `sql` with `psql` (`-X -q -v ON_ERROR_STOP=1 -At`) as the superuser on the database `errand`, over TCP,
    /// and returns what it printed, trimmed: rows one a line, columns separated by `|`.
    ///
    /// Several statements may be given; the first that fails stops the script.
    ///
    /// - Throws: ``Failure`` with psql's error output when a statement fails or psql cannot connect.
    @discardableResult public func psql(_ sql: String) throws -> String {
        let result = try runPSQL(sql, database: "errand", timeout: .seconds(300))
        guard result.status == 0 else {
            let shown = sql.count > 200 ? String(sql.prefix(200)) + "…" : sql
            throw Failure(description: "psql failed (\(result.summary)) running \(shown):\n\(result.error.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func runPSQL(_ sql: String, database: String, timeout: Duration) throws -> Run.Result {
        let script = FileManager.default.temporaryDirectory.appending(path: "errand-pg-\(UUID().uuidString).sql", directoryHint: .notDirectory)
        try Data(sql.utf8).write(to: script)
        defer { try? FileManager.default.removeItem(at: script) }
        let arguments = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-h", "127.0.0.1", "-p", String(port), "-U", "errand", "-d", database]
        return try Run.run(tools.psql, arguments, input: script.path, environment: ["PGCONNECT_TIMEOUT": "10", "PGCLIENTENCODING": "UTF8"], timeout: timeout)
    }

    // MARK: Helpers

    private static let ownerFileName = "owner.pid"

    private static func dataFolder(in folder: URL) -> URL { folder.appending(path: "data", directoryHint: .isDirectory) }

    /// `text` percent-encoded but for the unreserved characters of RFC 3986, for any part of a URL.
    private static func encoded(_ text: String) -> String {
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    /// The temporary folder, unless its path would make the socket's (`FOLDER/.s.PGSQL.PORT`) longer than unix allows.
    private static func temporaryBase() -> String {
        var base = FileManager.default.temporaryDirectory.path
        if base.hasSuffix("/") { base.removeLast() }
        return base.utf8.count > 60 ? "/tmp" : base
    }

    /// A new folder, mode 0700, that names this process (for ``stopAbandonedClusters(tools:)``), given to `owner` when
    /// there is one (root gives the cluster's folder to `postgres`, and makes it under `/tmp`).
    private static func makeFolder(owner: (uid: uid_t, gid: gid_t)?) throws -> URL {
        let base = owner == nil ? temporaryBase() : "/tmp"
        var template = Array("\(base)/errand-pg.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) != nil }
        guard made else { throw Failure(description: "could not create a temporary folder in \(base): \(String(cString: strerror(errno)))") }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let folder = URL(fileURLWithPath: path, isDirectory: true)
        do {
            try Data("\(getpid())\n".utf8).write(to: folder.appending(path: ownerFileName, directoryHint: .notDirectory))
        } catch {
            try? FileManager.default.removeItem(at: folder)
            throw Failure(description: "could not write in \(path): \(error)")
        }
        if let owner, chown(path, owner.uid, owner.gid) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: folder)
            throw Failure(description: "could not give \(path) to the postgres user: \(reason)")
        }
        return folder
    }

    /// The last `lines` lines of `file` from byte `offset` on, or a note that there is no log.
    private static func tail(of file: URL, from offset: Int, lines: Int) -> String {
        guard let data = FileManager.default.contents(atPath: file.path) else { return "(no server log at \(file.path))" }
        let text = String(decoding: data.dropFirst(offset), as: UTF8.self)
        let kept = text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines + 1).joined(separator: "\n")
        return kept.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

// MARK: - Finding and running the binaries

extension PostgresCluster {
    /// Who runs the server's binaries: this user, or (as root) `postgres` through a tool that switches user.
    fileprivate enum Identity: Sendable {
        case current
        case runuser(tool: String, uid: uid_t, gid: gid_t)
        case setpriv(tool: String, uid: uid_t, gid: gid_t)
        case su(tool: String, uid: uid_t, gid: gid_t)

        /// The user that must own the cluster's folder, when not this one.
        var owner: (uid: uid_t, gid: gid_t)? {
            switch self {
            case .current: nil
            case .runuser(_, let uid, let gid), .setpriv(_, let uid, let gid), .su(_, let uid, let gid): (uid, gid)
            }
        }

        /// The command that runs `executable` with `arguments` as this identity.
        func command(_ executable: String, _ arguments: [String]) -> (String, [String]) {
            switch self {
            case .current:
                (executable, arguments)
            case .runuser(let tool, _, _):
                (tool, ["-u", "postgres", "--", executable] + arguments)
            case .setpriv(let tool, let uid, let gid):
                (tool, ["--reuid=\(uid)", "--regid=\(gid)", "--init-groups", "--", executable] + arguments)
            case .su(let tool, _, _):
                (tool, ["-s", "/bin/sh", "-c", ([executable] + arguments).map(Self.shellQuoted).joined(separator: " "), "postgres"])
            }
        }

        private static func shellQuoted(_ word: String) -> String {
            "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }
    }

    /// The binaries found, and who runs the server's.
    fileprivate struct Tools: Sendable {
        var initdb: String
        var pgCtl: String
        var psql: String
        var identity: Identity

        /// Runs `initdb` or `pg_ctl` as ``identity``, in `folder` (which that user can enter).
        func runServerTool(_ executable: String, _ arguments: [String], in folder: URL, timeout: Duration) throws -> Run.Result {
            let (tool, toolArguments) = identity.command(executable, arguments)
            return try Run.run(tool, toolArguments, directory: folder.path, timeout: timeout)
        }

        /// The binaries, or what is missing and how to get it.
        static func locate() -> Result<Tools, Failure> {
            let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
            let install = "install Debian's postgresql package (apt-get install postgresql), or on macOS Homebrew's postgresql@16 with its bin folder on PATH"
            // initdb on PATH (its real folder, past symlinks, has the matching pg_ctl, postgres and psql), else the
            // newest Debian or Homebrew installation.
            let initdbFolder: String
            if let initdb = find("initdb", in: path) {
                initdbFolder = URL(fileURLWithPath: initdb).resolvingSymlinksInPath().deletingLastPathComponent().path
            } else if let folder = installationFolders().first(where: { executable($0 + "/initdb") }) {
                initdbFolder = folder
            } else {
                return .failure(Failure(description: "PostgreSQL's initdb was not found on PATH nor in /usr/lib/postgresql/*/bin: \(install)"))
            }
            guard let pgCtl = find("pg_ctl", in: [initdbFolder] + path) else {
                return .failure(Failure(description: "PostgreSQL's pg_ctl was not found beside \(initdbFolder)/initdb nor on PATH: \(install)"))
            }
            guard let psql = find("psql", in: [initdbFolder] + path) else {
                return .failure(Failure(description: "PostgreSQL's psql was not found beside \(initdbFolder)/initdb nor on PATH: \(install)"))
            }
            var identity = Identity.current
            if geteuid() == 0 {
                guard let user = getpwnam("postgres") else {
                    return .failure(
                        Failure(
                            description: "running as root, and initdb refuses to run as root, but there is no postgres user to run it as: "
                                + "install Debian's postgresql package (apt-get install postgresql), which creates that user"
                        )
                    )
                }
                let (uid, gid) = (user.pointee.pw_uid, user.pointee.pw_gid)
                let system = path + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
                if let tool = find("runuser", in: system) {
                    identity = .runuser(tool: tool, uid: uid, gid: gid)
                } else if let tool = find("setpriv", in: system) {
                    identity = .setpriv(tool: tool, uid: uid, gid: gid)
                } else if let tool = find("su", in: system) {
                    identity = .su(tool: tool, uid: uid, gid: gid)
                } else {
                    return .failure(
                        Failure(
                            description: "running as root, and initdb refuses to run as root, but neither runuser, setpriv nor su was found "
                                + "to run it as the postgres user: install util-linux (apt-get install util-linux)"
                        )
                    )
                }
            }
            return .success(Tools(initdb: initdbFolder + "/initdb", pgCtl: pgCtl, psql: psql, identity: identity))
        }

        /// `/usr/lib/postgresql/*/bin` and Homebrew's `postgresql@*/bin`, newest version first.
        private static func installationFolders() -> [String] {
            var found: [(version: [Int], folder: String)] = []
            for (parent, prefix) in [("/usr/lib/postgresql", ""), ("/opt/homebrew/opt", "postgresql@"), ("/usr/local/opt", "postgresql@")] {
                for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix(prefix) {
                    let version = name.dropFirst(prefix.count).split(separator: ".").compactMap { Int($0) }
                    guard !version.isEmpty else { continue }
                    found.append((version, "\(parent)/\(name)/bin"))
                }
            }
            return found.sorted { $0.version.lexicographicallyPrecedes($1.version) }.reversed().map(\.folder)
        }

        private static func find(_ name: String, in folders: [String]) -> String? {
            folders.lazy.filter { !$0.isEmpty }.map { $0 + "/" + name }.first(where: executable)
        }

        private static func executable(_ path: String) -> Bool {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
                && FileManager.default.isExecutableFile(atPath: path)
        }
    }

    /// A child process started with `posix_spawn`, its output in files, and no descriptor of this process but its
    /// stdin, stdout and stderr.
    ///
    /// Not `Foundation.Process`: on Linux it learns that a child has ended when a socket the child inherited is closed
    /// by every process that holds it, and the postmaster that `pg_ctl start` leaves running holds it too, so
    /// `pg_ctl start` would never end. And not pipes: the postmaster would hold those open as well.
    fileprivate enum Run {
        struct Result {
            var status: Int32
            var standardOutput: String
            var error: String
            var timedOut: Bool

            /// Both outputs, for an error.
            var output: String { [standardOutput, error].filter { !$0.isEmpty }.joined(separator: "\n") }
            /// "exit status 1", or that it was killed.
            var summary: String { timedOut ? "killed: it did not end in time" : "exit status \(status)" }
        }

        #if canImport(Darwin)
        typealias FileActions = posix_spawn_file_actions_t?
        typealias Attributes = posix_spawnattr_t?
        #else
        typealias FileActions = posix_spawn_file_actions_t
        typealias Attributes = posix_spawnattr_t
        #endif

        /// Runs `executable` in `directory` (else here), without the `PG…` variables of this environment (they would
        /// point it elsewhere) and with `environment` added, stdin from the file `input` (else `/dev/null`); kills it
        /// after `timeout`.
        static func run(
            _ executable: String, _ arguments: [String], directory: String? = nil, input: String? = nil, environment: [String: String] = [:],
            timeout: Duration
        ) throws -> Result {
            let files = FileManager.default.temporaryDirectory
            let id = UUID().uuidString
            let outPath = files.appending(path: "errand-pg-\(id).out", directoryHint: .notDirectory).path
            let errPath = files.appending(path: "errand-pg-\(id).err", directoryHint: .notDirectory).path
            defer {
                unlink(outPath)
                unlink(errPath)
            }
            let variables = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }.merging(environment) { $1 }
            let pid = try spawn(
                executable, arguments, directory: directory, input: input ?? "/dev/null", output: outPath, error: errPath,
                environment: variables.map { "\($0.key)=\($0.value)" }
            )
            let (status, timedOut) = wait(for: pid, timeout: timeout)
            let read = { (path: String) in String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self) }
            return Result(status: status, standardOutput: read(outPath), error: read(errPath), timedOut: timedOut)
        }

        private static func spawn(
            _ executable: String, _ arguments: [String], directory: String?, input: String, output: String, error: String, environment: [String]
        ) throws -> pid_t {
            #if canImport(Darwin)
            var actions: FileActions = nil
            var attributes: Attributes = nil
            #else
            var actions = FileActions()
            var attributes = Attributes()
            #endif
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawnattr_init(&attributes)
            defer { posix_spawnattr_destroy(&attributes) }

            posix_spawn_file_actions_addopen(&actions, 0, input, O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_addopen(&actions, 2, error, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            if let directory {
                typealias AddChdir = @convention(c) (UnsafeMutablePointer<FileActions>, UnsafePointer<CChar>) -> Int32
                guard let addChdir = symbol("posix_spawn_file_actions_addchdir_np", as: AddChdir.self) else {
                    throw Failure(description: "posix_spawn_file_actions_addchdir_np is missing (glibc 2.29 or later is needed)")
                }
                _ = addChdir(&actions, directory)
            }
            var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
            #if canImport(Darwin)
            flags |= POSIX_SPAWN_CLOEXEC_DEFAULT
            #else
            // Every other descriptor closed: another thread's pipe or Foundation's socket, inherited by the postmaster,
            // would stay open for as long as the server runs.
            typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<FileActions>, Int32) -> Int32
            if let addCloseFrom = symbol("posix_spawn_file_actions_addclosefrom_np", as: AddCloseFrom.self) {
                _ = addCloseFrom(&actions, 3)
            } else {
                for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
                    if let descriptor = Int32(name), descriptor > 2 { posix_spawn_file_actions_addclose(&actions, descriptor) }
                }
            }
            #endif
            posix_spawnattr_setflags(&attributes, Int16(truncatingIfNeeded: flags))
            var noSignals = sigset_t()
            sigemptyset(&noSignals)
            posix_spawnattr_setsigmask(&attributes, &noSignals)
            var allSignals = sigset_t()
            sigfillset(&allSignals)
            posix_spawnattr_setsigdefault(&attributes, &allSignals)

            let argv = ([executable] + arguments).map { strdup($0) } + [nil]
            let envp = environment.map { strdup($0) } + [nil]
            defer {
                for pointer in argv + envp { free(pointer) }
            }
            var pid = pid_t()
            let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
            guard result == 0 else { throw Failure(description: "could not run \(executable): \(String(cString: strerror(result)))") }
            return pid
        }

        /// Waits for `pid` to end, sending it SIGTERM after `timeout` and SIGKILL 5 seconds later; its exit status
        /// (128 + the signal when a signal ended it).
        private static func wait(for pid: pid_t, timeout: Duration) -> (status: Int32, timedOut: Bool) {
            let clock = ContinuousClock()
            let deadline = clock.now + timeout
            var killAt: ContinuousClock.Instant?
            var timedOut = false
            var status: Int32 = 0
            var pause: UInt32 = 1_000
            while true {
                let result = waitpid(pid, &status, WNOHANG)
                if result == pid { break }
                if result == -1 && errno != EINTR { return (-1, timedOut) }
                if !timedOut && clock.now >= deadline {
                    timedOut = true
                    kill(pid, SIGTERM)
                    killAt = clock.now + .seconds(5)
                }
                if let instant = killAt, clock.now >= instant {
                    kill(pid, SIGKILL)
                    killAt = nil
                }
                usleep(pause)
                pause = min(pause * 2, 20_000)
            }
            let signal = status & 0x7f
            return (signal == 0 ? (status >> 8) & 0xff : 128 + signal, timedOut)
        }

        /// A C function of this process by name: the `_np` spawn actions are not in the headers Swift imports.
        private static func symbol<Function>(_ name: String, as type: Function.Type) -> Function? {
            #if canImport(Darwin)
            let everywhere = UnsafeMutableRawPointer(bitPattern: -2)  // RTLD_DEFAULT
            #else
            let everywhere: UnsafeMutableRawPointer? = nil  // RTLD_DEFAULT
            #endif
            guard let address = dlsym(everywhere, name) else { return nil }
            return unsafeBitCast(address, to: type)
        }
    }
}
