#!/usr/bin/python3
"""Extracts the BPF C of the installed BCC programs at run time, without compiling anything.

Usage: scripts/bcc-corpus.py OUTDIR [--only NAME ...] [--timeout SECONDS]

Runs each of Debian's bpfcc-tools examples (/usr/share/doc/bpfcc-tools/examples, .py and .py.gz)
and tools (/usr/sbin/*-bpfcc) with BCC's Python module replaced by a recorder: `BPF(text=...)`
and `BPF(src_file=...)` record the C and the cflags, `load_func` and `attach_*` record how each
function would be attached, and anything that would wait for events (perf_buffer_poll,
trace_print, time.sleep ...) ends the run. Each run happens in a new network namespace and a
new mount namespace with its own empty /run/netns (`unshare -n -m`), so the networking
examples' pyroute2 calls, including the namespaces they name, change nothing on the machine.

OUTDIR gets, per captured program, NAME.c (the C exactly as BCC would have compiled it) and
NAME.json ({"script", "args", "cflags", "loads": [...], "attaches": [...]}), plus index.json
with every script tried and why nothing was captured for the others. Nothing of BCC's is kept
in the netbpf repository: the corpus is made from the installed package each time.

Needs Debian's bpfcc-tools and python3-bpfcc, run by /usr/bin/python3 (the Debian python
that has the bcc module), as root (some tools check for it).
"""
import gzip
import json
import os
import subprocess
import sys
import tempfile

EXAMPLES = "/usr/share/doc/bpfcc-tools/examples"
TOOLS_DIR = "/usr/sbin"

# Arguments for the scripts that refuse to start without them (an interface, a function).
ARGS = {
    "xdp_drop_count": ["lo"],
    "xdp_macswap_count": ["lo"],
    "xdp_redirect_cpu": ["lo", "0"],
    "xdp_redirect_map": ["lo", "lo"],
    "net_monitor": ["lo"],
    "http-parse-simple": ["-i", "lo"],
    "http-parse-complete": ["-i", "lo"],
    "sockmap": ["-c", "/sys/fs/cgroup"],
    "tunnel": ["0"],
    "tunnel_mesh": ["2", "0", "0", "0"],
    "strlen_snoop": ["1"],
    "mallocstacks": ["1"],
    "stacksnoop": ["vfs_read"],
    "stack_buildid_example": ["-p", "1"],
    "mysqld_query": ["1"],
    "nodejs_http_server": ["1"],
    "funccount": ["vfs_read"],
    "funclatency": ["vfs_read"],
    "funcslower": ["vfs_read"],
    "funcinterval": ["vfs_read"],
    "stackcount": ["vfs_read"],
    "trace": ["do_sys_openat2"],
    "argdist": ["-C", "p::do_sys_openat2()"],
    "inject": ["kmalloc", "-P", "0.01"],
    "tplist": [],
}


