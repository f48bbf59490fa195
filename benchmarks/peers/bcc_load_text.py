#!/usr/bin/python3
# BCC 0.26's side of benchmarks/bcc.sh: BPF(text=...) on a captured BCC program, then
# load_func of one function, as the program's own Python does. Usage: bcc_load_text.py FILE.c FUNC TYPE [-DX=Y ...]
import sys
from bcc import BPF

path, fn, kind, cflags = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
b = BPF(text=open(path).read(), cflags=cflags)
b.load_func(fn, getattr(BPF, kind))
