import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What libxml2 is given to parse: always the whole page.
///
/// - A page in another encoding than UTF-8 is decoded to UTF-8 first (iconv), every invalid sequence becoming U+FFFD.
///   libxml2 2.9 stops reading at the first sequence its decoder rejects ("encoder error") and says so on stderr, so
///   such a page used to lose everything after one bad byte; and in the 7-bit stateful encodings (ISO-2022-*, HZ,
///   UTF-7) `<` and quotes occur inside characters, which the raw-text scan must not meet. Decoded, every page reaches
///   the scan and the parser as UTF-8.
/// - NUL bytes are dropped (as browsers drop U+0000 from text): libxml2 2.9 ends the page at one.
/// - A page in an encoding iconv does not know is left as it is, for libxml2 to read with its own decoders, and the
///   scan leaves it alone when it is one where bytes are not characters.
struct PageBytes {
    /// The bytes to parse (nil: the input as it is).
    var bytes: [UInt8]?
    /// The encoding to tell libxml2.
    var encoding: String
    /// Whether the raw-text scan may run on them.
    var scannable: Bool

    /// Encodings in which bytes that look like ASCII occur inside other characters.
    static func isStateful(_ encoding: String) -> Bool {
        encoding.hasPrefix("ISO-2022") || encoding.hasPrefix("HZ") || encoding.hasPrefix("UTF-7") || encoding.hasPrefix("CSISO2022")
    }

    /// Encodings whose bytes are not ASCII-compatible (a NUL byte is part of a character).
    static func isWide(_ encoding: String) -> Bool {
        encoding.hasPrefix("UTF-16") || encoding.hasPrefix("UTF-32") || encoding.hasPrefix("UCS")
    }

    static func prepare(_ input: UnsafeRawBufferPointer, encoding: String) -> PageBytes {
        if encoding != "UTF-8", let utf8 = decode(input, from: encoding) {
            return PageBytes(bytes: withoutNUL(utf8), encoding: "UTF-8", scannable: true)
        }
        let scannable = !isWide(encoding) && !isStateful(encoding)
        guard !isWide(encoding), containsNUL(input) else {
            return PageBytes(bytes: nil, encoding: encoding, scannable: scannable)
        }
        return PageBytes(bytes: withoutNUL(Array(input.bindMemory(to: UInt8.self))), encoding: encoding, scannable: scannable)
    }

    static func containsNUL(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return false }
        return memchr(base, 0, bytes.count) != nil
    }

    /// The bytes without NUL bytes.
    static func withoutNUL(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.withUnsafeBytes(containsNUL) else { return bytes }
        return bytes.filter { $0 != 0 }
    }

    /// `input` in `encoding` as UTF-8, with U+FFFD for each byte that starts no valid sequence (and for a sequence cut
    /// at the end); nil when iconv does not know the encoding.
    static func decode(_ input: UnsafeRawBufferPointer, from encoding: String) -> [UInt8]? {
        let converter = iconv_open("UTF-8", encoding)
        guard let converter, converter != iconv_t(bitPattern: -1) else { return nil }
        defer { iconv_close(converter) }
        guard let base = input.baseAddress, input.count > 0 else { return [] }
        var output = [UInt8](repeating: 0, count: input.count * 2 + 64)
        var produced = 0
        var inPointer = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: CChar.self))
        var inLeft = input.count
        let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]
        while true {
            if output.count - produced < 64 { output += [UInt8](repeating: 0, count: output.count) }
            let (result, written) = output.withUnsafeMutableBytes { raw -> (Int, Int) in
                var outPointer: UnsafeMutablePointer<CChar>? = raw.baseAddress!.advanced(by: produced).assumingMemoryBound(to: CChar.self)
                var outLeft = raw.count - produced
                let before = outLeft
                var inOptional: UnsafeMutablePointer<CChar>? = inPointer
                let result = iconv(converter, &inOptional, &inLeft, &outPointer, &outLeft)
                if let inOptional { inPointer = inOptional }
                return (result, before - outLeft)
            }
            produced += written
            if result != -1 {
                if inLeft == 0 {
                    // Flush a stateful encoding's shift state.
                    let flushed = output.withUnsafeMutableBytes { raw -> Int in
                        var outPointer: UnsafeMutablePointer<CChar>? = raw.baseAddress!.advanced(by: produced).assumingMemoryBound(to: CChar.self)
                        var outLeft = raw.count - produced
                        let before = outLeft
                        _ = iconv(converter, nil, nil, &outPointer, &outLeft)
                        return before - outLeft
                    }
                    produced += flushed
                    break
                }
                continue
            }
            switch errno {
            case E2BIG:
                output += [UInt8](repeating: 0, count: output.count)
            case EILSEQ:
                // A byte that starts no valid sequence: U+FFFD, and on from the next byte.
                if output.count - produced < 3 { output += [UInt8](repeating: 0, count: output.count) }
                output.replaceSubrange(produced..<produced + 3, with: replacement)
                produced += 3
                inPointer += 1
                inLeft -= 1
            default:
                // EINVAL: a sequence cut at the end.
                if output.count - produced < 3 { output += [UInt8](repeating: 0, count: 3) }
                output.replaceSubrange(produced..<produced + 3, with: replacement)
                produced += 3
                inLeft = 0
            }
            if inLeft == 0 { break }
        }
        output.removeSubrange(produced...)
        return output
    }
}
