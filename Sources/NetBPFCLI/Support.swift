import ArgumentParser
import Foundation
import Glibc
import NetBPF
import NetBPFCompiler
import NetBPFSim
import NetBPFAttach
import NetBPFNetlink
import NetBPFTracing

/// Options every data-printing command takes.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON instead of tables.")
    var json = false

    @Flag(name: .shortAndLong, help: "Print whole verifier logs and libbpf's messages.")
    var verbose = false
}

/// Runs a command body: any netbpf error (loader, compiler, netlink, attach, controllers,
/// simulation) becomes one line on stderr and exit status 1, with the whole verifier log after
/// it when --verbose is given. Argument errors and clean exits pass through to ArgumentParser.
func reportingErrors(verbose: Bool = false, _ body: () throws -> Void) throws {
    LibbpfLog.verbose = verbose
    do {
        try body()
    } catch let error as BPFError {
        var line = "netbpf: \(error.description)\n"
        if verbose, let log = error.verifierLog { line += "--- verifier log ---\n\(log)\n" }
        StandardStreams.err(line)
        throw ExitCode(1)
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch let error as SimError {
        throw error // SimCommand prints every located problem and maps signals to 128+N
    } catch let error as CustomStringConvertible & Error {
        // CompileError's diagnostics were printed as they came; this is the one-line verdict.
        StandardStreams.err("netbpf: \(error.description)\n")
        throw ExitCode(1)
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    StandardStreams.out(try jsonText(value) + "\n")
}

/// The JSON netbpf prints: pretty, sorted keys, ISO 8601 dates (as the records on disk:
/// Foundation's default is seconds since 2001).
func jsonText<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// Left-aligned text columns, the way bpftool and ip print tables.
func table(_ header: [String], _ rows: [[String]]) -> String {
    var widths = header.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }
    return ([line(header)] + rows.map(line)).joined(separator: "\n")
}

/// Parses bytes given on the command line: hex ("0a 00 00 00", "0a000000", "0x0a000000") or
/// typed little-endian values ("u32:10", "u64:7", "i32:-1", "ipv4:10.0.0.1").
func parseBytes(_ text: String, expectedSize: Int, what: String) throws -> [UInt8] {
    func fail(_ m: String) -> BPFError {
        BPFError(.invalidArgument, operation: what, message: m,
                 hint: "give \(expectedSize) bytes as hex (e.g. \(String(repeating: "00 ", count: min(expectedSize, 4)).trimmingCharacters(in: .whitespaces))), or u32:N / u64:N / ipv4:A.B.C.D")
    }
    var bytes: [UInt8]
    if let colon = text.firstIndex(of: ":"), text[..<colon].allSatisfy({ $0.isLetter || $0.isNumber }) {
        let kind = String(text[..<colon]), val = String(text[text.index(after: colon)...])
        switch kind {
        case "u8", "u16", "u32", "u64":
            guard let v = UInt64(val) else { throw fail("'\(val)' is not an unsigned number") }
            let n = Int(kind.dropFirst())! / 8
            guard n == 8 || v < (UInt64(1) << UInt64(n * 8)) else { throw fail("\(v) does not fit in \(kind)") }
            bytes = (0..<n).map { UInt8(truncatingIfNeeded: v >> UInt64($0 * 8)) }
        case "i8", "i16", "i32", "i64":
            guard let v = Int64(val) else { throw fail("'\(val)' is not a number") }
            let n = Int(kind.dropFirst())! / 8
            if n < 8 {
                let limit = Int64(1) << Int64(n * 8 - 1)
                guard v >= -limit && v < limit else { throw fail("\(v) does not fit in \(kind)") }
            }
            bytes = (0..<n).map { UInt8(truncatingIfNeeded: v >> Int64($0 * 8)) }
        case "ipv4":
            let parts = val.split(separator: ".", omittingEmptySubsequences: false)
            let octets = parts.compactMap { UInt8($0) }
            guard parts.count == 4, octets.count == 4 else { throw fail("'\(val)' is not an IPv4 address") }
            bytes = octets
        default:
            throw fail("unknown value kind '\(kind)'")
        }
    } else {
        var hex = text.replacingOccurrences(of: " ", with: "").replacingOccurrences(of: ",", with: "")
        if hex.hasPrefix("0x") { hex.removeFirst(2) }
        guard hex.count % 2 == 0, hex.allSatisfy(\.isHexDigit) else { throw fail("'\(text)' is not hex bytes") }
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        bytes = out
    }
    guard bytes.count == expectedSize else {
        throw fail("\(what) is \(bytes.count) bytes, the map takes \(expectedSize)")
    }
    return bytes
}

extension String {
    func padded(_ width: Int) -> String { padding(toLength: max(width, count), withPad: " ", startingAt: 0) }
}

func formatBytes(_ n: UInt64?) -> String {
    guard let n else { return "-" }
    if n >= 1 << 20 { return String(format: "%.1fM", Double(n) / 1048576) }
    if n >= 1 << 10 { return String(format: "%.0fK", Double(n) / 1024) }
    return "\(n)B"
}

/// Local time as 2026-11-21T23:35:54 (strftime: a DateFormatter per row costs milliseconds).
func formatTime(_ t: Double) -> String {
    var seconds = time_t(t)
    var parts = tm()
    localtime_r(&seconds, &parts)
    var buf = [CChar](repeating: 0, count: 32)
    strftime(&buf, buf.count, "%Y-%m-%dT%H:%M:%S", &parts)
    return String(cString: buf)
}

/// Detaches `links` when a command ends (in a `defer`, where nothing can be thrown): a link that
/// cannot be detached (its pin cannot be removed) is reported on stderr, not ignored.
func detachReportingFailures(_ links: [BPFLink]) {
    for link in links {
        do { try link.detach() } catch { StandardStreams.err("netbpf: could not detach \(link.attachPoint): \(error)\n") }
    }
}

/// `ToolSession.close()` in a `defer`, where a failed detach has no caller to throw to: it is
/// reported on stderr and the command goes on ending.
func closeReportingFailures(_ session: ToolSession) {
    do { try session.close() } catch { StandardStreams.err("netbpf: could not detach the tool's programs: \(error)\n") }
}
