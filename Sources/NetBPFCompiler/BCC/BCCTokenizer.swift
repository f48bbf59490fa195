/// A C tokenizer for the BCC rewrite: enough of C to find identifiers, punctuation, literals and
/// preprocessor lines, with byte ranges into the source, so edits leave everything else
/// (comments, whitespace, line breaks) exactly as it was.
struct BCCToken: Equatable {
    enum Kind: Equatable { case identifier, number, string, character, punctuation, directive }
    let kind: Kind
    /// Byte offsets into the UTF-8 source.
    let start: Int
    let end: Int
    let text: String
}

enum BCCTokenizer {
    /// The tokens of `source`. Comments are skipped; a preprocessor line (with its backslash
    /// continuations) is one `.directive` token; string and character literals are one token
    /// each (escapes honoured); adjacent punctuation is split into the multi-character
    /// operators C has (`->`, `++`, `<<=`, ...).
    static func tokenize(_ b: [UInt8]) -> [BCCToken] {
        var out: [BCCToken] = []
        let n = b.count
        var i = 0
        var atLineStart = true
        func text(_ s: Int, _ e: Int) -> String { String(decoding: b[s..<e], as: UTF8.self) }
        func isIdentStart(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f || c >= 0x80 }
        func isIdent(_ c: UInt8) -> Bool { isIdentStart(c) || (c >= 0x30 && c <= 0x39) }
        while i < n {
            let c = b[i]
            if c == 0x0a { atLineStart = true; i += 1; continue }
            if c == 0x20 || c == 0x09 || c == 0x0d || c == 0x0c || c == 0x0b { i += 1; continue }
            if c == 0x5c, i + 1 < n, b[i + 1] == 0x0a { i += 2; continue } // line splice
            if c == 0x2f, i + 1 < n, b[i + 1] == 0x2f { // line comment (a trailing backslash continues it)
                while i < n && b[i] != 0x0a {
                    if b[i] == 0x5c, i + 1 < n, b[i + 1] == 0x0a { i += 2; continue }
                    i += 1
                }
                continue
            }
            if c == 0x2f, i + 1 < n, b[i + 1] == 0x2a { // block comment
                i += 2
                while i + 1 < n && !(b[i] == 0x2a && b[i + 1] == 0x2f) { i += 1 }
                i = min(n, i + 2)
                continue
            }
            if c == 0x23 && atLineStart { // a directive: up to the end of the logical line
                let s = i
                while i < n && b[i] != 0x0a {
                    if b[i] == 0x5c, i + 1 < n, b[i + 1] == 0x0a { i += 2; continue }
                    if b[i] == 0x2f, i + 1 < n, b[i + 1] == 0x2a { // a block comment may span lines
                        i += 2
                        while i + 1 < n && !(b[i] == 0x2a && b[i + 1] == 0x2f) { i += 1 }
                        i = min(n, i + 2)
                        continue
                    }
                    i += 1
                }
                out.append(BCCToken(kind: .directive, start: s, end: i, text: text(s, i)))
                continue
            }
            atLineStart = false
            if isIdentStart(c) {
                let s = i
                while i < n && isIdent(b[i]) { i += 1 }
                // A string or character literal with an encoding prefix (L"x", u8"x").
                if i < n, b[i] == 0x22 || b[i] == 0x27, ["L", "u", "U", "u8"].contains(text(s, i)) {
                    let quote = b[i]
                    i = literalEnd(b, i)
                    out.append(BCCToken(kind: quote == 0x27 ? .character : .string, start: s, end: i, text: text(s, i)))
                    continue
                }
                out.append(BCCToken(kind: .identifier, start: s, end: i, text: text(s, i)))
                continue
            }
            if (c >= 0x30 && c <= 0x39) || (c == 0x2e && i + 1 < n && b[i + 1] >= 0x30 && b[i + 1] <= 0x39) {
                let s = i
                while i < n {
                    let d = b[i]
                    if isIdent(d) || d == 0x2e { i += 1; continue }
                    // exponent signs: 1e-5, 0x1p+3
                    if (d == 0x2b || d == 0x2d), i > s, [0x65, 0x45, 0x70, 0x50].contains(b[i - 1]) { i += 1; continue }
                    break
                }
                out.append(BCCToken(kind: .number, start: s, end: i, text: text(s, i)))
                continue
            }
            if c == 0x22 || c == 0x27 {
                let s = i
                i = literalEnd(b, i)
                out.append(BCCToken(kind: c == 0x22 ? .string : .character, start: s, end: i, text: text(s, i)))
                continue
            }
            // Punctuation: the longest operator that matches.
            let s = i
            var len = 1
            for op in operators where op.count > 1 && i + op.count <= n {
                if Array(b[i..<i + op.count]) == op { len = op.count; break }
            }
            i += len
            out.append(BCCToken(kind: .punctuation, start: s, end: i, text: text(s, i)))
        }
        return out
    }

    /// Longest first.
    private static let operators: [[UInt8]] = ["<<=", ">>=", "...", "->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=",
                                               "&&", "||", "*=", "/=", "%=", "+=", "-=", "&=", "^=", "|=", "##"].map { Array($0.utf8) }

    /// The offset just past the literal starting at the quote at `i` (or the end of the line
    /// for an unterminated one).
    private static func literalEnd(_ b: [UInt8], _ start: Int) -> Int {
        let quote = b[start]
        var i = start + 1
        while i < b.count {
            if b[i] == 0x5c { i += 2; continue }
            if b[i] == quote { return i + 1 }
            if b[i] == 0x0a { return i }
            i += 1
        }
        return b.count
    }
}
