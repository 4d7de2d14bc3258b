import Foundation
import HTMLExtract
import Testing

/// One small synthetic page per structural rule of the extractor, built to show the structure the rule handles (none is
/// a copy of a benchmark page), and pages built to defeat the main path, which must still give text.
@Suite struct StructureRuleTests {
    /// `count` paragraphs of ordinary prose, each naming `label` and its number so that a test can find each one.
    static func prose(_ label: String, _ count: Int) -> String {
        (1...count).map { number in
            "<p>\(label) paragraph \(number): the committee met again on Tuesday, and after a long discussion, which ran well past "
                + "the usual hour, it agreed to publish the figures, to invite comments, and to meet once more in spring.</p>"
        }.joined(separator: "\n")
    }

    static func extract(_ body: String, head: String = "<title>A page</title>") -> Extraction {
        HTMLDocument(html: "<html><head>\(head)</head><body>\(body)</body></html>", url: URL(string: "https://site.example/a/page")).extract()
    }

    static let siteChrome = """
        <nav class="menu"><a href="/">Home</a> <a href="/news">News</a> <a href="/about">About us</a> <a href="/contact">Contact</a></nav>
        """

    // MARK: boilerplate tags that hold the page's content

    @Test func aMainLeftInsideAnUnclosedAsideIsKept() {
        // The aside is never closed, so the parser puts the main inside it: a tag rule alone would drop the article.
        let extraction = Self.extract("""
            \(Self.siteChrome)
            <aside class="announcement"><p>Free shipping this week.</p>
            <main><article><h1>Report</h1>\(Self.prose("Main", 4))</article></main>
            """)
        for number in 1...4 { #expect(extraction.text.contains("Main paragraph \(number):")) }
        #expect(!extraction.text.contains("About us"))
    }

    @Test func aHeaderThatHoldsMostOfThePageIsNotChrome() {
        // A page builder wraps its whole article in a <header> element (no <main> anywhere).
        let extraction = Self.extract("""
            \(Self.siteChrome)
            <div class="page"><header class="section-landing"><div class="rich-text">\(Self.prose("Header", 5))</div></header></div>
            <footer><p>Copyright, all rights reserved.</p></footer>
            """)
        for number in 1...5 { #expect(extraction.text.contains("Header paragraph \(number):")) }
        #expect(!extraction.text.contains("Copyright"))
    }

    @Test func anArticlesOwnHeaderWithParagraphsIsKept() {
        // The article opens with a <header> holding its first paragraphs; the site's masthead header has none.
        let extraction = Self.extract("""
            <header class="masthead"><a href="/">The Site</a><p>News, daily.</p></header>
            <main><section><article>
              <header class="intro"><h1>Pole vault</h1><div class="rich">\(Self.prose("Intro", 2))</div></header>
              <div class="rich">\(Self.prose("Body", 1))</div>
            </article></section></main>
            """)
        #expect(extraction.text.contains("Intro paragraph 1:"))
        #expect(extraction.text.contains("Intro paragraph 2:"))
        #expect(extraction.text.contains("Body paragraph 1:"))
        #expect(!extraction.text.contains("News, daily."))
    }

    @Test func aCommentThreadThatOutweighsTheArticleStaysOut() {
        // role=complementary and an <aside> are never kept for their size alone: comments often outweigh the article.
        let comments = (1...12).map { "<div class=\"reply\"><p>Reader \($0) wrote: I have followed this story for years, and this is, by far, the best account of it I have read.</p></div>" }
        let extraction = Self.extract("""
            <div id="main" role="main"><div class="story">\(Self.prose("Story", 3))</div>
            <div class="feedback" role="complementary">\(comments.joined())</div></div>
            """)
        for number in 1...3 { #expect(extraction.text.contains("Story paragraph \(number):")) }
        #expect(!extraction.text.contains("Reader 1 wrote"))
    }

    @Test func aWrapperWithABoilerplateNameAroundTheNamedContentIsKept() {
        // "above-footer" reads like boilerplate, but it wraps "post-content", which holds the whole article.
        let extraction = Self.extract("""
            <div class="disclosure"><p>Some offers on this site come from partners, who may pay us, which may affect where they appear here.</p></div>
            <div class="above-footer"><div class="post-content"><div class="entry">\(Self.prose("Post", 4))</div></div></div>
            """)
        for number in 1...4 { #expect(extraction.text.contains("Post paragraph \(number):")) }
        #expect(!extraction.text.contains("offers on this site"))
    }

    // MARK: an article split into sibling blocks

    @Test func anArticleSplitIntoRepeatedBlocksIsKeptWhole() {
        // A page builder gives each section of the article its own block, three wrappers deep.
        let blocks = (1...6).map { section in
            "<div class=\"builder-block text-block\" id=\"block-\(section)\"><div class=\"block-content\"><div class=\"html-content\">"
                + "<h2>Section \(section)</h2>" + Self.prose("Section \(section)", section == 3 ? 4 : 1) + "</div></div></div>"
        }
        let extraction = Self.extract("""
            \(Self.siteChrome)
            <div class="post"><div class="column">\(blocks.joined(separator: "\n"))</div></div>
            <div class="related"><a href="/x">Another post</a> <a href="/y">And another</a></div>
            """)
        for section in 1...6 { #expect(extraction.text.contains("Section \(section) paragraph 1:"), "section \(section)") }
        #expect(!extraction.text.contains("Another post"))
    }

    @Test func aSiblingBuiltDifferentlyIsNotAbsorbed() {
        // The comments sit beside the article in a block of the same kind, but say what they are in their class.
        let extraction = Self.extract("""
            <div class="layout">
              <div class="pane pane-body"><div class="inner">\(Self.prose("Article", 3))</div></div>
              <div class="pane pane-comments"><div class="inner">\(Self.prose("Comment", 4))</div></div>
            </div>
            """)
        for number in 1...3 { #expect(extraction.text.contains("Article paragraph \(number):")) }
        #expect(!extraction.text.contains("Comment paragraph"))
    }

    // MARK: never empty

    @Test func anArticleParkedInAHiddenPlaceholderIsFound() {
        // Server rendering that streams the article into a hidden element for a script to move into place.
        let extraction = Self.extract("""
            <div class="brand"><span>Acme Analytics</span><p>Time series on Postgres.</p></div>
            <div hidden id="S:0"><article><h1>Query tuning</h1>\(Self.prose("Hidden", 5))</article></div>
            """)
        for number in 1...5 { #expect(extraction.text.contains("Hidden paragraph \(number):")) }
    }

    @Test func anArticleBuiltFromWidgetBlocksIsReadWholeButNotItsComments() {
        // A review roundup: a short introduction, then each product in a block whose class says "widget"; the first
        // attempt drops the widgets and keeps the introduction, but most of the page's prose is in them.
        let widgets = (1...5).map { number in
            "<div class=\"c-product-widget\" id=\"product-\(number)\"><div class=\"c-product-widget__name\">Model \(number)</div>\(Self.prose("Widget \(number)", 2))</div>"
        }.joined()
        let extraction = Self.extract("""
            \(Self.siteChrome)
            <article><h1>Best appliances</h1>\(Self.prose("Intro", 3))\(widgets)</article>
            <div id="comments" class="comment-list">\(Self.prose("Comment", 3))</div>
            """)
        for number in 1...5 { #expect(extraction.text.contains("Widget \(number) paragraph 2:"), "\(extraction.text.prefix(300))") }
        #expect(extraction.text.contains("Intro paragraph 1:"))
        #expect(!extraction.text.contains("Comment paragraph"))
        // A long article beside a longer comment thread keeps to the article.
        let discussed = Self.extract("""
            <article><h1>Match report</h1>\(Self.prose("Report", 4))</article>
            <section class="comments"><ol class="commentlist">\((1...12).map { "<li class=\"comment\">\(Self.prose("Reader \($0)", 1))</li>" }.joined())</ol></section>
            """)
        #expect(discussed.text.contains("Report paragraph 4:"))
        #expect(!discussed.text.contains("Reader 1 paragraph"))
    }

    @Test func reactStreamedSegmentsArePageTextEvenBesideALargeVisibleShell() {
        // React's streaming server rendering (Next.js) sends the article as hidden segments `S:<n>` at the end of the
        // body, with a script to move each into its placeholder; the visible shell around them has text of its own.
        let shell = (1...6).map { "<div class=\"promo\"><p>Offer \($0): subscribe for premium research, model portfolios and weekly picks, "
            + "with a thirty-day trial and no commitment.</p></div>" }.joined()
        let extraction = Self.extract("""
            \(Self.siteChrome)<div class="layout">\(shell)<template id="B:0"></template></div>
            <div hidden id="S:0"><article><h1>Index funds</h1>\(Self.prose("Streamed", 6))</article></div>
            <div hidden id="S:1a"><p>Related: how to open an account.</p></div>
            """)
        for number in 1...6 { #expect(extraction.text.contains("Streamed paragraph \(number):"), "\(extraction.text)") }
        // Any other hidden element stays hidden.
        let other = Self.extract("""
            <article><h1>Report</h1>\(Self.prose("Shown", 4))</article>
            <div hidden id="S0"><p>A draft paragraph that was never published, kept hidden in the page's markup.</p></div>
            <div hidden id="S:x-1"><p>Another hidden draft that no script moves into the page, however long it is.</p></div>
            """)
        #expect(other.text.contains("Shown paragraph 4:"))
        #expect(!other.text.contains("draft"), "\(other.text)")
    }

    @Test func pagesBuiltToDefeatTheMainPathStillGiveTheirText() {
        let pages: [(String, String)] = [
            // All the text is in navigation.
            ("nav", "<nav><ul><li><a href=\"/a\">Opening hours and prices for the season</a></li><li><a href=\"/b\">How to find the museum by train</a></li></ul></nav>"),
            // All the text is in elements whose class names read as boilerplate.
            ("classes", "<div class=\"sidebar widget\"><div class=\"comment share\">The museum opens at nine every day except Monday, when it is closed for cleaning.</div></div>"),
            // Only short fragments, none a paragraph, inside a footer.
            ("fragments", "<footer><span>Museum</span> <span>Open daily</span> <span>Entry free</span> <b>Since 1901</b></footer>"),
            // Everything hidden.
            ("hidden", "<div style=\"display: none\"><p>The collection holds four thousand maps, drawn between 1500 and 1900.</p></div>"),
            // Text straight in the body, no element around it.
            ("bare", "The museum is closed today because of the storm; it opens again tomorrow."),
            // One table cell.
            ("table", "<table role=\"navigation\"><tr><td>Tickets: adults 10, children free, groups of ten or more 8 each.</td></tr></table>"),
        ]
        for (name, body) in pages {
            let extraction = Self.extract(body)
            #expect(!extraction.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(name) came out empty")
            #expect(!extraction.markdown.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(name) markdown came out empty")
        }
    }

    @Test func aPageWithNoVisibleTextIsEmptyAndThatIsFine() {
        let extraction = Self.extract("<div><img src=\"/a.png\"><script>var x = 'not text';</script></div>")
        #expect(extraction.text.isEmpty)
    }
}
