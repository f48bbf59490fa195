#!/usr/bin/python3
"""Wall time and peak RSS of commands, run one after another (benchmarks/bcc.sh).

Usage: bcc_compile_time.py RUNS 'LABEL::COMMAND' ...   (COMMAND split on spaces)
Each command runs once to warm up (caches, netbpf's vmlinux.h and its precompiled header,
the page cache of BCC's headers), then RUNS times; prints the median wall time and the median
peak RSS, the latter from wait4's rusage, which covers the process and the children it
waited for (netbpf's netbpf-cc helper). A command that fails ends the benchmark.
"""
import os
import statistics
import subprocess
import sys
import time


def measure(argv):
    start = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - start
    err = p.stderr.read().decode(errors="replace")
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (p.returncode, " ".join(argv), err))
    return wall, usage.ru_maxrss / 1024.0


def main():
    runs = int(sys.argv[1])
    rows = []
    for spec in sys.argv[2:]:
        label, command = spec.split("::", 1)
        argv = command.split()
        measure(argv)
        samples = [measure(argv) for _ in range(runs)]
        rows.append((label, statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)))
    base_t, base_m = rows[-1][1], rows[-1][2]
    print("| compiler (%d runs, median) | compile + load | peak RSS | time vs %s | RSS vs %s |" % (runs, rows[-1][0], rows[-1][0]))
    print("|---|---|---|---|---|")
    for label, t, m in rows:
        print("| %s | %.0f ms | %.0f MB | %.2fx | %.2fx |" % (label, t * 1000, m, t / base_t, m / base_m))


main()
