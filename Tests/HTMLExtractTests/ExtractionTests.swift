import Foundation
import HTMLExtract
import Testing

@Suite struct ExtractionTests {
    static let article = """
        <html lang="en"><head><title>Site | The Moon Story</title>
        <meta property="og:title" content="The Moon Story"><meta name="author" content="Ada Writer">
        <meta property="article:published_time" content="2026-11-01T10:00:00Z"><meta property="og:site_name" content="Daily Sky">
        <link rel="canonical" href="/news/moon">
        <script type="application/ld+json">{"@context":"https://schema.org","@type":"NewsArticle","headline":"The Moon Story"}</script>
        <style>.x{color:red}</style><script>var tracking = 1;</script></head>
        <body>
          <header><nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav></header>
          <div class="cookie-banner">We use cookies, to make things better, honestly, trust us.</div>
          <main><article>
            <h1>The Moon Story</h1>
            <p>The moon rose slowly over the quiet harbour, and the fishermen, who had seen it a thousand times, still stopped to look.</p>
            <p>Nobody could say why this night was different, but the water held the light longer than usual, and the gulls were silent.</p>
            <h2>What the <em>old</em> sailors said</h2>
            <p>They said it meant a good catch, <strong>a very good one</strong>, and read <a href="/tides">the tide tables</a> twice.</p>
            <ul><li>First, the nets.</li><li>Then, the boats.</li></ul>
            <pre>tide: 4.2 m</pre>
            <p hidden>This paragraph is hidden from readers.</p>
            <div class="share-buttons"><a href="https://x.example/share">Share</a> <a href="https://fb.example/share">Share</a></div>
          </article></main>
          <aside class="sidebar"><p>Most read: ten things about the sea you never knew, and more lists.</p></aside>
          <footer><p>Copyright Daily Sky, all rights reserved, since forever and a day.</p></footer>
        </body></html>
        """

    @Test func theArticleIsKeptAndTheBoilerplateGoes() {
        let extraction = HTMLDocument(html: Self.article, url: URL(string: "https://sky.example/news/moon?x=1")).extract()
        #expect(extraction.title == "The Moon Story")
        #expect(extraction.text.contains("The moon rose slowly over the quiet harbour"))
        #expect(extraction.text.contains("the gulls were silent."))
        #expect(extraction.text.contains("First, the nets."))
        for boilerplate in ["Home", "cookies", "hidden from readers", "Share", "Most read", "Copyright", "tracking", "color:red"] {
            #expect(!extraction.text.contains(boilerplate), "\(boilerplate) should be gone")
        }
    }

    @Test func markdownKeepsTheStructure() {
        let markdown = HTMLDocument(html: Self.article, url: URL(string: "https://sky.example/news/moon")).extract().markdown
        #expect(markdown.contains("## What the *old* sailors said"))
        #expect(markdown.contains("**a very good one**"))
        #expect(markdown.contains("[the tide tables](https://sky.example/tides)"))
        #expect(markdown.contains("- First, the nets.\n- Then, the boats."))
        #expect(markdown.contains("```\ntide: 4.2 m\n```"))
    }

    @Test func metadataAndLinks() {
        let extraction = HTMLDocument(html: Self.article, url: URL(string: "https://sky.example/news/moon")).extract()
        #expect(extraction.metadata["author"] == "Ada Writer")
        #expect(extraction.metadata["published"] == "2026-11-01T10:00:00Z")
        #expect(extraction.metadata["site_name"] == "Daily Sky")
        #expect(extraction.metadata["canonical"] == "https://sky.example/news/moon")
        #expect(extraction.metadata["language"] == "en")
        #expect(extraction.links.map(\.text) == ["the tide tables"])
        #expect(extraction.links.map(\.url) == ["https://sky.example/tides"])
    }

