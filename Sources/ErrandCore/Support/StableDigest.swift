import Foundation
import ResponsesAPI

/// A short digest that is the same on every machine and every run (unlike `Hasher`): 64-bit FNV-1a, in hex. For
/// noticing change (an agent's tools, a batch task's line) and naming files; not for security.
package enum StableDigest {
    /// The digest of `bytes`, as lower-case hex (up to 16 digits).
    package static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16, uppercase: false)
    }
}
