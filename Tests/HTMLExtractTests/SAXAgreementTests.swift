import Foundation
@_spi(Agreement) import HTMLExtract
import Testing

/// The SAX reading (straight into the node array) against the DOM reading (libxml2's tree, then walked): the two must
/// give the same nodes, field for field, and the same title, metadata tags, JSON-LD and language, on tricky markup and
/// on every development page at hand (`ERRAND_EXTRACTION_PAGES=DIR` of `.html` files, else the gzipped pages of
/// `../shared/extraction-dev*/html`, skipped when neither is there).
@Suite(.enabled(if: HTMLDocument.readsThroughSAX, "this libxml2 is not 2.9: pages are read through the DOM, and the SAX reading is not used"))
struct SAXAgreementTests {
    @Test(arguments: [
        "<p>one</p>",
        "<html><head><title>T <b>x</b><script>no</script> end</title><meta name=a content=b><link rel=canonical href=/c></head><body><p>a<!-- c -->b<?pi x?>c</p></body></html>",
        "text before any tag<div>in <span>a</span> div</div> after",
        "<title></title><title>Second</title><p>x",
        "<title>First<title>Nested</title></title>",
        "<body><head><title>late head</title><meta charset=x></head><p>y</p></body>",
        "<div hidden class=A id=B style='display: none'>h</div><input disabled checked><p aria-hidden=true>z</p>",
        "<script type=\"application/ld+json\">{\"@type\": \"Article\"}</script><p>body</p>",
        "<svg><title>svg title</title><text>x</text></svg><noscript><p>ns</p><meta name=n></noscript><p>after</p>",
        "<table><tr><td>a<td>b</table> <ul><li>1<li>2</ul>\n\n<p>  \n</p><p>&lt;b&gt;leaked&lt;/b&gt;</p><p><b>bold</b> <i>it</i></p>",
        "<!DOCTYPE html PUBLIC \"-//W3C//DTD HTML 4.01//EN\"><html><body>  <p>strict</p>  </body></html>",
        "<html lang=fr><body><p>a</p></body></html><p>after html</p>",
        "<p>x<![CDATA[ y ]]>z</p><style>s{}</style>w",
        "",
        "   ",
        "<frameset><frame src=a></frameset>",
        // A document type in the middle of the page is the document's, not the element's: the text around it is one.
        "<article>\n\t<!DOCTYPE html PUBLIC \"-//W3C//DTD HTML 4.0 Transitional//EN\">\n<html><body><p>inner</p></body></html></article>",
        // An element after the root goes under the root, unless something else is the document's first child.
        "<html><body><p>a</p></body></html><div>after</div>",
        "<!-- first --><html><body><p>a</p></body></html><div>after</div>",
        "<!DOCTYPE html><html><body><p>a</p></body></html><div>after</div>",
        // Nested past libxml2's limit (256): the tree builder stops the parse there.
        String(repeating: "<div><span>x</span>", count: 300) + "<p>too deep</p>",
        String(repeating: "<b>", count: 400) + "deep text",
        // Prefixed names are named by their local part.
        "<div><g:plusone size=x></g:plusone><fb:like>l</fb:like><a:b:c>x</a:b:c><x:>y</x:><:z>z</:z></div>",
    ])
    func trickyMarkupReadsTheSame(_ html: String) {
        #expect(HTMLDocument.readingsDisagree(Data(html.utf8)) == nil, "\(html)")
    }

    /// Found by fuzz-html: a title whose text nodes hold invalid UTF-8 is decoded one text node at a time, as the DOM
    /// reading decodes it, so that a broken sequence split between two nodes reads the same.
    @Test func aTitleWithBrokenBytesAcrossTextNodesReadsTheSame() {
        var bytes = Array("<html><head><title>Moon \u{E5}".utf8)
        bytes += [0xE5, 0xDF, 0xDF]
        bytes += Array("<title>".utf8) + [UInt8](repeating: 0x86, count: 12) + Array("A page</title></head><body><p>x</p></body></html>".utf8)
        bytes += [0xE5, 0xDF] + Array("<!-- c -->".utf8) + [0xDF, 0x86]
        #expect(HTMLDocument.readingsDisagree(Data(bytes)) == nil)
        var split = Array("<title>a".utf8) + [0xE5, 0xDF]
        split += Array("<b>".utf8) + [0xDF] + Array("b</b>c</title>".utf8)
        #expect(HTMLDocument.readingsDisagree(Data(split)) == nil)
    }

    @Test(.enabled(if: !Self.pageSources.isEmpty, "no development pages here: set ERRAND_EXTRACTION_PAGES=DIR, or keep ../shared/extraction-dev beside the repository"))
    func everyDevelopmentPageReadsTheSame() async throws {
        // Seconds of parsing (and gunzipping): on a thread of its own, not the cooperative pool other tests' servers need.
        let (count, disagreements) = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result {
                    let pages = try Self.pages()
                    var disagreements: [String] = []
                    for (name, data) in pages {
                        if let difference = HTMLDocument.readingsDisagree(data) { disagreements.append("\(name): \(difference)") }
                    }
                    return (pages.count, disagreements)
                })
            }
        }
        #expect(count > 0)
        #expect(disagreements.isEmpty, "\(disagreements.count) of \(count) pages: \(disagreements.prefix(10).joined(separator: "\n"))")
    }

    /// The page files: `.html` in `ERRAND_EXTRACTION_PAGES`, else `.html.gz` in the development corpora beside the
    /// repository.
    static let pageSources: [URL] = {
        let manager = FileManager.default
        if let folder = ProcessInfo.processInfo.environment["ERRAND_EXTRACTION_PAGES"] {
            let names = (try? manager.contentsOfDirectory(atPath: folder)) ?? []
            return names.filter { $0.hasSuffix(".html") }.sorted().map { URL(fileURLWithPath: folder).appendingPathComponent($0) }
        }
        let shared = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared")
        return ["extraction-dev", "extraction-dev2"].flatMap { corpus -> [URL] in
            let folder = shared.appendingPathComponent(corpus).appendingPathComponent("html")
            let names = (try? manager.contentsOfDirectory(atPath: folder.path)) ?? []
            return names.filter { $0.hasSuffix(".html.gz") }.sorted().map { folder.appendingPathComponent($0) }
        }
    }()

    static func pages() throws -> [(String, Data)] {
        // Blocking: call it off the cooperative pool.
        try pageSources.map { file in
            guard file.pathExtension == "gz" else { return (file.lastPathComponent, try Data(contentsOf: file)) }
            let gzip = Process()
            gzip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            gzip.arguments = ["gzip", "-dc", file.path]
            let output = Pipe()
            gzip.standardOutput = output
            try gzip.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            gzip.waitUntilExit()
            return (file.deletingPathExtension().lastPathComponent, data)
        }
    }
}