# The recorder: run as `python3 -c RUNNER OUTJSON SCRIPT ARGS...`.
RUNNER = r'''
import json, os, sys, time, runpy, atexit, types
out_path, script = sys.argv[1], sys.argv[2]
sys.argv = [script] + sys.argv[3:]
record = {"programs": [], "error": None}

class StopCapture(BaseException):
    pass

def save():
    with open(out_path, "w") as f:
        json.dump(record, f)
atexit.register(save)

import bcc
Real = bcc.BPF

class Anything:
    """Stands in for tables, perf buffers and functions: every attribute and call answers."""
    def __init__(self, name="x"):
        self._name = name
        self.fd = -1
        self.name = name.encode() if isinstance(name, str) else name
    def __getattr__(self, k):
        return Anything(k)
    def __call__(self, *a, **kw):
        if self._name in ("open_perf_buffer", "open_ring_buffer"):
            return None
        if self._name in ("items", "values", "keys", "items_lookup_and_delete_batch",
                          "items_lookup_batch", "get_table"):
            return []
        return Anything(self._name)
    def __getitem__(self, k):
        return Anything("item")
    def __setitem__(self, k, v):
        pass
    def __delitem__(self, k):
        pass
    def __iter__(self):
        return iter([])
    def __len__(self):
        return 0
    def __int__(self):
        return 0
    def __index__(self):
        return 0
    def __bool__(self):
        return True

def _s(v):
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    return v

class Recorder(Real):
    def __init__(self, src_file=b"", hdr_file=b"", text=None, debug=0, cflags=[], usdt_contexts=[],
                 allow_rlimit=True, device=None, attach_usdt_ignore_pid=False):
        text = _s(text)
        src_file = _s(src_file)
        if not text and src_file:
            path = src_file
            if not os.path.exists(path):
                path = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), src_file)
            with open(path) as f:
                text = f.read()
        self._prog = {"text": text or "", "src_file": src_file or None,
                      "cflags": [_s(c) for c in cflags], "loads": [], "attaches": [],
                      "usdt": len(usdt_contexts) > 0}
        record["programs"].append(self._prog)
        save()
        self.tables = {}
        self.funcs = {}
    def __del__(self):
        pass
    def cleanup(self):
        pass
    def __enter__(self):
        return self
    def __exit__(self, *a):
        pass
    def load_func(self, func_name, prog_type, device=None, attach_type=-1):
        self._prog["loads"].append({"function": _s(func_name), "prog_type": int(prog_type)})
        save()
        f = Anything(_s(func_name))
        return f
    def _attach(self, kind, **kw):
        self._prog["attaches"].append(dict({"kind": kind}, **{k: _s(v) if isinstance(v, (str, bytes)) else (v if isinstance(v, (int, float, type(None))) else str(v)) for k, v in kw.items()}))
        save()
    def attach_kprobe(self, event=b"", event_off=0, fn_name=b"", event_re=b""):
        self._attach("kprobe", event=event, fn_name=fn_name, event_re=event_re)
    def attach_kretprobe(self, event=b"", fn_name=b"", event_re=b"", maxactive=0):
        self._attach("kretprobe", event=event, fn_name=fn_name, event_re=event_re)
    def attach_tracepoint(self, tp=b"", tp_re=b"", fn_name=b""):
        self._attach("tracepoint", tp=tp, fn_name=fn_name, tp_re=tp_re)
    def attach_raw_tracepoint(self, tp=b"", fn_name=b""):
        self._attach("raw_tracepoint", tp=tp, fn_name=fn_name)
    def attach_kfunc(self, fn_name=b""):
        self._attach("kfunc", fn_name=fn_name)
    def attach_kretfunc(self, fn_name=b""):
        self._attach("kretfunc", fn_name=fn_name)
    def attach_lsm(self, fn_name=b""):
        self._attach("lsm", fn_name=fn_name)
    def attach_uprobe(self, name=b"", sym=b"", sym_re=b"", addr=None, fn_name=b"", pid=-1, sym_off=0):
        self._attach("uprobe", name=name, sym=sym, sym_re=sym_re, fn_name=fn_name)
    def attach_uretprobe(self, name=b"", sym=b"", sym_re=b"", addr=None, fn_name=b"", pid=-1):
        self._attach("uretprobe", name=name, sym=sym, sym_re=sym_re, fn_name=fn_name)
    def attach_perf_event(self, ev_type=-1, ev_config=-1, fn_name=b"", sample_period=0, sample_freq=0, pid=-1, cpu=-1, group_fd=-1):
        self._attach("perf_event", ev_type=ev_type, ev_config=ev_config, fn_name=fn_name)
    def attach_xdp(self, dev, fn, flags=0):
        self._attach("xdp", dev=dev, fn_name=getattr(fn, "_name", str(fn)), flags=flags)
    @staticmethod
    def remove_xdp(dev, flags=0):
        pass
    @staticmethod
    def attach_func(fn, attachable_fd, attach_type, flags=0):
        pass
    @staticmethod
    def detach_func(fn, attachable_fd, attach_type):
        pass
    def get_table(self, name, keytype=None, leaftype=None, reducer=None):
        return Anything(_s(name))
    def __getitem__(self, key):
        return Anything(_s(key))
    def __contains__(self, key):
        return True
    def get_syscall_fnname(self, name):
        return b"__x64_sys_" + (name if isinstance(name, bytes) else name.encode())
    def get_syscall_prefix(self):
        return b"__x64_sys_"
    def num_open_kprobes(self):
        return 1
    def num_open_uprobes(self):
        return 1
    def num_open_tracepoints(self):
        return 1
    def perf_buffer_poll(self, timeout=-1):
        raise StopCapture()
    def ring_buffer_poll(self, timeout=-1):
        raise StopCapture()
    def ring_buffer_consume(self):
        raise StopCapture()
    def trace_print(self, fmt=None):
        raise StopCapture()
    def trace_fields(self, nonblocking=False):
        raise StopCapture()
    def trace_readline(self, nonblocking=False):
        raise StopCapture()
    def kprobe_poll(self, timeout=-1):
        raise StopCapture()
    def free_bcc_memory(self):
        return 0

def stop(*a, **kw):
    raise StopCapture()
bcc.BPF = Recorder
time.sleep = stop
import builtins
builtins.input = stop
try:
    runpy.run_path(script, run_name="__main__")
except StopCapture:
    pass
except SystemExit as e:
    record["error"] = "exit %s" % (e.code,)
except BaseException as e:
    record["error"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
save()
os._exit(0)
'''


