import Foundation
import HTMLExtract
import Testing

/// Each metadata field from each kind of source a page may state it in, and which source wins when several do.
@Suite struct MetadataTests {
    static func metadata(head: String, body: String = "<article><p>Some text of the article, long enough to count as one.</p></article>") -> (title: String, metadata: [String: String]) {
        let extraction = HTMLDocument(html: "<html><head>\(head)</head><body>\(body)</body></html>", url: URL(string: "https://news.example/2026/story")).extract()
        return (extraction.title, extraction.metadata)
    }

    @Test func jsonLDGivesEveryField() {
        let (title, meta) = Self.metadata(head: """
            <title>Story | News</title>
            <script type="application/ld+json">{"@context": "https://schema.org", "@graph": [
              {"@type": "WebSite", "name": "The Example News"},
              {"@type": ["NewsArticle"], "headline": "The Story", "datePublished": "2026-11-30T08:00:00Z",
               "dateModified": "2026-12-01T09:30:00Z", "description": "What happened.", "inLanguage": "en-GB",
               "author": [{"@type": "Person", "name": "Ada Writer"}, {"@type": "Person", "name": "Bo Reporter"}],
               "image": {"@type": "ImageObject", "url": "/img/lead.jpg"}, "publisher": {"@type": "Organization", "name": "Example Media"}}]}
            </script>
            """)
        #expect(title == "The Story")
        #expect(meta["author"] == "Ada Writer, Bo Reporter")
        #expect(meta["published"] == "2026-11-30T08:00:00Z")
        #expect(meta["modified"] == "2026-12-01T09:30:00Z")
        #expect(meta["description"] == "What happened.")
        #expect(meta["language"] == "en-GB")
        #expect(meta["image"] == "https://news.example/img/lead.jpg")
        #expect(meta["site_name"] == "Example Media")
    }

    @Test func openGraphAndArticleProperties() {
        let (title, meta) = Self.metadata(head: """
            <title>Story | News</title>
            <meta property="og:title" content="The OG Story"><meta property="og:site_name" content="OG News">
            <meta property="article:published_time" content="2026-11-29"><meta property="article:modified_time" content="2026-11-30">
            <meta property="article:author" content="https://news.example/people/ada">
            <meta property="og:description" content="OG says what happened."><meta property="og:image" content="//cdn.example/lead.png">
            <meta property="og:locale" content="fr_FR"><meta property="og:url" content="https://news.example/2026/story">
            """)
        #expect(title == "The OG Story")
        #expect(meta["site_name"] == "OG News")
        #expect(meta["published"] == "2026-11-29")
        #expect(meta["modified"] == "2026-11-30")
        #expect(meta["author"] == nil, "a profile URL is not a name")
        #expect(meta["description"] == "OG says what happened.")
        #expect(meta["image"] == "https://cdn.example/lead.png")
        #expect(meta["language"] == "fr-FR")
        #expect(meta["url"] == "https://news.example/2026/story")
    }

    @Test func plainMetaTagsAndLinks() {
        let (title, meta) = Self.metadata(head: """
            <title>Plain Story</title><meta name="author" content="By Cy Columnist"><meta name="description" content="Plainly said.">
            <meta name="date" content="2026-01-02"><meta http-equiv="content-language" content="de">
            <meta name="twitter:image" content="https://img.example/t.jpg"><link rel="canonical" href="/2026/story?ref=home">
            """)
        #expect(title == "Plain Story")
        #expect(meta["author"] == "Cy Columnist")
        #expect(meta["description"] == "Plainly said.")
        #expect(meta["published"] == "2026-01-02")
        #expect(meta["language"] == "de")
        #expect(meta["image"] == "https://img.example/t.jpg")
        #expect(meta["canonical"] == "https://news.example/2026/story?ref=home")
    }

    @Test func theVisiblePageFillsWhatTheHeadDoesNotSay() {
        let (title, meta) = Self.metadata(head: "", body: """
            <html lang="es"><article><h1>Visible Headline</h1>
            <p class="byline">By <a rel="author" href="/people/dee">Dee Author</a></p>
            <time datetime="2026-05-06T07:08:09Z">6 May</time><span itemprop="dateModified" content="2026-05-07"></span>
            <img src="data:image/gif;base64,R0lGOD"><img src="/photos/lead.jpg" alt="The lead">
            <p>The text of the article, long enough to be a paragraph of it.</p></article>
            """)
        #expect(title == "Visible Headline")
        #expect(meta["author"] == "Dee Author")
        #expect(meta["published"] == "2026-05-06T07:08:09Z")
        #expect(meta["modified"] == "2026-05-07")
        #expect(meta["image"] == "https://news.example/photos/lead.jpg")
    }

    @Test func aBylineBlockGivesTheAuthorAndASentenceDoesNot() {
        let named = Self.metadata(head: "", body: "<div class=\"article-byline\">by Eve Field and Fay Stone</div><article><p>Text of the article, long enough to count as one.</p></article>")
        #expect(named.metadata["author"] == "Eve Field and Fay Stone")
        let sentence = Self.metadata(head: "", body: "<div class=\"byline\">This article was written over many weeks by a large team of people who all worked very hard on it, and we thank them.</div><article><p>Text.</p></article>")
        #expect(sentence.metadata["author"] == nil)
        let itemprop = Self.metadata(head: "", body: "<span itemprop=\"author\" itemscope><span itemprop=\"name\">Gus Grant</span></span><article><p>Text of the article, long enough.</p></article>")
        #expect(itemprop.metadata["author"] == "Gus Grant")
    }

    @Test func jsonLDWinsOverMetaTagsButNotOverOpenGraphsTitle() {
        let (title, meta) = Self.metadata(head: """
            <meta property="og:title" content="OG Title"><meta name="author" content="Meta Author">
            <script type="application/ld+json">{"@type": "BlogPosting", "headline": "LD Headline", "author": "LD Author"}</script>
            """)
        #expect(title == "OG Title")
        #expect(meta["author"] == "LD Author")
    }
}
