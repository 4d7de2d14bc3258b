import Foundation
import HTMLExtract

/// Extraction speed in one process: every `.html` file of a folder, read into memory first, then parsed, extracted and
/// rendered to Markdown, several rounds; beside libxml2's parse of the whole page alone as the floor (errand's own parse
/// drops script, style and SVG bodies first, so it can beat that floor).
enum ExtractBenchmark {
    static func run(folder: String) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".html") }.sorted()
        let pages = try names.map { try Data(contentsOf: URL(fileURLWithPath: folder).appendingPathComponent($0)) }
        let bytes = pages.map(\.count).reduce(0, +)
        guard !pages.isEmpty else {
            print("no .html files in \(folder)")
            return
        }
        let rounds = 5
        func seconds(_ body: () -> Void) -> Double {
            var times: [Double] = []
            for _ in 0..<rounds {
                let start = ContinuousClock.now
                body()
                let elapsed = ContinuousClock.now - start
                times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            }
            return times.sorted()[rounds / 2]
        }
        var sink = 0
        let sax = seconds {
            for page in pages where HTMLDocument.saxParseOnly(page) { sink &+= 1 }
        }
        let libxml2 = seconds {
            for page in pages where HTMLDocument.parseOnly(page) { sink &+= 1 }
        }
        let parse = seconds {
            for page in pages { sink &+= HTMLDocument(data: page).title.count }
        }
        let full = seconds {
            for page in pages {
                let extraction = HTMLDocument(data: page).extract()
                sink &+= extraction.markdown.count &+ extraction.text.count
            }
        }
        // One page's latency: each page parsed, extracted and rendered on its own, the median over pages of the best
        // of three.
        var latencies: [Double] = []
        for page in pages {
            var best = Double.infinity
            for _ in 0..<3 {
                let start = ContinuousClock.now
                let extraction = HTMLDocument(data: page).extract()
                let elapsed = ContinuousClock.now - start
                sink &+= extraction.markdown.count
                best = min(best, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            }
            latencies.append(best)
        }
        latencies.sort()
        let megabytes = Double(bytes) / 1_048_576
        print("\nextraction: \(pages.count) pages, \(String(format: "%.1f", megabytes)) MB, median of \(rounds) rounds, one process (release build)")
        print(String(format: "  floor: libxml2 SAX parse, no tree  %7.1f ms  %6.1f MB/s", sax * 1000, megabytes / sax))
        print(String(format: "  floor: libxml2 parse to a DOM      %7.1f ms  %6.1f MB/s", libxml2 * 1000, megabytes / libxml2))
        print(String(format: "  errand: parse + tree read          %7.1f ms  %6.1f MB/s", parse * 1000, megabytes / parse))
        print(String(format: "  errand: parse + extract + Markdown %7.1f ms  %6.1f MB/s", full * 1000, megabytes / full))
        print(String(format: "  one page: p50 %.2f ms, p90 %.2f ms, max %.1f ms (page sizes: p50 %.0f KB)", latencies[latencies.count / 2] * 1000,
            latencies[latencies.count * 9 / 10] * 1000, latencies.last! * 1000, Double(pages.map(\.count).sorted()[pages.count / 2]) / 1024))
        if sink == 42 { print("") }
    }
}
