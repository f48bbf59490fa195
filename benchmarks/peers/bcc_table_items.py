#!/usr/bin/env python3
"""BCC peer for the map dump benchmark: opens a pinned u32 -> u64 hash map
through BPF_TABLE_PINNED and times how long BCC takes to read it all.

Usage: bcc_table_items.py PINNED_MAP_PATH [COUNT]
  COUNT is the number of entries the map is expected to hold (default
  1000000); a mismatch is reported on stderr and gives exit status 1.
Prints one line per API, e.g.
  entries=1000000 sum=499999500000 ms=812.345 api=items
  entries=1000000 sum=499999500000 ms=95.678 api=items_lookup_batch
ms covers only the dump itself (not BCC's compile/load). The second line
appears only when the installed BCC has Table.items_lookup_batch().
Needs python3-bpfcc and the kernel headers BCC compiles against.
"""
import sys
import time

DECLARED_MAX_ENTRIES = 1000000  # max_entries of `big` in programs/hash_1m.bpf.c


def leaf_value(v):
    # Leaves come back as ctypes integers (c_ulonglong); accept plain ints too.
    return getattr(v, "value", v)


def usage():
    sys.stderr.write("usage: %s PINNED_MAP_PATH [COUNT]\n" % sys.argv[0])
    sys.exit(2)


def main():
    if len(sys.argv) not in (2, 3):
        usage()
    path = sys.argv[1]
    try:
        count = int(sys.argv[2]) if len(sys.argv) == 3 else 1000000
    except ValueError:
        usage()
    if '"' in path or "\\" in path:
        sys.stderr.write("map path must not contain quotes or backslashes\n")
        sys.exit(2)

    try:
        from bcc import BPF
    except ImportError:
        sys.stderr.write("BCC's Python module is missing (Debian: python3-bpfcc)\n")
        sys.exit(1)

    # BCC reads max_entries from this declaration (items_lookup_batch sizes
    # its buffers with it), so never declare fewer than the map may hold.
    max_entries = max(DECLARED_MAX_ENTRIES, count)
    text = """
BPF_TABLE_PINNED("hash", u32, u64, big, %d, "%s");

int unused(void *ctx)
{
    return 0;
}
""" % (max_entries, path)
    bpf = BPF(text=text)
    table = bpf["big"]

    results = []

    t0 = time.monotonic()
    items = list(table.items())
    n = len(items)
    ms = (time.monotonic() - t0) * 1000.0
    results.append(("items", n, sum(leaf_value(v) for _, v in items), ms))
    del items

    if hasattr(table, "items_lookup_batch"):
        t0 = time.monotonic()
        items = list(table.items_lookup_batch())
        n = len(items)
        ms = (time.monotonic() - t0) * 1000.0
        results.append(("items_lookup_batch", n, sum(leaf_value(v) for _, v in items), ms))
        del items

    status = 0
    for api, n, total, ms in results:
        print("entries=%d sum=%d ms=%.3f api=%s" % (n, total, ms, api))
        if n != count:
            sys.stderr.write("%s: expected %d entries, got %d\n" % (api, count, n))
            status = 1
    sys.stdout.flush()
    sys.exit(status)


if __name__ == "__main__":
    main()
