import Foundation
import HTMLExtract
import Testing

/// Each Markdown element the renderer writes, in reading order, on a small page that has it.
@Suite struct MarkdownTests {
    static let sentence = "a sentence long enough to make this block a paragraph of the article, with a comma, and more words"

    static func markdown(_ body: String) -> String {
        HTMLDocument(html: "<html><head><title>Doc</title></head><body><article>\(body)</article></body></html>", url: URL(string: "https://docs.example/guide/page.html")).extract().markdown
    }

    @Test func headingsListsAndParagraphsInOrder() {
        let markdown = Self.markdown("""
            <h2>Install</h2><p>First, \(Self.sentence).</p>
            <ol><li>Download it.</li><li>Unpack it:<ul><li>on Linux with tar;</li><li>on a Mac with the Finder.</li></ul></li></ol>
            <h3>Then</h3><p>Second, \(Self.sentence).</p>
            """)
        #expect(markdown.contains("## Install\n\nFirst, a sentence"))
        #expect(markdown.contains("more words.\n\n1. Download it.\n2. Unpack it:\n   - on Linux with tar;\n   - on a Mac with the Finder.\n\n### Then"))
        #expect(markdown.contains("### Then\n\nSecond, a sentence"))
        #expect(markdown.range(of: "## Install")!.lowerBound < markdown.range(of: "### Then")!.lowerBound)
    }

    @Test func codeBlocksKeepTheirLanguageAndCannotBeClosedByTheirCode() {
        let markdown = Self.markdown("""
            <p>Run \(Self.sentence):</p>
            <pre><code class="language-swift">let x = 1
            print(x)</code></pre>
            <div class="highlight highlight-source-python"><pre>print("hi")</pre></div>
            <pre data-lang="Shell">echo done</pre>
            <pre>A fence inside: ```
            done</pre>
            <p>After, \(Self.sentence).</p>
            """)
        #expect(markdown.contains("```swift\nlet x = 1\nprint(x)\n```"))
        #expect(markdown.contains("```python\nprint(\"hi\")\n```"))
        #expect(markdown.contains("```shell\necho done\n```"))
        #expect(markdown.contains("````\nA fence inside: ```\ndone\n````"))
    }

    @Test func inlineCodeLinksAndEmphasis() {
        let markdown = Self.markdown("""
            <p>Call <code>fetch(<span>url</span>)</code>, or <code>a`b</code>, then read <a href="../api/index.html">the <em>API</em> guide</a>, \(Self.sentence).</p>
            """)
        #expect(markdown.contains("Call `fetch(url)`"))
        #expect(markdown.contains("`` a`b ``"))
        #expect(markdown.contains("[the *API* guide](https://docs.example/api/index.html)"))
    }

    @Test func imagesWithAbsoluteURLsEvenInsideCaptions() {
        let markdown = Self.markdown("""
            <p>Before the picture, \(Self.sentence).</p>
            <figure class="photo"><img src="img/a b.png" alt="A [diagram]"><figcaption>Photo: credit to someone</figcaption></figure>
            <p>Between, \(Self.sentence).</p>
            <img data-src="/lazy.jpg" src="data:image/gif;base64,R0lGOD" alt="lazy">
            <p>After, \(Self.sentence).</p>
            """)
        #expect(markdown.contains("![A \\[diagram\\]](https://docs.example/guide/img/a%20b.png)"))
        #expect(!markdown.contains("credit to someone"))
        #expect(markdown.contains("![lazy](https://docs.example/lazy.jpg)"))
        #expect(!markdown.contains("data:image"))
        let picture = markdown.range(of: "![A")!.lowerBound
        #expect(markdown.range(of: "Before the picture")!.lowerBound < picture && picture < markdown.range(of: "Between,")!.lowerBound)
    }

    @Test func tablesAndQuotes() {
        let markdown = Self.markdown("""
            <p>The figures, \(Self.sentence).</p>
            <table><thead><tr><th>Name</th><th>a|b</th></tr></thead><tbody><tr><td>one</td><td>1</td></tr><tr><td>two</td><td>2</td></tr></tbody></table>
            <blockquote><p>The first paragraph of the quote, \(Self.sentence).</p><p>The second paragraph of the quote.</p></blockquote>
            <p>After the quote, \(Self.sentence).</p>
            """)
        #expect(markdown.contains("| Name | a\\|b |\n| --- | --- |\n| one | 1 |\n| two | 2 |"))
        #expect(markdown.contains("> The first paragraph of the quote, a sentence"))
        #expect(markdown.contains("more words.\n>\n> The second paragraph of the quote.\n\nAfter the quote"))
    }

    @Test func neverADoubledBlankLine() {
        let markdown = Self.markdown("""
            <p>One, \(Self.sentence).</p><div><div><br><br></div></div><hr><p></p><p> </p>
            <ul><li></li></ul><p>Two, \(Self.sentence).</p><div><img src=""><span> </span></div><p>Three, \(Self.sentence).</p>
            """)
        #expect(!markdown.contains("\n\n\n"))
        #expect(markdown.contains("One,") && markdown.contains("Two,") && markdown.contains("Three,"))
    }
}
