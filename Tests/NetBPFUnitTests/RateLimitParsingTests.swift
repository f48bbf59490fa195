import Foundation
import Testing
@testable import NetBPFControllers

/// Rates, sizes, prefixes and config files: each bad value named in the error.
struct RateLimitParsingTests {
    @Test func ratesInTcUnits() throws {
        #expect(try RateParsing.bitsPerSecond("10mbit") == 10_000_000)
        #expect(try RateParsing.bitsPerSecond("1.5Gbit") == 1_500_000_000)
        #expect(try RateParsing.bitsPerSecond("800kbit") == 800_000)
        #expect(try RateParsing.bitsPerSecond("125kbps") == 1_000_000)
        #expect(try RateParsing.bytes("64k") == 65536)
        #expect(try RateParsing.bytes("1500") == 1500)
        #expect(try RateParsing.bytes("1mb") == 1_048_576)
    }

    @Test(arguments: ["10", "fast", "-1mbit", "mbit", "1e30gbit", "nanmbit"])
    func badRates(text: String) {
        let e = #expect(throws: ControllerError.self) { try RateParsing.bitsPerSecond(text) }
        #expect(e?.message.contains("'\(text)'") == true)
    }

    @Test func prefixesAreNormalised() throws {
        #expect(try AddressPrefix("10.1.2.3/16").description == "10.1.0.0/16")
        #expect(try AddressPrefix("10.0.0.2").description == "10.0.0.2")
        #expect(try AddressPrefix("fd00::1/64").description == "fd00::/64")
        #expect(throws: ControllerError.self) { try AddressPrefix("10.0.0.0/33") }
        #expect(throws: ControllerError.self) { try AddressPrefix("300.1.1.1") }
        #expect(throws: ControllerError.self) { try AddressPrefix("10.0.0.0/") }
    }

    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rl-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func goodConfig() throws {
        let path = try write("""
        interface: veth0
        netns: ns1
        direction: egress
        key: destination
        default: 100mbit
        limits:
          - {address: 10.0.0.2, rate: 10mbit, burst: 64k}
          - {address: 10.1.0.0/16, rate: 1mbit}
        """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let c = try RateLimitConfig.load(path: path)
        #expect(c.interface == "veth0" && c.namespace == "ns1")
        #expect(c.defaultRate == 100_000_000)
        #expect(c.limits.map(\.prefix.description) == ["10.0.0.2", "10.1.0.0/16"])
        #expect(c.limits[0].burst == 65536)
    }

    @Test(arguments: [
        ("interface: v0\nlimits:\n  - {address: 10.0.0.999, rate: 1mbit}\n", "limits[0].address"),
        ("interface: v0\nlimits:\n  - {address: 10.0.0.1, rate: lots}\n", "limits[0].rate"),
        ("interface: v0\nlimits:\n  - {address: 10.0.0.1, rate: 1mbit, brust: 1k}\n", "limits[0].brust"),
        ("interface: v0\ndirection: sideways\n", "direction"),
        ("interface: v0\nspeed: 1mbit\n", "speed: unknown key"),
        ("limits: []\n", "interface"),
        ("interface: v0\nshape: true\ndirection: ingress\n", "shape"),
        ("interface: [unclosed\n", "not valid YAML"),
    ])
    func badConfigNamesTheKey(text: String, says: String) throws {
        let path = try write(text)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let e = #expect(throws: ControllerError.self) { try RateLimitConfig.load(path: path) }
        #expect(e?.description.contains(says) == true, "\(e?.description ?? "")")
        #expect(e?.description.hasPrefix(path) == true)
    }
}
