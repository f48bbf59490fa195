/// Rates and sizes as tc writes them: "10mbit", "1.5gbit", "800kbit", "125000bps", "64k", "1m".
package enum RateParsing {
    /// Bits per second from "N[bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps]" (tc's units: bit
    /// suffixes are bits, bps suffixes bytes; k/m/g are powers of 1000 for rates, as tc).
    package static func bitsPerSecond(_ text: String) throws -> UInt64 {
        let t = text.lowercased().trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("tbit", 1e12), ("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1),
                                         ("gbps", 8e9), ("mbps", 8e6), ("kbps", 8e3), ("bps", 8)]
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            return try scaled(String(t.dropLast(suffix.count)), factor, original: text, what: "rate")
        }
        throw ControllerError("'\(text)' is not a rate", hint: "use tc's units, e.g. 10mbit, 500kbit, 1gbit, 125kbps")
    }

    /// Bytes from "N", "Nb", "Nk"/"Nkb", "Nm"/"Nmb" (powers of 1024, as tc's sizes).
    package static func bytes(_ text: String) throws -> UInt64 {
        let t = text.lowercased().trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("kb", 1024), ("mb", 1048576), ("gb", 1073741824), ("k", 1024), ("m", 1048576), ("g", 1073741824), ("b", 1)]
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            return try scaled(String(t.dropLast(suffix.count)), factor, original: text, what: "size")
        }
        return try scaled(t, 1, original: text, what: "size")
    }

    static func scaled(_ number: String, _ factor: Double, original: String, what: String) throws -> UInt64 {
        guard let v = Double(number), v.isFinite, v > 0 else {
            throw ControllerError("'\(original)' is not a \(what)", hint: what == "rate" ? "e.g. 10mbit" : "e.g. 64k or 1500")
        }
        let result = v * factor
        guard result >= 1, result < 1.8e19 else { throw ControllerError("'\(original)' is out of range") }
        return UInt64(result)
    }

    /// "10mbit" style text for a rate in bits per second.
    package static func describe(bitsPerSecond r: Double) -> String {
        if r >= 1e9 { return String(format: "%.2fgbit", r / 1e9) }
        if r >= 1e6 { return String(format: "%.2fmbit", r / 1e6) }
        if r >= 1e3 { return String(format: "%.1fkbit", r / 1e3) }
        return String(format: "%.0fbit", r)
    }
}

/// A rate limiter error in one line, naming the bad value.

import Foundation
