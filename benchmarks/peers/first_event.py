#!/usr/bin/env python3
"""Start-to-first-event of tracing tools, side by side, rounds interleaved.

For each round and each tool: start it, exec a marker binary every 2 ms from this process,
and stop the clock when the tool prints a line naming the marker. Peak RSS is VmHWM of the
tool's process (for BCC: the python3 process). Prints one markdown table.
Usage: first_event.py ROUNDS NAME=COMMAND... (COMMAND split on spaces)
"""
import os, shutil, statistics, subprocess, sys, threading, time

rounds = int(sys.argv[1])
tools = [a.split("=", 1) for a in sys.argv[2:]]
marker = "/tmp/nb-first-event-%d" % os.getpid()
shutil.copy("/bin/true", marker)

def peak_rss_kib(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0

def once(command):
    start = time.monotonic()
    proc = subprocess.Popen(command.split(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
    stop = threading.Event()
    def fire():
        while not stop.is_set():
            subprocess.run([marker])
            time.sleep(0.002)
    threading.Thread(target=fire, daemon=True).start()
    elapsed, rss = None, 0
    for line in proc.stdout:
        if marker in line:
            elapsed = time.monotonic() - start
            rss = peak_rss_kib(proc.pid)
            break
    stop.set()
    proc.kill()
    proc.wait()
    return elapsed, rss

results = {name: ([], []) for name, _ in tools}
for r in range(rounds + 1):          # round 0 warms caches (page cache, compile cache)
    for name, command in tools:
        t, rss = once(command)
        if r > 0 and t is not None:
            results[name][0].append(t * 1000)
            results[name][1].append(rss / 1024)
os.unlink(marker)

base = {name: statistics.median(v[0]) for name, v in results.items() if v[0]}
print("| tool | start to first event, median ms (min-max) | peak RSS, MB | runs |")
print("|---|---|---|---|")
for name, (times, rss) in results.items():
    if not times:
        print("| %s | failed | | 0 |" % name)
        continue
    print("| %s | %.1f (%.1f-%.1f) | %.1f | %d |" % (name, statistics.median(times), min(times), max(times), statistics.median(rss), len(times)))
names = [n for n, _ in tools]
if len(names) >= 3 and all(n in base for n in names[:3]):
    ours, bcc, c = names[0], names[1], names[2]
    rss = {n: statistics.median(results[n][1]) for n in names[:3]}
    print()
    print("%s vs %s: %.3fx time, %.3fx RSS; vs %s: %.2fx time" % (ours, bcc, base[ours] / base[bcc], rss[ours] / rss[bcc], c, base[ours] / base[c]))
