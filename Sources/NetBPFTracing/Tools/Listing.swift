import Glibc
import NetBPF

/// tplist: tracepoints and their formats.
public enum Tplist {
    /// One tracepoint.
    public struct Entry: Sendable, Encodable, Equatable {
        /// "category:event".
        public var name: String
        /// Its own arguments, when listed verbosely (nil when its format could not be read).
        public var fields: [TracepointFormat.Field]?
    }

    /// The tracepoints matching `pattern` (a glob on "category:event"; without a ':' it
    /// matches anywhere in the name), with their arguments when `verbose`.
    /// - Throws: `BPFError` when tracefs is not mounted and cannot be.
    public static func list(pattern: String?, verbose: Bool) throws -> [Entry] {
        var glob = pattern
        if let p = glob, !p.contains(":") { glob = "*" + p + "*" }
        return try Tracefs.tracepoints(matching: glob).map { name in
            guard verbose else { return Entry(name: name, fields: nil) }
            let parts = name.split(separator: ":")
            let format = try? Tracefs.format(category: String(parts[0]), event: String(parts[1]))
            return Entry(name: name, fields: format?.arguments)
        }
    }

    /// BCC's layout: the name, then with -v one `    type name;` line per argument.
    public static func format(_ entries: [Entry]) -> String {
        var out = ""
        for e in entries {
            out += e.name + "\n"
            for f in e.fields ?? [] { out += "    " + f.declaration + ";\n" }
        }
        return out
    }
}

/// bps: BPF programs on the system (BCC bps layout), from NetBPF's Inventory.
public enum Bps {
    /// One loaded program.
    public struct Row: Sendable, Encodable, Equatable {
        /// The program's id.
        public var id: UInt32
        /// Its program type ("kprobe", "sched_cls").
        public var type: String
        /// The uid that loaded it.
        public var uid: UInt32
        /// How many maps it uses.
        public var maps: Int
        /// When it was loaded (seconds since the epoch).
        public var loadTime: Double
        /// Its name as the kernel keeps it.
        public var name: String
        /// Where its links attach it ("xdp ifindex 3 (link 12)").
        public var attachedTo: [String]
    }

    /// Every program on the system (`Inventory.programs()`).
    /// - Throws: `BPFError(.permission)` without CAP_SYS_ADMIN.
    public static func rows() throws -> [Row] {
        try Inventory.programs().map {
            Row(id: $0.info.id, type: $0.info.type.description, uid: $0.info.createdByUID, maps: $0.info.mapIDs.count,
                loadTime: $0.info.loadTime, name: $0.info.name, attachedTo: $0.attachedTo)
        }
    }

    /// BCC's bps table: BID TYPE UID #MAPS LoadTime NAME.
    public static func format(_ rows: [Row]) -> String {
        var out = leftPad("BID", 8) + " " + pad("TYPE", 20) + " " + leftPad("UID", 5) + " " + leftPad("#MAPS", 6) + " " + pad("LoadTime", 12) + " NAME\n"
        for r in rows {
            out += leftPad(String(r.id), 8) + " " + pad(r.type, 20) + " " + leftPad(String(r.uid), 5) + " " + leftPad(String(r.maps), 6) + " "
                + pad(loadTimeText(r.loadTime), 12) + " " + r.name + "\n"
        }
        return out
    }

    /// "Nov21/23:52", as BCC's bps prints load times.
    static func loadTimeText(_ t: Double) -> String {
        var seconds = time_t(t)
        var parts = tm()
        localtime_r(&seconds, &parts)
        var buf = [CChar](repeating: 0, count: 32)
        strftime(&buf, buf.count, "%b%d/%H:%M", &parts)
        return String(cString: buf)
    }
}
