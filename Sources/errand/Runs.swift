import ArgumentParser
import ErrandCore
import Foundation
import ResponsesAPI

/// `errand runs`: the journaled runs, and one run's steps.
struct Runs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List journaled runs, or show one run's steps.",
        subcommands: [List.self, Show.self],
        defaultSubcommand: List.self
    )

    /// Options both subcommands share.
    struct Folder: ParsableArguments {
        @Option(help: "Where journals are written (default: ERRAND_JOURNAL_DIR, or .errand/runs).")
        var journalDir: String?

        @OptionGroup var database: DatabaseOption

        var store: FileRunStore { FileRunStore.standard(folder: journalDir) }

        func validate() throws {
            if journalDir != nil, database.given { throw ValidationError("choose --journal-dir (files) or --database (PostgreSQL), not both") }
        }
    }

    /// `errand runs [list]`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List journaled runs, oldest first.")

        @OptionGroup var folder: Folder

        @Flag(help: "Print one JSON object per run, one a line.")
        var json = false

        func run() async throws {
            let runs: [RunSummary]
            let location: String
            do {
                (runs, location) = try await folder.database.withStore(journalDir: folder.journalDir) { store in (try await store.list(), store.location) }
            } catch let error as CoreError {
                printError("errand: \(error)")
                throw ExitCode(1)
            }
            if json {
                for run in runs { writeOut(run.jsonValue.jsonString + "\n") }
                return
            }
            guard !runs.isEmpty else {
                printError("errand: no runs in \(location)")
                return
            }
            for line in RunText.runsTable(runs) { writeOut(line + "\n") }
        }
    }

    /// `errand runs show RUN_ID`.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a run's steps, one a line.")

        @Argument(help: "The run's id, or 'last'.")
        var runID: String

        @OptionGroup var folder: Folder

        @Flag(help: "Print the journal's events as they are, one JSON object a line.")
        var json = false

        func run() async throws {
            let records: [JournalRecord]
            let runID = runID
            do {
                records = try await folder.database.withStore(journalDir: folder.journalDir) { store in try await store.existingRecords(runID) }
            } catch let error as CoreError {
                printError("errand: \(error)")
                throw ExitCode(2)
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                for record in records { writeOut(String(decoding: try encoder.encode(record), as: UTF8.self) + "\n") }
                return
            }
            for line in RunText.transcript(records) { writeOut(line + "\n") }
        }
    }
}