def scripts():
    """(name, path) for every example and tool, examples first."""
    found = []
    for root, _, files in os.walk(EXAMPLES):
        if "/doc" in root[len(EXAMPLES):] or "/lua" in root[len(EXAMPLES):]:
            continue
        for f in sorted(files):
            if f.endswith(".py") or f.endswith(".py.gz"):
                found.append((f[:-6] if f.endswith(".gz") else f[:-3], os.path.join(root, f)))
    found.sort(key=lambda p: p[1])
    tools = sorted(f for f in os.listdir(TOOLS_DIR) if f.endswith("-bpfcc"))
    for f in tools:
        found.append((f[:-len("-bpfcc")], os.path.join(TOOLS_DIR, f)))
    return found


def run(name, path, outdir, timeout):
    with tempfile.TemporaryDirectory() as tmp:
        script = path
        if path.endswith(".gz"):
            script = os.path.join(os.path.dirname(path), "")  # keep src_file lookups beside it
            script = os.path.join(tmp, os.path.basename(path)[:-3])
            with gzip.open(path, "rb") as src, open(script, "wb") as dst:
                dst.write(src.read())
        rec = os.path.join(tmp, "record.json")
        args = ARGS.get(name, [])
        # A new network and mount namespace with a private, empty /run/netns: scripts that name
        # namespaces (pyroute2's NetNS("wan0")) create them there, and they go with the run.
        cmd = ["unshare", "-n", "-m", "--propagation", "private", "sh", "-c",
               'mkdir -p /run/netns && mount -t tmpfs netbpf-corpus /run/netns && exec "$@"', "sh",
               "/usr/bin/python3", "-c", RUNNER, rec, script] + args
        try:
            p = subprocess.run(cmd, cwd=os.path.dirname(path), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=timeout)
            stderr = p.stderr.decode(errors="replace").strip().splitlines()
        except subprocess.TimeoutExpired:
            stderr = ["timed out"]
        try:
            with open(rec) as f:
                record = json.load(f)
        except (OSError, ValueError):
            record = {"programs": [], "error": (stderr[-1] if stderr else "no record")}
    captured = []
    for i, prog in enumerate(p for p in record["programs"] if p["text"].strip()):
        base = name if i == 0 else "%s.%d" % (name, i + 1)
        with open(os.path.join(outdir, base + ".c"), "w") as f:
            f.write(prog["text"])
        meta = {"script": path, "args": args, "cflags": prog["cflags"], "src_file": prog["src_file"],
                "loads": prog["loads"], "attaches": prog["attaches"], "usdt": prog["usdt"]}
        with open(os.path.join(outdir, base + ".json"), "w") as f:
            json.dump(meta, f, indent=1)
        captured.append(base)
    return {"name": name, "script": path, "args": args, "programs": captured,
            "error": record.get("error")}


def main():
    argv = sys.argv[1:]
    if not argv or argv[0].startswith("-"):
        sys.stderr.write(__doc__)
        return 2
    outdir, only, timeout = argv[0], None, 20
    i = 1
    while i < len(argv):
        if argv[i] == "--only":
            only = (only or []) + [argv[i + 1]]
            i += 2
        elif argv[i] == "--timeout":
            timeout = float(argv[i + 1])
            i += 2
        else:
            sys.stderr.write("unknown argument %s\n" % argv[i])
            return 2
    if not os.path.isdir(EXAMPLES) and not any(f.endswith("-bpfcc") for f in os.listdir(TOOLS_DIR)):
        sys.stderr.write("bcc-corpus: bpfcc-tools is not installed (apt-get install bpfcc-tools)\n")
        return 3
    os.makedirs(outdir, exist_ok=True)
    index = []
    for name, path in scripts():
        if only and name not in only:
            continue
        entry = run(name, path, outdir, timeout)
        index.append(entry)
        status = ", ".join(entry["programs"]) if entry["programs"] else "nothing (%s)" % entry["error"]
        print("%-28s %s" % (name, status), flush=True)
    with open(os.path.join(outdir, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
    n = sum(len(e["programs"]) for e in index)
    print("captured %d programs from %d scripts into %s" % (n, len(index), outdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
