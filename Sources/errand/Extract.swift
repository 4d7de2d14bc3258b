import ArgumentParser
import Foundation
import HTMLExtract
import ResponsesAPI

/// `errand extract`: the main content of HTML pages.
struct Extract: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the main content of HTML files (or stdin) as Markdown, text or JSON.",
        discussion: "With several inputs, --jsonl prints one JSON object per input, so a whole folder is extracted in one process."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case markdown, text, json
    }

    @Argument(help: "HTML files, or '-' for stdin (the default).")
    var inputs: [String] = []

    @Option(help: "markdown (default), text or json.")
    var format: Format = .markdown

    @Flag(help: "One JSON object per input: {input, title, text, markdown, links, metadata}.")
    var jsonl = false

    func run() throws {
        let inputs = self.inputs.isEmpty ? ["-"] : self.inputs
        var failed = false
        for input in inputs {
            if input.hasPrefix("http://") || input.hasPrefix("https://") {
                printError("errand: \(input): fetching URLs arrives with the fetch_url tool; save the page and pass the file")
                failed = true
                continue
            }
            let data: Data
            do {
                data = input == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: input))
            } catch {
                printError("errand: cannot read \(input): \(error.localizedDescription)")
                failed = true
                continue
            }
            let extraction = HTMLDocument(data: data).extract()
            if jsonl {
                var object = try JSONValue(encoding: extraction)
                object["input"] = .string(input)
                writeOut(object.jsonString + "\n")
                continue
            }
            switch format {
            case .markdown:
                writeOut((extraction.title.isEmpty ? "" : "# \(extraction.title)\n\n") + extraction.markdown + "\n")
            case .text:
                writeOut(extraction.text + "\n")
            case .json:
                writeOut(pretty(try JSONValue(encoding: extraction)) + "\n")
            }
        }
        if failed { throw ExitCode(1) }
    }
}
