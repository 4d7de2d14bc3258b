import ArgumentParser
import ErrandCore
import Foundation
import ResponsesAPI

/// `errand runs`: the journaled runs, and one run's steps.
struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List journaled runs, or show one run's steps.",
        subcommands: [List.self, Show.self],
        defaultSubcommand: List.self
    )

    /// Options both subcommands share.
    struct Folder: ParsableArguments {
        @Option(help: "Where journals are written (default: ERRAND_JOURNAL_DIR, or .errand/runs).")
        var journalDir: String?

        var store: FileRunStore { FileRunStore.standard(folder: journalDir) }
    }

    /// `errand runs [list]`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List journaled runs, oldest first.")

        @OptionGroup var folder: Folder

        @Flag(help: "Print one JSON object per run, one a line.")
        var json = false

        func run() throws {
            let runs: [RunSummary]
            do {
                runs = try folder.store.listFiles()
            } catch {
                printError("errand: \(error)")
                throw ExitCode(1)
            }
            if json {
                for run in runs { writeOut(run.jsonValue.jsonString + "\n") }
                return
            }
            guard !runs.isEmpty else {
                printError("errand: no runs in \(folder.store.folder.path)")
                return
            }
            for line in RunText.runsTable(runs) { writeOut(line + "\n") }
        }
    }

    /// `errand runs show RUN_ID`.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a run's steps, one a line.")

        @Argument(help: "The run's id, or 'last'.")
        var runID: String

        @OptionGroup var folder: Folder

        @Flag(help: "Print the journal's events as they are, one JSON object a line.")
        var json = false

        func run() throws {
            let records: [JournalRecord]
            do {
                records = try Journal.read(try folder.store.existingJournal(runID))
            } catch {
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
