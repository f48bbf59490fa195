import Foundation
import NetBPFControllers

/// The agent's /metrics page (Prometheus text format 0.0.4): agent health and the rate
/// limiter's counters, read from the maps at scrape time.
public enum AgentMetrics {
    /// The page for one scrape: the agent's health (gauges and counters labelled with its node)
    /// and, for each entry of `limits`, its configured rate and its passed and dropped bytes and
    /// packets, labelled with the prefix. Every family has HELP and TYPE.
    /// With `blocks`, each HTTP block's dropped requests (labels kind, value); with `vlan`, the
    /// VLAN learner's frames and bytes per outcome.
    public static func render(health h: AgentHealth, limits: [RateLimiter.Entry], blocks: [HTTPBlockListing]? = nil,
                              vlan: VLANLearningReport? = nil) -> String {
        var out = ""
        let node = TunnelPrometheus.escape(h.node)
        func family(_ name: String, _ type: String, _ help: String) { out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n" }
        func value(_ name: String, _ v: String, _ extra: String = "") { out += "\(name){node=\"\(node)\"\(extra)} \(v)\n" }
        family("netbpf_agent_applied_revision", "gauge", "etcd revision of the last desired-state change applied.")
        value("netbpf_agent_applied_revision", String(h.revision))
        family("netbpf_agent_applies_total", "counter", "Changes that reached the maps.")
        value("netbpf_agent_applies_total", String(h.applies))
        family("netbpf_agent_apply_seconds", "gauge", "Time from receiving the last change to the maps holding it.")
        value("netbpf_agent_apply_seconds", String(format: "%.6f", h.applySeconds))
        family("netbpf_agent_refused_keys", "gauge", "Desired-state keys refused (reasons in the status key).")
        value("netbpf_agent_refused_keys", String(h.errors.count))
        family("netbpf_agent_etcd_connected", "gauge", "1 while the agent follows etcd's watches.")
        value("netbpf_agent_etcd_connected", h.etcdConnected ? "1" : "0")
        family("netbpf_agent_etcd_reconnects_total", "counter", "Connections to etcd lost and made again.")
        value("netbpf_agent_etcd_reconnects_total", String(h.reconnects))
        family("netbpf_ratelimit_limit_bits_per_second", "gauge", "Configured rate of each limit.")
        for e in limits { value("netbpf_ratelimit_limit_bits_per_second", String(e.rateBitsPerSecond), ",prefix=\"\(TunnelPrometheus.escape(e.prefix))\"") }
        for (name, help, pick) in [
            ("netbpf_ratelimit_passed_bytes_total", "Bytes passed under each limit.", \RateLimiter.Entry.passedBytes),
            ("netbpf_ratelimit_passed_packets_total", "Packets passed under each limit.", \RateLimiter.Entry.passedPackets),
            ("netbpf_ratelimit_dropped_bytes_total", "Bytes dropped over each limit.", \RateLimiter.Entry.droppedBytes),
            ("netbpf_ratelimit_dropped_packets_total", "Packets dropped over each limit.", \RateLimiter.Entry.droppedPackets),
        ] as [(String, String, KeyPath<RateLimiter.Entry, UInt64>)] {
            family(name, "counter", help)
            for e in limits { value(name, String(e[keyPath: pick]), ",prefix=\"\(TunnelPrometheus.escape(e.prefix))\"") }
        }
        if let blocks {
            family("netbpf_http_block_dropped_requests_total", "counter", "HTTP requests dropped by each block.")
            for b in blocks {
                value("netbpf_http_block_dropped_requests_total", String(b.hits),
                      ",kind=\"\(b.entry.kind.rawValue)\",value=\"\(TunnelPrometheus.escape(b.entry.value))\"")
            }
        }
        if let vlan {
            family("netbpf_vlan_frames_total", "counter", "Frames the VLAN learner handled, by outcome.")
            for t in vlan.totals { value("netbpf_vlan_frames_total", String(t.packets), ",outcome=\"\(t.outcome.rawValue)\"") }
            family("netbpf_vlan_bytes_total", "counter", "Bytes the VLAN learner handled, by outcome.")
            for t in vlan.totals { value("netbpf_vlan_bytes_total", String(t.bytes), ",outcome=\"\(t.outcome.rawValue)\"") }
        }
        return out
    }

    /// A read-only HTTP endpoint: GET /metrics and GET /status (JSON); anything else 404/405.
    package static func server(listen: String, node: String, health: @escaping @Sendable () -> AgentHealth,
                              limits: @escaping @Sendable () -> [RateLimiter.Entry],
                              blocks: @escaping @Sendable () -> [HTTPBlockListing]? = { nil },
                              vlan: @escaping @Sendable () -> VLANLearningReport? = { nil }) throws -> HTTPServer {
        try HTTPServer(listen: listen) { request in
            guard request.method == "GET" || request.method == "HEAD" else {
                return .body(status: 405, contentType: "text/plain", Data("read-only: GET /metrics or /status\n".utf8))
            }
            switch request.path {
            case "/metrics":
                return .body(status: 200, contentType: TunnelPrometheus.contentType, Data(render(health: health(), limits: limits(), blocks: blocks(), vlan: vlan()).utf8))
            case "/status":
                return .body(status: 200, contentType: "application/json", (try? AgentHealth.encoder().encode(health())) ?? Data())
            default:
                return .body(status: 404, contentType: "text/plain", Data("GET /metrics or /status\n".utf8))
            }
        }
    }
}
