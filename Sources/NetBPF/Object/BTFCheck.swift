/// Checks that every type an object's .BTF section refers to exists, before libbpf sees it.
///
/// Why: libbpf 1.1 (Debian 12) looks referenced type ids up with btf__type_by_id and uses the
/// result without a NULL check (skip_mods_and_typedefs, map definition parsing), so an object
/// whose BTF names a type id past the last type made `bpf_object__open_mem` crash the process
/// (found by fuzz/object.swift). libbpf 1.3 added the same check itself (btf_sanity_check);
/// this one turns such a file into an `invalid-object` error on any libbpf. It also refuses a
/// cycle of typedefs and modifiers, which libbpf's same loop would follow forever. It runs in
/// time linear in the size of the section (objects are untrusted input: `object inspect`).
/// A kind it does not know ends the check with no finding: libbpf judges newer kinds.
///
/// Format: linux/btf.h (struct btf_header, struct btf_type and the per-kind trailers).
enum BTFCheck {
    /// A one-line description of the first problem, or nil when the references are sound. Data
    /// libbpf itself rejects cleanly (bad magic, sections out of bounds) is left to libbpf.
    static func problem(_ btf: ArraySlice<UInt8>) -> String? {
        let b = Array(btf)
        func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        guard b.count >= 24, u16(0) == 0xEB9F else { return nil }
        let headerLength = u32(4), typeOffset = u32(8), typeLength = u32(12)
        guard headerLength <= b.count, typeOffset <= b.count - headerLength,
              typeLength <= b.count - headerLength - typeOffset else { return nil }
        let start = headerLength + typeOffset, end = start + typeLength

        // Pass 1: where each type starts, its kind, and the ids it refers to.
        var kinds: [Int] = [0]              // id 0 is void
        var references: [[Int]] = [[]]
        var o = start
        while o < end {
            guard end - o >= 12 else { return nil } // libbpf reports a truncated type itself
            let info = u32(o + 4), kind = (info >> 24) & 0x1f, vlen = info & 0xffff, sizeOrType = u32(o + 8)
            var refs: [Int] = []
            var trailer = 0
            switch kind {
            case 1: trailer = 4                                   // INT
            case 2, 8, 9, 10, 11, 12, 18: refs = [sizeOrType]     // PTR TYPEDEF VOLATILE CONST RESTRICT FUNC TYPE_TAG
            case 3: trailer = 12                                  // ARRAY: type, index_type, nelems
            case 4, 5: trailer = 12 * vlen                        // STRUCT UNION: name_off, type, offset
            case 6: trailer = 8 * vlen                            // ENUM
            case 7, 16: break                                     // FWD FLOAT
            case 13: refs = [sizeOrType]; trailer = 8 * vlen      // FUNC_PROTO: return, then name_off, type
            case 14: refs = [sizeOrType]; trailer = 4             // VAR
            case 15: trailer = 12 * vlen                          // DATASEC: type, offset, size
            case 17: refs = [sizeOrType]; trailer = 4             // DECL_TAG
            case 19: trailer = 12 * vlen                          // ENUM64
            default:
                // A kind newer than this check (or junk): its trailer's size is unknown, so the
                // types after it cannot be found. Stop with no finding rather than refuse objects
                // made for a newer kernel: libbpf judges them (its own parser, btf_type_size,
                // fails cleanly on a kind it does not know).
                return nil
            }
            guard trailer <= end - o - 12 else { return nil }
            let t = o + 12
            switch kind {
            case 3: refs = [u32(t), u32(t + 4)]
            case 4, 5: refs = (0..<vlen).map { u32(t + 12 * $0 + 4) }
            case 13: refs += (0..<vlen).map { u32(t + 8 * $0 + 4) }
            case 15: refs = (0..<vlen).map { u32(t + 12 * $0) }
            default: break
            }
            kinds.append(kind)
            references.append(refs)
            o = t + trailer
        }

        // Pass 2: every reference names an existing type.
        let count = kinds.count
        for id in 1..<max(count, 1) {
            if let bad = references[id].first(where: { $0 >= count }) {
                return "BTF type \(id) refers to type \(bad), but the object has \(count - 1) types"
            }
        }
        // Pass 3: chains of typedefs and modifiers end (libbpf walks them without a limit).
        // Each id links to at most one next id, so one walk per unvisited id, marking the path
        // as it goes, sees every type once: O(types), no recursion. A walk that meets its own
        // path (visiting) found a cycle; one that meets a finished walk (done) ends there.
        let chainKinds: Set<Int> = [8, 9, 10, 11, 18]
        enum State: UInt8 { case unvisited, visiting, done }
        var state = [State](repeating: .unvisited, count: count)
        var path: [Int] = []
        for id in 1..<max(count, 1) where state[id] == .unvisited && chainKinds.contains(kinds[id]) {
            var next = id
            while chainKinds.contains(kinds[next]) && state[next] != .done {
                if state[next] == .visiting { return "BTF type \(id) starts a cycle of typedefs and modifiers" }
                state[next] = .visiting
                path.append(next)
                next = references[next][0]
            }
            for p in path { state[p] = .done }
            path.removeAll(keepingCapacity: true)
        }
        return nil
    }
}
