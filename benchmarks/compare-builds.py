#!/usr/bin/env python3
"""Two netbpf builds against each other, interleaved run by run (each round runs every command
with both builds, in alternating order), so the drift of a small shared machine falls on both.
Usage (root): python3 benchmarks/compare-builds.py BEFORE_CHECKOUT AFTER_CHECKOUT [ROUNDS]
Each checkout needs a release build (.build/release/netbpf and its compiler). Runs in a network
namespace of its own (a veth pair there, bpffs mounted in its own mount namespace)."""
import os, shutil, statistics, subprocess, sys, tempfile, time

if os.environ.get("NB_COMPARE_INSIDE") != "1":
    ns = "nb-compare-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        sys.exit(subprocess.run(["ip", "netns", "exec", ns, "sh", "-c",
                                 'mount -t bpf bpf /sys/fs/bpf && exec "$@"', "sh", sys.executable] + sys.argv,
                                env=dict(os.environ, NB_COMPARE_INSIDE="1")).returncode)
    finally:
        subprocess.run(["ip", "netns", "del", ns])

roots = {"before": sys.argv[1], "after": sys.argv[2]}
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 21
work = tempfile.mkdtemp(prefix="nb-compare-")
def quiet(*argv): subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
quiet("ip", "link", "set", "lo", "up")
quiet("ip", "link", "add", "cmp0", "type", "veth", "peer", "name", "cmp1")
quiet("ip", "link", "set", "cmp0", "up"); quiet("ip", "link", "set", "cmp1", "up")

def timed(argv, env):
    start = time.perf_counter()
    r = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0: sys.exit("%s: %s" % (" ".join(argv), r.stderr.strip()))
    return (time.perf_counter() - start) * 1000

results = {}
try:
    for i in range(rounds + 1):  # round 0 warms up
        for build in (("before", "after") if i % 2 == 0 else ("after", "before")):
            root = roots[build]
            nb = root + "/.build/release/netbpf"
            tc, tp = root + "/programs/count_icmp.bpf.c", root + "/programs/tp_vmlinux.bpf.c"
            env = dict(os.environ, NETBPF_STATE_DIR="%s/state-%s" % (work, build))
            def run(name, argv, cache, detach=False):
                e = dict(env, NETBPF_CACHE_DIR=cache)
                t = timed(argv, e)
                if detach: timed([nb, "detach", "tc", "cmp0", "--all"], e)
                if i: results.setdefault(name, {}).setdefault(build, []).append(t)
            cold = "%s/cold-%s-%d" % (work, build, i)
            os.makedirs(cold)
            run("attach tc, cold cache", [nb, "attach", "tc", "cmp0", tc], cold, detach=True)
            shutil.rmtree(cold)
            warm = "%s/warm-%s" % (work, build)
            run("attach tc, warm cache", [nb, "attach", "tc", "cmp0", tc], warm, detach=True)
            run("attach tc --no-cache", [nb, "attach", "tc", "cmp0", tc, "--no-cache"], warm, detach=True)
            run("compile, cached (count_icmp)", [nb, "compile", tc, "-o", "/dev/null"], warm)
            run("compile --no-cache (tp_vmlinux, PCH ready)", [nb, "compile", "--no-cache", tp, "-o", "/dev/null"], warm)
            run("prog list (no compile)", [nb, "prog", "list"], warm)
finally:
    subprocess.run(["ip", "link", "del", "cmp0"])
    shutil.rmtree(work, ignore_errors=True)

print("| medians of %d interleaved rounds | before, ms | after, ms | after / before |" % rounds)
print("|---|---:|---:|---:|")
for name, by in results.items():
    b, a = statistics.median(by["before"]), statistics.median(by["after"])
    print("| %s | %.1f | %.1f | %.2f |" % (name, b, a, a / b))
