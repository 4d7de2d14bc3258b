import Foundation
import Testing

@testable import HTMLExtract

/// Inputs the libFuzzer target `fuzz-html` in Benchmarks/Fuzz found (`Benchmarks/fuzz.sh fuzz-html`), and the cases
/// working them out turned up. Its check: the raw-text pre-filter never changes what is extracted. The same page as
/// UTF-16LE is parsed without the filter (it applies only where markup is ASCII bytes), so both must agree.
@Suite struct FuzzRegressionTests {
    static func extraction(_ data: Data) -> Extraction { HTMLDocument(data: data).extract() }

    static func unfiltered(_ data: Data) -> Extraction {
        let page = String(decoding: data, as: UTF8.self)
        return HTMLDocument(data: Data([0xFF, 0xFE]) + page.data(using: .utf16LittleEndian)!).extract()
    }

    /// The fuzzer's inputs (base64), minimized and as found.
    @Test(arguments: [
        // `<s><style></s>>`: an end tag at the very start of a style body is markup to libxml2 (it closed the `<s>` and
        // the style with it, and `>` was text); the filter dropped it with the rest of the unclosed body.
        "PHM+PHN0eWxlPjwvcz4+",
        // The text after a JSON-LD script whose JSON holds `<style>`: its body was kept but scanned as markup, and the
        // `<style>` in it dropped the page to its end.
        "PHNjcmlwdCB0eXBlPSJhcHBsaWNhdGlvbi9sZCtqc29uIj57IkB0eXBlIjoiTmV3c0FydGljPHN0eWxlPmxlIn08L3NjcmlwdD48cD54PC9wPg==",
        // `<title><style>:`: the title was the text of the whole element, the code of a style or script libxml2 nests
        // in a title left open included.
        "PHRpdGxlPjxzdHlsZT46",
        // `<style>\0</style>>`: a NUL byte at the start of a body ends libxml2's parse; dropped with the body, it did not.
        "PHN0eWxlPgA8L3N0eWxlPj4=",
        "PHN0eWxlPgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPC9zdHlsZT48cD54PC9wPg==",
    ])
    func fuzzerInputsExtractAsWithoutTheFilter(_ base64: String) throws {
        let data = try #require(Data(base64Encoded: base64))
        #expect(Self.extraction(data) == Self.unfiltered(data))
    }

    /// Where the scan read markup otherwise than libxml2 2.9 does (in recovery mode) and dropped page text.
    @Test(arguments: [
        // An end tag runs to its first `>`, quotes or not.
        #"<p>x</p a="<script>"><p>text</p><script>y</script>"#,
        // A processing instruction and a doctype run to their first `>`.
        #"<?x <script>?><p>text</p><script>y</script>"#,
        #"<!DOCTYPE x "<script>"><p>text</p><script>y</script>"#,
        // `--!>` ends a comment.
        #"<!--x--!><script>a="-->";b="<style>";</script><p>text</p><style>z</style>"#,
        // A `</svg` in an attribute value is not an end tag.
        #"<svg><path d="</svg>"/></svg><p>text</p>"#,
        // An ancestor's end tag closes a drawing left open; an element libxml2 knows closes another (`<div>` a `<p>`).
        #"<div><svg></div><p>text</p></svg>"#,
        #"<p><svg><p><div></div></p>TEXT</svg>"#,
        // A longer name after `</style` (`</styles>`) does not end the body.
        #"<style>a</styles><script></style><p>text</p></script>"#,
        // An end tag libxml2 drops at the start of a body, and a start tag that closes the element.
        #"<script></scripty><style></script><p>text</p></style>"#,
        #"<div><style><body>x</style>y"#,
        #"<script><noscript>x</script>y"#,
        #"<div><script></div>x</script>y"#,
        // A NUL byte in a drawing ends libxml2's parse.
        "<svg>\u{0}</svg><p>text</p>",
    ])
    func pagesExtractAsWithoutTheFilter(_ page: String) {
        let data = Data(page.utf8)
        #expect(Self.extraction(data) == Self.unfiltered(data), "\(Self.extraction(data).text.debugDescription)")
    }

    /// Where libxml2's reading is not followed, the page is left whole; ordinary pages are still filtered.
    @Test func unclearPagesAreLeftAlone() {
        func filtered(_ html: String) -> String? {
            Array(html.utf8).withUnsafeBytes { RawTextFilter.filter($0) }.map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(filtered("<s><style></s>>") == nil)
        #expect(filtered("<style>\u{0}</style><p>x</p>") == nil)
        #expect(filtered(#"<!DOCTYPE x SYSTEM "a>b"><script>x</script>"#) == nil)
        #expect(filtered("<style>a</styles><p>x</p></style>") == nil)
        #expect(filtered(#"<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd"><script>x</script><p>y</p>"#)
            == #"<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd"><script></script><p>y</p>"#)
        #expect(filtered(#"<script type="application/ld+json">{"a": "<style>"}</script><style>p {}</style><p>x</p>"#)
            == #"<script type="application/ld+json">{"a": "<style>"}</script><style></style><p>x</p>"#)
        #expect(filtered(#"<p data-x=a="<script>">x</p><svg><g><path d="M0"/></g><title>icon</title></svg>"#)
            == #"<p data-x=a="<script>">x</p><svg></svg>"#)
    }
}
