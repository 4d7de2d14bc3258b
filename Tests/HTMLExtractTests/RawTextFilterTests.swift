import Foundation
import Testing

@testable import HTMLExtract

/// The scan that spares libxml2 the script and style bodies must drop those and nothing else.
@Suite struct RawTextFilterTests {
    static func filtered(_ html: String) -> String? {
        Array(html.utf8).withUnsafeBytes { RawTextFilter.filter($0) }.map { String(decoding: $0, as: UTF8.self) }
    }

    @Test(arguments: [
        // Bodies go, the elements stay; a `</p>` or `<` inside a script is not markup.
        ("<p>a</p><script>if (a<b) x = \"</p>\";</script><p>b</p>", "<p>a</p><script></script><p>b</p>"),
        ("<style>p > a { color: red }</style><p>x</p>", "<style></style><p>x</p>"),
        // Any case, attributes, and a body that ends at `</script` like libxml2 ends it.
        ("<SCRIPT type=\"text/javascript\" async>var a = 1</ScRiPt ><p>x</p>", "<SCRIPT type=\"text/javascript\" async></ScRiPt ><p>x</p>"),
        // A `<script>` inside a comment is not an element; the real one after it is.
        ("<!-- <script> --><p>kept</p><script>x</script>", "<!-- <script> --><p>kept</p><script></script>"),
        // An unclosed script runs to the end, as in libxml2.
        ("<p>x</p><script>var a = '<p>not text</p>'", "<p>x</p><script>"),
        // libxml2 closes `<script … />` at once, so what follows is page text.
        ("<script src=\"a.js\"/><p>Article</p><script>x</script>", "<script src=\"a.js\"/><p>Article</p><script></script>"),
        // An SVG drawing goes to the `</svg>` that closes it, nested drawings counted.
        ("<svg viewBox=\"0 0 1 1\"><svg><path d=\"M0\"/></svg><text>icon</text></svg><p>after</p>", "<svg viewBox=\"0 0 1 1\"></svg><p>after</p>"),
        ("<svg/><p>kept</p><svg><use href=\"#i\"/></SVG>", "<svg/><p>kept</p><svg></SVG>"),
    ])
    func scriptAndStyleBodiesGo(input: String, expected: String) {
        #expect(Self.filtered(input) == expected)
    }

    @Test(arguments: [
        // JSON-LD is read for metadata.
        "<script type=\"application/ld+json\">{\"@type\":\"NewsArticle\"}</script><p>x</p>",
        // A `>` or `<script>` inside a quoted attribute value does not end the tag or start a script.
        "<div title=\"a > b <script>\">text</div><p data-x='<style>'>more</p>",
        // Names that only start like script or style.
        "<scripts>a</scripts><stylebox>b</stylebox>",
        // An SVG that is never closed is left to the parser's recovery.
        "<svg><path/><p>text</p>",
        // Nothing to drop.
        "<p>plain</p>",
        "",
    ])
    func everythingElseIsLeftAlone(input: String) {
        #expect(Self.filtered(input) == nil)
    }

    @Test func onlyForEncodingsWhereMarkupIsASCII() {
        #expect(RawTextFilter.applies(to: "UTF-8"))
        #expect(RawTextFilter.applies(to: "SHIFT_JIS"))
        #expect(!RawTextFilter.applies(to: "UTF-16LE"))
        #expect(!RawTextFilter.applies(to: "UTF-32BE"))
    }

    @Test func aUTF16PageStillLosesItsScripts() {
        let html = "<html><body><script>var secret = 1;</script><p>A paragraph written in UTF-16, long enough to be kept as text.</p></body></html>"
        let data = Data([0xFF, 0xFE]) + html.data(using: .utf16LittleEndian)!
        let text = HTMLDocument(data: data).extract().text
        #expect(text.contains("A paragraph written in UTF-16"))
        #expect(!text.contains("secret"))
    }

    @Test func metaCharsetIsFoundInAnyCase() {
        #expect(Charset.detect(Data("<HEAD><META CHARSET=\"Windows-1252\"></HEAD>".utf8)).name == "WINDOWS-1252")
        #expect(Charset.detect(Data("<meta name=x><meta content='text/html; charset=EUC-JP' http-equiv=content-type>".utf8)).name == "EUC-JP")
        #expect(Charset.detect(Data("<meta charset=>".utf8)).source == "default")
    }
}
