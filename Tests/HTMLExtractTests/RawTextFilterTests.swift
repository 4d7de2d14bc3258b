import Foundation
import ErrandTesting
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

    @Test func onlyForBytesWhereMarkupIsASCII() {
        func prepared(_ encoding: String, _ bytes: [UInt8] = Array("<p>x</p>".utf8)) -> PageBytes {
            bytes.withUnsafeBytes { PageBytes.prepare($0, encoding: encoding) }
        }
        // Decoded to UTF-8 first wherever iconv knows the encoding: then the scan is safe.
        for encoding in ["UTF-8", "SHIFT_JIS", "ISO-2022-JP", "UTF-7", "WINDOWS-1252"] {
            let page = prepared(encoding)
            #expect(page.scannable && page.encoding == "UTF-8", "\(encoding)")
        }
        let utf16 = prepared("UTF-16LE", Array("<p>x</p>".data(using: .utf16LittleEndian)!))
        #expect(utf16.scannable && utf16.encoding == "UTF-8" && utf16.bytes == Array("<p>x</p>".utf8))
        // An encoding nobody here knows is left to libxml2 as it is; a stateful one is never scanned.
        let unknown = prepared("X-NO-SUCH-CHARSET")
        #expect(unknown.bytes == nil && unknown.encoding == "X-NO-SUCH-CHARSET" && unknown.scannable)
        #expect(PageBytes.isStateful("ISO-2022-KR") && PageBytes.isStateful("HZ-GB-2312") && PageBytes.isStateful("UTF-7"))
    }

    /// libxml2 2.9 ends a page at a NUL byte: they are dropped first, so the rest of the page is read.
    @Test func aPageWithANULInItsBodyIsReadWhole() {
        let html = "<html><body><article><p>" + String(repeating: "The first paragraph of the article, before the stray byte. ", count: 3)
            + "\u{0}</p><p>" + String(repeating: "The second paragraph, after the NUL byte, is read as well. ", count: 3) + "</p></article></body></html>"
        let text = HTMLDocument(data: Data(html.utf8)).extract().text
        #expect(text.contains("The first paragraph") && text.contains("The second paragraph, after the NUL byte"), "\(text)")
        #expect(!text.contains("\u{0}"))
    }

    /// ISO-2022-JP and UTF-7 write characters with ASCII bytes (七 is `ESC $ B < 7 ESC ( B`): decoded before the scan
    /// and the parser, such pages are read whole, their scripts dropped.
    @Test(arguments: [("iso-2022-jp", String.Encoding.iso2022JP), ("utf-7", nil)])
    func aPageInAStatefulEncodingIsReadWhole(_ charset: String, _ encoding: String.Encoding?) throws {
        let body = String(repeating: "七月七日の記事です。東京の天気は晴れでした。", count: 4)
        let html = "<html><head><meta charset=\"\(charset)\"><title>七夕</title><script>var x = \"<p>not text</p>\";</script></head><body><article><h1>七夕の見出し</h1><p>\(body)</p><p>Second paragraph, in ASCII words, after the Japanese one.</p></article></body></html>"
        let data: Data
        if let encoding {
            data = try #require(html.data(using: encoding))
        } else {
            data = Data(Self.utf7(html).utf8)
        }
        let document = HTMLDocument(data: data)
        let extraction = document.extract()
        #expect(document.encoding.name == charset.uppercased())
        #expect(extraction.title == "七夕")
        #expect(extraction.text.contains(body), "\(extraction.text)")
        #expect(extraction.text.contains("Second paragraph, in ASCII words"))
        #expect(!extraction.text.contains("not text"))
        #expect(document.parserMessages.isEmpty, "\(document.parserMessages)")
    }

    /// Shift_JIS with bytes that are no character: libxml2 2.9 printed "encoding error" to stderr and stopped reading
    /// ("I/O error : encoder error"); decoded here, each bad byte is U+FFFD and the rest of the page is read.
    @Test func invalidBytesNoLongerEndThePageOrReachStderr() {
        var bytes = Array("<html><head><meta charset=\"shift_jis\"><title>T</title></head><body><article><p>\(String(repeating: "Text with broken bytes. ", count: 5))".utf8)
        bytes += [0x82, 0xFF, 0x81, 0x20, 0x80, 0xFE]
        bytes += Array("</p><p>\(String(repeating: "The rest of the article is read as well. ", count: 4))</p></article></body></html>".utf8)
        let document = HTMLDocument(data: Data(bytes))
        let text = document.extract().text
        #expect(text.contains("The rest of the article is read as well."), "\(text)")
        #expect(text.contains("\u{FFFD}"))
        #expect(document.parserMessages.isEmpty, "\(document.parserMessages)")
    }

    /// Random bytes in every encoding errand decodes: the result is always valid UTF-8 (each bad sequence U+FFFD), and
    /// valid input round-trips.
    @Test func decodingRandomBytesAlwaysGivesValidUTF8() throws {
        var random = SplitMix64(seed: 0x2612)
        // (HZ-GB-2312 is not among them: glibc's iconv does not know it, and such a page is left to libxml2 unscanned.)
        let encodings = ["SHIFT_JIS", "EUC-JP", "GBK", "BIG5", "EUC-KR", "ISO-2022-JP", "UTF-7", "WINDOWS-1252", "UTF-16LE", "KOI8-R"]
        for round in 0..<400 {
            let count = Int(random.next() % 300)
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let encoding = encodings[round % encodings.count]
            let decoded = try #require(bytes.withUnsafeBytes { PageBytes.decode($0, from: encoding) }, "\(encoding)")
            #expect(String(validating: decoded, as: UTF8.self) != nil, "\(encoding): \(bytes)")
        }
        // Text each encoding can hold comes back as it was.
        for (text, encoding, name) in [
            ("日本語のテキスト、終わり。", String.Encoding.shiftJIS, "SHIFT_JIS"), ("Ünïcödé 日本語 中文 한국어 — done", .utf16LittleEndian, "UTF-16LE"),
            ("日本語のテキスト", .iso2022JP, "ISO-2022-JP"), ("Café, naïve — déjà", .windowsCP1252, "WINDOWS-1252"),
        ] {
            let data = try #require(text.data(using: encoding), "\(name)")
            let decoded = try #require(data.withUnsafeBytes { PageBytes.decode($0, from: name) }, "\(name)")
            #expect(String(validating: decoded, as: UTF8.self) == text, "\(name)")
        }
    }

    /// A UTF-7 encoder (RFC 2152), for the test page: Foundation has none on Linux.
    static func utf7(_ text: String) -> String {
        let direct = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'(),-./:? \t\r\n!\"#$%&*;<=>@[]^_`{|}".unicodeScalars)
        var output = ""
        var pending: [UInt16] = []
        func flush() {
            guard !pending.isEmpty else { return }
            var data = Data()
            for unit in pending { data.append(UInt8(unit >> 8)); data.append(UInt8(unit & 0xFF)) }
            output += "+" + data.base64EncodedString().replacingOccurrences(of: "=", with: "") + "-"
            pending = []
        }
        for scalar in text.unicodeScalars {
            if direct.contains(scalar) && scalar != "+" {
                flush()
                output.unicodeScalars.append(scalar)
            } else {
                pending += Array(String(scalar).utf16)
            }
        }
        flush()
        return output
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