    @Test func charsetFromHTTPThenMetaThenBOM() {
        #expect(Charset.detect(Data("<p>x</p>".utf8), contentType: "text/html; charset=ISO-8859-1").name == "WINDOWS-1252")
        #expect(Charset.detect(Data("<meta charset=\"shift_jis\"><p>x</p>".utf8)).name == "SHIFT_JIS")
        #expect(Charset.detect(Data("<meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1252\">".utf8)).source == "meta")
        #expect(Charset.detect(Data([0xEF, 0xBB, 0xBF]) + Data("<p>x</p>".utf8)).source == "bom")
        #expect(Charset.detect(Data("<p>x</p>".utf8)).name == "UTF-8")
        #expect(Charset.detect(Data("<p>x</p>".utf8)).source == "default")
    }

    @Test func windows1252AndShiftJISComeOutAsText() {
        let body = "<p>Caf\u{E9} cr\u{E8}me, na\u{EF}ve \u{201C}quotes\u{201D} \u{2014} long enough to be a paragraph of the page for sure.</p>"
        let latin = ("<html><head><meta charset=\"windows-1252\"></head><body>" + body + "</body></html>").data(using: .windowsCP1252)!
        #expect(HTMLDocument(data: latin).extract().text.contains("Café crème, naïve “quotes” — long enough"))
        let japanese = "<html><head><meta charset=\"Shift_JIS\"></head><body><p>月が静かな港の上に昇り、漁師たちは何千回も見たのに、それでも立ち止まって見上げた。</p></body></html>"
        let sjis = japanese.data(using: .shiftJIS)!
        #expect(HTMLDocument(data: sjis).extract().text.contains("月が静かな港の上に昇り"))
        let header = HTMLDocument(data: "<p>Caf\u{E9} au lait and more words to make this paragraph long enough.</p>".data(using: .isoLatin1)!, contentType: "text/html; charset=iso-8859-1")
        #expect(header.extract().text.contains("Café au lait"))
    }

    @Test func externalEntitiesAndNetworkAreNeverTouched() {
        let hostile = """
            <!DOCTYPE html [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
            <html><body><p>Before &secret; after, and enough words here to make a real paragraph of text.</p>
            <img src="http://127.0.0.1:1/track.gif"></body></html>
            """
        let text = HTMLDocument(html: hostile).extract().text
        #expect(!text.contains("root:"))
        #expect(text.contains("Before"))
    }

    @Test func emptyAndBrokenInputDoNotCrash() {
        #expect(HTMLDocument(data: Data()).extract().text.isEmpty)
        #expect(HTMLDocument(html: "<<<>>><p>unclosed <b>bold <i>both").extract().text.contains("unclosed"))
        #expect(HTMLDocument(data: Data([0xFF, 0x00, 0x13, 0x37])).extract().text.count < 10)
    }
}

@Suite struct XPathTests {
    @Test func selectsElementsAttributesAndValues() throws {
        let document = HTMLDocument(html: ExtractionTests.article, url: URL(string: "https://sky.example/news/moon"))
        let paragraphs = try document.select("//article/p[not(@hidden)]")
        #expect(paragraphs.count == 3)
        #expect(paragraphs.first?.name == "p")
        #expect(paragraphs.first?.text.hasPrefix("The moon rose slowly") == true)
        let hrefs = try document.select("//nav/a/@href")
        #expect(hrefs.map(\.text) == ["/", "/news", "/sport"])
        #expect(hrefs.first?.name == "href")
        let author = try document.select("//meta[@name='author']")
        #expect(author.first?.attributes["content"] == "Ada Writer")
        #expect(try document.select("count(//li)").first?.text == "2")
        // Script bodies never reach the document; JSON-LD does.
        #expect(try document.select("//script[not(@type)]").first?.text == "")
        #expect(try document.select("//script[@type='application/ld+json']").first?.text.contains("NewsArticle") == true)
        #expect(try document.select("//table").isEmpty)
    }

    @Test func aBadExpressionIsAnErrorNotANoise() {
        let document = HTMLDocument(html: "<p>x</p>")
        #expect(throws: HTMLDocument.XPathError.self) { try document.select("//p[") }
        #expect(throws: HTMLDocument.XPathError.self) { try document.select("") }
    }
}
