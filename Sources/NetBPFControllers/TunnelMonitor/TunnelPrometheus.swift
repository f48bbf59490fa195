import Foundation

/// The Prometheus text exposition format (version 0.0.4) of a tunnel monitor sample:
/// per-conversation, per-VNI, flood, frame and error counters. Every family has HELP and TYPE
/// lines; series are sorted, so two scrapes of the same counters are byte-identical.
package enum TunnelPrometheus {
    package static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Label value escaping of the text format: backslash, double quote and line feed.
    package static func escape(_ s: String) -> String {
        guard s.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return s }
        var out = ""
        for ch in s {
            switch ch {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(ch)
            }
        }
        return out
    }

    static func labels(_ pairs: [(String, String)]) -> String {
        "{" + pairs.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
    }

    /// `maxConversations`: conversations exported one by one (the most bytes first; the rest
    /// are in the per-VNI totals and counted by netbpf_tunnel_conversations_unexported).
    package static func render(_ s: TunnelSample, maxConversations: Int = 10_000) -> String {
        var out = ""
        out.reserveCapacity(4096 + min(s.reading.conversations.count, maxConversations) * 600)
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func line(_ name: String, _ l: [(String, String)], _ value: UInt64) { out += name + labels(l) + " \(value)\n" }
        func line(_ name: String, _ l: [(String, String)], _ value: Double) {
            out += name + (l.isEmpty ? "" : labels(l)) + " " + format(value) + "\n"
        }

        family("netbpf_tunnel_monitor_info", "gauge", "The interface the tunnel monitor is attached to (value 1).")
        line("netbpf_tunnel_monitor_info", [("interface", s.interface), ("netns", s.namespace ?? ""),
                                            ("ports", s.ports.map(String.init).joined(separator: ","))], 1 as UInt64)

        // Conversations: one series per flow direction (a->b, b->a) and hook (tx, rx) seen, in
        // key order (VNI, then the key's bytes) and cell order: deterministic without sorting
        // 200,000 label strings. Written as bytes: this is most of a big exposition.
        var keys = Array(s.reading.conversations.keys)
        var unexported = 0
        if keys.count > maxConversations {
            keys.sort { s.reading.conversations[$0]!.totalBytes > s.reading.conversations[$1]!.totalBytes }
            unexported = keys.count - maxConversations
            keys.removeLast(unexported)
        }
        keys.sort { a, b in
            if a.vni != b.vni { return a.vni < b.vni }
            return withUnsafeBytes(of: a) { x in withUnsafeBytes(of: b) { y in x.lexicographicallyPrecedes(y) } }
        }
        var packets = [UInt8](), bytes = [UInt8]()
        packets.reserveCapacity(keys.count * 400)
        bytes.reserveCapacity(keys.count * 400)
        for k in keys {
            let c = s.reading.conversations[k]!
            let n = s.names(k)
            let vni = "\(k.vni)", proto = escape(n.innerProto)
            let ab = "{vni=\"\(vni)\",outer_src=\"\(escape(n.outerA))\",outer_dst=\"\(escape(n.outerB))\",inner_src=\"\(escape(n.innerA))\",inner_dst=\"\(escape(n.innerB))\",inner_proto=\"\(proto)\",direction=\""
            let ba = "{vni=\"\(vni)\",outer_src=\"\(escape(n.outerB))\",outer_dst=\"\(escape(n.outerA))\",inner_src=\"\(escape(n.innerB))\",inner_dst=\"\(escape(n.innerA))\",inner_proto=\"\(proto)\",direction=\""
            for cell in TMCell.allCases where c[packets: cell] > 0 || c[bytes: cell] > 0 {
                let l = (cell.isFromA ? ab : ba) + (cell.isIngress ? "rx\"} " : "tx\"} ")
                packets.append(contentsOf: "netbpf_tunnel_conversation_packets_total".utf8)
                packets.append(contentsOf: l.utf8)
                FastJSON.number(c[packets: cell], into: &packets)
                packets.append(10)
                bytes.append(contentsOf: "netbpf_tunnel_conversation_bytes_total".utf8)
                bytes.append(contentsOf: l.utf8)
                FastJSON.number(c[bytes: cell], into: &bytes)
                bytes.append(10)
            }
        }
        family("netbpf_tunnel_conversation_packets_total", "counter",
               "VXLAN frames of a conversation from outer_src/inner_src to outer_dst/inner_dst; direction tx = sent out of the interface (egress), rx = received (ingress).")
        out += String(decoding: packets, as: UTF8.self)
        family("netbpf_tunnel_conversation_bytes_total", "counter",
               "Bytes of those frames from the outer Ethernet header on (skb->len at tc).")
        out += String(decoding: bytes, as: UTF8.self)

        family("netbpf_tunnel_vni_packets_total", "counter", "VXLAN frames of all conversations of a VNI.")
        for v in s.vnis {
            line("netbpf_tunnel_vni_packets_total", [("vni", "\(v.vni ?? 0)"), ("direction", "rx")], v.rxPackets)
            line("netbpf_tunnel_vni_packets_total", [("vni", "\(v.vni ?? 0)"), ("direction", "tx")], v.txPackets)
        }
        family("netbpf_tunnel_vni_bytes_total", "counter", "Bytes of all conversations of a VNI.")
        for v in s.vnis {
            line("netbpf_tunnel_vni_bytes_total", [("vni", "\(v.vni ?? 0)"), ("direction", "rx")], v.rxBytes)
            line("netbpf_tunnel_vni_bytes_total", [("vni", "\(v.vni ?? 0)"), ("direction", "tx")], v.txBytes)
        }
        family("netbpf_tunnel_vni_conversations", "gauge", "Conversations of a VNI in the monitor's table.")
        for v in s.vnis { line("netbpf_tunnel_vni_conversations", [("vni", "\(v.vni ?? 0)")], UInt64(v.conversations)) }

        let floods = s.reading.floods.sorted { (a, b) in (a.key.vni, TunnelAddress.text(a.key.group)) < (b.key.vni, TunnelAddress.text(b.key.group)) }
        family("netbpf_tunnel_flooded_packets_total", "counter", "VXLAN frames to a multicast or broadcast outer destination (not in any conversation).")
        for (k, v) in floods {
            let g = TunnelAddress.text(k.group)
            line("netbpf_tunnel_flooded_packets_total", [("vni", "\(k.vni)"), ("group", g), ("direction", "rx")], v.rxPackets)
            line("netbpf_tunnel_flooded_packets_total", [("vni", "\(k.vni)"), ("group", g), ("direction", "tx")], v.txPackets)
        }
        family("netbpf_tunnel_flooded_bytes_total", "counter", "Bytes of flooded VXLAN frames.")
        for (k, v) in floods {
            let g = TunnelAddress.text(k.group)
            line("netbpf_tunnel_flooded_bytes_total", [("vni", "\(k.vni)"), ("group", g), ("direction", "rx")], v.rxBytes)
            line("netbpf_tunnel_flooded_bytes_total", [("vni", "\(k.vni)"), ("group", g), ("direction", "tx")], v.txBytes)
        }

        family("netbpf_tunnel_frames_total", "counter", "Frames the monitor's programs ran on, by what became of them.")
        for st in TMStat.allCases where !st.isError { line("netbpf_tunnel_frames_total", [("result", st.name)], s.reading.stats[st]) }
        family("netbpf_tunnel_errors_total", "counter", "Frames that looked like VXLAN and were not counted, by reason.")
        for st in TMStat.allCases where st.isError { line("netbpf_tunnel_errors_total", [("reason", st.name)], s.reading.stats[st]) }

        family("netbpf_tunnel_conversations", "gauge", "Conversations in the monitor's table.")
        line("netbpf_tunnel_conversations", [], Double(s.reading.conversations.count))
        family("netbpf_tunnel_conversations_capacity", "gauge", "Size of the monitor's conversation table (max_entries).")
        line("netbpf_tunnel_conversations_capacity", [], Double(s.capacity))
        family("netbpf_tunnel_conversations_unexported", "gauge", "Conversations left out of the per-conversation series (limit reached).")
        line("netbpf_tunnel_conversations_unexported", [], Double(unexported))
        family("netbpf_tunnel_read_seconds", "gauge", "Seconds the last read of the BPF maps took.")
        line("netbpf_tunnel_read_seconds", [], s.reading.readSeconds)
        return out
    }

    /// A float as the text format writes it (Go's strconv 'g'-like; integers without exponent).
    static func format(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(format: "%.9g", v)
    }
}
