import ArgumentParser
import Foundation
import ErrandCore
import ErrandTools
import HTMLExtract
import ResponsesAPI

/// `errand extract`: the main content of HTML pages.
struct Extract: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the main content of HTML files (or stdin) as Markdown, text or JSON.",
        discussion: "With several inputs, --jsonl prints one JSON object per input, so a whole folder is extracted in one process."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case markdown, text, json
    }

    @Argument(help: "HTML files, http(s) URLs, or '-' for stdin (the default).")
    var inputs: [String] = []

    @Option(help: "markdown (default), text or json.")
    var format: Format = .markdown

    @Flag(help: "One JSON object per input: {input, title, text, markdown, links, metadata}.")
    var jsonl = false

    @Option(help: "A host URLs may be fetched from even if it resolves to a private address (repeatable).")
    var allowHost: [String] = []

    @Flag(help: "Allow fetching from private, loopback and link-local addresses.")
    var allowPrivateNetwork = false

    @Option(help: "How many pages are extracted at once (default: the number of cores). Output keeps the input order.")
    var jobs: Int?

    @Flag(help: "Say on stderr which encoding each page was read in, and what libxml2 said about it (encoding errors).")
    var verbose = false

    func run() async throws {
        let inputs = self.inputs.isEmpty ? ["-"] : self.inputs
        let jobs = max(1, self.jobs ?? ProcessInfo.processInfo.activeProcessorCount)
        let policy = NetworkPolicy(allowHosts: allowHost, allowPrivateNetwork: allowPrivateNetwork)
        let format = self.format
        let jsonl = self.jsonl
        let verbose = self.verbose
        var failed = false
        // Pages are read, parsed and extracted on up to `jobs` tasks; each one's output is printed as soon as every
        // input before it has been, so the output is the same as one page at a time, and at most `jobs` pages (plus
        // the ones waiting for an earlier, slower page) are held in memory.
        try await withThrowingTaskGroup(of: (Int, Result<String, ExtractFailure>).self) { group in
            var next = 0
            var running = 0
            var pending: [Int: Result<String, ExtractFailure>] = [:]
            var printed = 0
            func fill() {
                while running < jobs, next < inputs.count, pending.count < jobs * 4 {
                    let index = next
                    let input = inputs[index]
                    group.addTask { (index, await Self.output(for: input, format: format, jsonl: jsonl, policy: policy, verbose: verbose)) }
                    next += 1
                    running += 1
                }
            }
            fill()
            while let (index, result) = try await group.next() {
                running -= 1
                pending[index] = result
                while let ready = pending.removeValue(forKey: printed) {
                    switch ready {
                    case .success(let text): writeOut(text)
                    case .failure(let failure):
                        printError("errand: \(failure.message)")
                        failed = true
                    }
                    printed += 1
                }
                fill()
            }
        }
        if failed { throw ExitCode(1) }
    }

    struct ExtractFailure: Error {
        var message: String
    }

    /// A JSON line: the extraction and the input it came from.
    struct Line: Encodable {
        var input: String
        var extraction: Extraction
        enum CodingKeys: String, CodingKey { case input, title, text, markdown, links, metadata }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(input, forKey: .input)
            try container.encode(extraction.title, forKey: .title)
            try container.encode(extraction.text, forKey: .text)
            try container.encode(extraction.markdown, forKey: .markdown)
            try container.encode(extraction.links, forKey: .links)
            try container.encode(extraction.metadata, forKey: .metadata)
        }
    }

    /// Reads, parses and extracts one input, and renders what is printed for it.
    static func output(for input: String, format: Format, jsonl: Bool, policy: NetworkPolicy, verbose: Bool = false) async -> Result<String, ExtractFailure> {
        let document: HTMLDocument
        do {
            if input.hasPrefix("http://") || input.hasPrefix("https://") {
                // The same client and rules as the fetch_url tool: the address is checked before connecting.
                let page = try await FetchURL(policy: policy).fetch(input)
                document = HTMLDocument(data: page.body, url: page.url, contentType: page.contentType)
            } else {
                let data = input == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: input))
                document = HTMLDocument(data: data)
            }
        } catch let error as ToolError {
            return .failure(ExtractFailure(message: error.message))
        } catch {
            return .failure(ExtractFailure(message: "cannot read \(input): \(error.localizedDescription)"))
        }
        if verbose {
            let notes = ["read as \(document.encoding.name) (from \(document.encoding.source))"] + document.parserMessages.map { "libxml2: \($0)" }
            printError(notes.map { "errand: \(input): \($0)" }.joined(separator: "\n"))
        }
        let extraction = document.extract()
        do {
            if jsonl {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                return .success(String(decoding: try encoder.encode(Line(input: input, extraction: extraction)), as: UTF8.self) + "\n")
            }
            switch format {
            case .markdown:
                return .success((extraction.title.isEmpty ? "" : "# \(extraction.title)\n\n") + extraction.markdown + "\n")
            case .text:
                return .success(extraction.text + "\n")
            case .json:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                return .success(String(decoding: try encoder.encode(extraction), as: UTF8.self) + "\n")
            }
        } catch {
            return .failure(ExtractFailure(message: "cannot encode the extraction of \(input): \(error)"))
        }
    }
}
