import Foundation
@_spi(Agreement) import HTMLExtract

/// Whether to compare the extraction with the raw-text pre-filter against one without it (FUZZ_HTML_DIFF=0 turns it off).
let differential = ProcessInfo.processInfo.environment["FUZZ_HTML_DIFF"] != "0"

/// The path of `errand extract` for a file: `HTMLDocument(data:)` (charset detection, the raw-text pre-filter,
/// libxml2), `extract()`, and the text, Markdown and JSON outputs as the CLI renders them. Nothing may trap.
///
/// And two promises. The SAX reading agrees with the DOM reading node for node (`HTMLDocument.readingsDisagree`).
/// The pre-filter's promise, that it never changes what is extracted: a page read as UTF-8 that is valid UTF-8 is
/// also parsed as UTF-16LE (with a BOM), which the filter leaves alone (it applies only where markup is ASCII
/// bytes) and libxml2 reads as the same characters; both must give the same title, text, Markdown, links and metadata.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    let document = HTMLDocument(data: data)
    let extraction = document.extract()
    let markdown = (extraction.title.isEmpty ? "" : "# \(extraction.title)\n\n") + extraction.markdown + "\n"
    let text = extraction.text + "\n"
    _ = (markdown.utf8.count, text.utf8.count, document.title, document.encoding.name)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    _ = try? encoder.encode(extraction)

    // The SAX reading (the one used) against the DOM reading, its oracle: the same nodes, title and metadata tags.
    if let difference = HTMLDocument.readingsDisagree(data) {
        fatalError("the SAX and DOM readings disagree: \(difference)")
    }

    guard differential, document.encoding.name == "UTF-8", var page = String(validating: data, as: UTF8.self) else { return 0 }
    if page.hasPrefix("\u{FEFF}") { page.removeFirst() }
    // libxml2 is given the encoding, so a `<meta charset>` in the page does not switch it; but UTF-16 code units can
    // spell `<meta charset=…>` in bytes, which Charset.detect would read first.
    let utf16 = Data([0xFF, 0xFE]) + page.data(using: .utf16LittleEndian)!
    guard Charset.detect(utf16).name == "UTF-16LE" else { return 0 }
    let unfiltered = HTMLDocument(data: utf16).extract()
    if unfiltered != extraction {
        let which = [
            unfiltered.title != extraction.title ? "title" : nil, unfiltered.text != extraction.text ? "text" : nil,
            unfiltered.markdown != extraction.markdown ? "markdown" : nil, unfiltered.links != extraction.links ? "links" : nil,
            unfiltered.metadata != extraction.metadata ? "metadata" : nil,
        ].compactMap { $0 }
        fatalError("the raw-text pre-filter changed the extraction (\(which.joined(separator: ", "))):\nfiltered:   \(extraction.text.debugDescription.prefix(400))\nunfiltered: \(unfiltered.text.debugDescription.prefix(400))")
    }
    return 0
}
