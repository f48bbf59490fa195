import Foundation

/// The monitor's web page and the self-contained HTML report: one template, plain JavaScript
/// and SVG, everything inline (no external script, style, font or image). The live page gets
/// its first snapshot inline and then updates from /events (server-sent events), falling back
/// to polling /api/snapshot; the report has its snapshot inline and no network at all.
package enum TunnelWebPage {
    /// The live page (`snapshot` is the newest one, or nil before the first sample).
    package static func live(snapshot: TunnelSnapshot?, intervalSeconds: Double) -> String {
        render(snapshot: snapshot, live: true, intervalSeconds: intervalSeconds)
    }

    /// A report of one snapshot, readable offline.
    package static func report(snapshot: TunnelSnapshot, source: String) -> String {
        render(snapshot: snapshot, live: false, intervalSeconds: snapshot.intervalSeconds, source: source)
    }

    /// JSON safe inside a <script> element: no "<" at all (so no "</script>" or "<!--").
    package static func scriptSafeJSON(_ data: Data) -> String {
        String(decoding: data, as: UTF8.self)
            .replacingOccurrences(of: "<", with: "\\u003c")
            .replacingOccurrences(of: "\u{2028}", with: "\\u2028")
            .replacingOccurrences(of: "\u{2029}", with: "\\u2029")
    }

    static func render(snapshot: TunnelSnapshot?, live: Bool, intervalSeconds: Double, source: String = "") -> String {
        let json = snapshot.flatMap { try? $0.json() }.map(scriptSafeJSON) ?? "null"
        let src = scriptSafeJSON((try? JSONEncoder().encode([source])) ?? Data("[\"\"]".utf8))
        return template
            .replacingOccurrences(of: "__NETBPF_LIVE__", with: live ? "true" : "false")
            .replacingOccurrences(of: "__NETBPF_INTERVAL__", with: String(format: "%.3f", intervalSeconds))
            .replacingOccurrences(of: "__NETBPF_SOURCE__", with: src)
            .replacingOccurrences(of: "__NETBPF_DATA__", with: json)
    }

    /// The page (tunnel-page.html beside this file, embedded in the binary at build time by
    /// SwiftPM's `embedInCode` rule: no bundle to find at run time, also once installed).
    static let template = String(decoding: PackageResources.tunnel_page_html, as: UTF8.self)
}
