import Foundation

/// The record struct of a tracepoint, as BCC's TRACEPOINT_PROBE gives it to a program
/// (`args->filename`): written from the event's tracefs `format` file, field by field at the
/// offsets the kernel gives. When tracefs has no such event (not mounted, another machine), the
/// struct is vmlinux.h's `trace_event_raw_EVENT` under the BCC name; the syscall events have
/// no such struct (their records differ per syscall), so they need tracefs.
enum BCCTracepoints {
    static let tracefsRoots = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]

    /// C for `struct tracepoint__CAT__EVENT`, or a note saying why there is none.
    static func definition(category: String, event: String, roots: [String] = tracefsRoots) -> (text: String, note: String?) {
        let name = "tracepoint__\(category)__\(event)"
        guard category.allSatisfy(isNameCharacter), event.allSatisfy(isNameCharacter) else {
            return ("", "tracepoint \(category):\(event): not a tracepoint name")
        }
        for root in roots {
            let path = "\(root)/events/\(category)/\(event)/format"
            if let data = FileManager.default.contents(atPath: path), let format = String(data: data, encoding: .utf8),
               let text = structFromFormat(name: name, format: format) {
                return (text, nil)
            }
        }
        return ("#define \(name) trace_event_raw_\(event)\n",
                "tracepoint \(category):\(event): no tracefs format (is tracefs mounted?); using vmlinux.h's struct trace_event_raw_\(event)")
    }

    private static func isNameCharacter(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber || c == "_") }

    /// The struct from a tracefs format file, or nil when it has no fields.
    static func structFromFormat(name: String, format: String) -> String? {
        var fields: [(decl: String, offset: Int, size: Int, array: Bool)] = []
        for line in format.split(separator: "\n") {
            let parts = line.split(separator: "\t").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard parts.count >= 3, parts[0].hasPrefix("field:"), parts[1].hasPrefix("offset:"), parts[2].hasPrefix("size:"),
                  let offset = Int(parts[1].dropFirst("offset:".count).dropLast(parts[1].hasSuffix(";") ? 1 : 0)),
                  let size = Int(parts[2].dropFirst("size:".count).dropLast(parts[2].hasSuffix(";") ? 1 : 0)) else { continue }
            var decl = String(parts[0].dropFirst("field:".count))
            if decl.hasSuffix(";") { decl.removeLast() }
            if decl.hasPrefix("__data_loc ") {
                // __data_loc TYPE[] NAME: a u32 of (length << 16 | offset), read with TP_DATA_LOC_READ.
                let fieldName = decl.split(separator: " ").last.map(String.init) ?? "unknown"
                decl = "u32 data_loc_\(fieldName)"
                fields.append((decl, offset, size, false))
                continue
            }
            decl = decl.replacingOccurrences(of: "__user", with: "").replacingOccurrences(of: "__rcu", with: "")
            fields.append((decl, offset, size, decl.contains("[")))
        }
        guard !fields.isEmpty else { return nil }
        // Each field sits at the kernel's offset whatever its declared type's size (syscall
        // arguments are `int` in 8 bytes): one packed struct per field, its offset as padding,
        // all of them in an anonymous union.
        var out = "struct \(name) {\n\tunion {\n"
        for (k, f) in fields.enumerated() {
            let aligned = !f.array && [2, 4, 8].contains(f.size) && f.offset % f.size == 0 ? " __attribute__((aligned(\(f.size))))" : ""
            out += "\t\tstruct { char __nbb_at\(k)[\(f.offset)]; \(f.decl)\(aligned); } __attribute__((packed));\n"
        }
        out += "\t};\n};\n"
        return out
    }
}
