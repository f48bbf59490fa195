#!/usr/bin/env python3
"""Lists public (and open) Swift declarations that have no `///` doc comment, per module.

    scripts/undocumented-public.py                 # counts for every module under Sources/
    scripts/undocumented-public.py NetBPFCompiler  # the declarations of the named modules
    scripts/undocumented-public.py --counts A B    # counts only, for the named modules

A declaration is public when it says `public` or `open`, or when it sits directly in a public
enum (its cases), a public protocol (its requirements) or a `public extension` (members without
an access modifier of their own). Extensions and deinits are not symbols of their own and are
skipped. A declaration is documented when the nearest line above it, attributes (`@...`) and
`#if` lines skipped, is a `///` line or closes a `/** ... */` block. Exit status 1 when a named
module has undocumented declarations, so CI can hold a module at zero.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SOURCES = os.path.join(ROOT, "Sources")

DECL = re.compile(
    r"^(?P<attrs>(?:@[\w.]+(?:\([^)]*\))?\s+)*)"
    r"(?P<mods>(?:[a-z]+(?:\([a-z]+\))?\s+)*)"
    r"(?P<kw>func|var|let|init[?!]?|subscript|class|struct|enum|protocol|typealias|actor|case|"
    r"extension|associatedtype|deinit|macro|operator)\b"
)
MODIFIERS = {
    "public", "open", "package", "internal", "private", "fileprivate", "static", "class", "final",
    "override", "mutating", "nonmutating", "convenience", "required", "lazy", "weak", "unowned",
    "indirect", "nonisolated", "dynamic", "optional", "consuming", "borrowing", "distributed",
    "prefix", "postfix", "infix",
}
TYPE_KEYWORDS = {"class", "struct", "enum", "protocol", "actor", "extension"}


def code_lines(text):
    """Each line with comments removed and string literal contents blanked (braces inside
    strings and comments must not count)."""
    out, in_block, in_multi, multi_hashes = [], 0, False, 0
    for line in text.split("\n"):
        code, i, n = [], 0, len(line)
        while i < n:
            if in_block:
                end = line.find("*/", i)
                if end < 0:
                    i = n
                else:
                    in_block -= 1
                    i = end + 2
                continue
            if in_multi:
                close = '"""' + "#" * multi_hashes
                end = line.find(close, i)
                if end < 0:
                    i = n
                else:
                    in_multi = False
                    code.append('""')
                    i = end + len(close)
                continue
            c = line[i]
            if line.startswith("//", i):
                break
            if line.startswith("/*", i):
                in_block += 1
                i += 2
                continue
            m = re.match(r'(#*)"""', line[i:])
            if m:
                in_multi, multi_hashes = True, len(m.group(1))
                i += len(m.group(0))
                continue
            m = re.match(r'(#*)"', line[i:])
            if m:
                hashes = m.group(1)
                j = i + len(m.group(0))
                while j < n:
                    if line[j] == "\\" and not hashes:
                        j += 2
                        continue
                    if line.startswith('"' + hashes, j):
                        j += 1 + len(hashes)
                        break
                    j += 1
                code.append('""')
                i = j
                continue
            code.append(c)
            i += 1
        out.append("".join(code))
    return out


def documented(raw, index):
    j = index - 1
    while j >= 0:
        s = raw[j].strip()
        if s.startswith("@") or s.startswith("#if") or s.startswith("#else") or s.startswith("#endif"):
            j -= 1
            continue
        return s.startswith("///") or s.endswith("*/")
    return False


def scan(path):
    """Yields (line number, declaration text) for each undocumented public declaration."""
    with open(path, encoding="utf-8") as f:
        raw = f.read().split("\n")
    code = code_lines("\n".join(raw))
    stack, pending = [], None  # stack of (keyword, is_public); pending: scope the next '{' opens
    for index, line in enumerate(code):
        stripped = line.strip()
        m = DECL.match(stripped)
        if m:
            mods = m.group("mods").split()
            kw = m.group("kw")
            if all(re.sub(r"\(.*\)", "", mod) in MODIFIERS for mod in mods):
                explicit = "public" in mods or "open" in mods
                has_access = any(mod in ("public", "open", "package", "internal", "private", "fileprivate") for mod in mods)
                parent = stack[-1] if stack else (None, False)
                public = explicit
                if not has_access and parent[1]:
                    if parent[0] == "enum" and kw == "case":
                        public = True
                    elif parent[0] in ("protocol", "extension") and kw != "case":
                        public = True
                if public and kw not in ("extension", "deinit") and not documented(raw, index):
                    yield index + 1, raw[index].strip()
                pending = (kw if kw in TYPE_KEYWORDS else "member", public)
        for c in line:
            if c == "{":
                stack.append(pending or ("block", False))
                pending = None
            elif c == "}":
                if stack:
                    stack.pop()


def modules():
    return sorted(d for d in os.listdir(SOURCES) if os.path.isdir(os.path.join(SOURCES, d)))


def findings(module):
    base = os.path.join(SOURCES, module)
    for dirpath, _, files in sorted(os.walk(base)):
        for name in sorted(files):
            if name.endswith(".swift"):
                path = os.path.join(dirpath, name)
                for line, text in scan(path):
                    yield os.path.relpath(path, ROOT), line, text


def main(argv):
    counts_only = "--counts" in argv
    names = [a for a in argv if not a.startswith("--")]
    unknown = [n for n in names if n not in modules()]
    if unknown:
        print(f"undocumented-public: no module {', '.join(unknown)} under Sources/ (have: {', '.join(modules())})", file=sys.stderr)
        return 2
    total = 0
    for module in names or modules():
        found = list(findings(module))
        total += len(found)
        if names and not counts_only:
            for path, line, text in found:
                print(f"{path}:{line}: {text}")
        print(f"{module}: {len(found)} undocumented public declarations")
    return 1 if names and total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
