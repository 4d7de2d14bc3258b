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

    func run() async throws {
        let inputs = self.inputs.isEmpty ? ["-"] : self.inputs
        var failed = false
        for input in inputs {
            let document: HTMLDocument
            do {
                if input.hasPrefix("http://") || input.hasPrefix("https://") {
                    // The same client and rules as the fetch_url tool: the address is checked before connecting.
                    let policy = NetworkPolicy(allowHosts: allowHost, allowPrivateNetwork: allowPrivateNetwork)
                    let page = try await FetchURL(policy: policy).fetch(input)
                    document = HTMLDocument(data: page.body, url: page.url, contentType: page.contentType)
                } else {
                    let data = input == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: input))
                    document = HTMLDocument(data: data)
                }
            } catch let error as ToolError {
                printError("errand: \(error.message)")
                failed = true
                continue
            } catch {
                printError("errand: cannot read \(input): \(error.localizedDescription)")
                failed = true
                continue
            }
            let extraction = document.extract()
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
