// Byte classes of RFC 9110/9112 used by the parser and serializer. Switches, not lookup tables: a
// global table costs a lazy-initialisation check on every access, a switch compiles to range tests.
// Part of HTTPWire, which imports nothing; `cr` and `lf` are `package` for PeerHTTP's chunk framing.

package enum ASCII {
    // Computed, not `static let`, so no access ever goes through a lazy global initialiser.
    static var tab: UInt8 { 0x09 }
    package static var lf: UInt8 { 0x0A }
    package static var cr: UInt8 { 0x0D }
    static var space: UInt8 { 0x20 }
    static var colon: UInt8 { 0x3A }
    static var semicolon: UInt8 { 0x3B }

    /// tchar: `!#$%&'*+-.^_`|~`, digits and letters (RFC 9110 §5.6.2).
    @inline(__always)
    static func isToken(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// A byte allowed in a field value or reason phrase: HTAB, SP, VCHAR, obs-text. Everything but
    /// the other controls and DEL.
    @inline(__always)
    static func isFieldValue(_ b: UInt8) -> Bool {
        b == tab || (b >= space && b != 0x7F)
    }

    /// A byte allowed in a request target: visible ASCII only (no space, no control, no obs-text).
    @inline(__always)
    static func isTargetByte(_ b: UInt8) -> Bool {
        b > space && b < 0x7F
    }

    @inline(__always)
    static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(b &- UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(b &- UInt8(ascii: "a") &+ 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(b &- UInt8(ascii: "A") &+ 10)
        default: nil
        }
    }
}
