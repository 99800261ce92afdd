#!/usr/bin/env python3
"""tools/layers.py - checks the layering of hook/ from the built objects.

Reads `nm` of build/hook/*.o, draws an edge A -> B when A uses a symbol B
defines, and fails if (1) two or more files call each other in a circle,
(2) a mechanism file (not main.c, cmds.c or cmd_*.c) uses a verb
(ob_cmd_*), or (3) any file but maps.c calls bpf_obj_get or bpf_map_* (libbpf's
object API, bpf_map__*, on the skeleton before load is the loader's).
Usage: python3 tools/layers.py [BUILD_DIR]   (default: build)
"""
import glob, os, subprocess, sys

build = sys.argv[1] if len(sys.argv) > 1 else "build"
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hook")
objs = sorted(o for o in glob.glob(os.path.join(build, "hook", "*.o"))
              if os.path.exists(os.path.join(here, os.path.basename(o)[:-2] + ".c")))
if not objs:
    sys.exit("no objects under %s/hook: run make first" % build)
defs, uses = {}, {}
for o in objs:
    f = os.path.basename(o)[:-2] + ".c"
    uses[f] = set()
    for line in subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            uses[f].add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDRB":
            defs[parts[2]] = f
edges = {f: sorted({defs[s] for s in u if s in defs and defs[s] != f}) for f, u in uses.items()}

# Tarjan's strongly connected components: a component of two or more files is a circle.
index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        c = []
        while True:
            w = stack.pop(); on.discard(w); c.append(w)
            if w == v: break
        sccs.append(c)
for v in edges:
    if v not in index:
        visit(v)
bad = 0
for c in sccs:
    if len(c) > 1:
        print("circle: " + " <-> ".join(sorted(c))); bad += 1
verbs = lambda f: f in ("main.c", "cmds.c") or f.startswith("cmd_")
for f, u in sorted(uses.items()):
    if not verbs(f):
        for s in sorted(u):
            if s.startswith("ob_cmd_"):
                print("%s (mechanism) uses the verb %s" % (f, s)); bad += 1
    if f != "maps.c":
        for s in sorted(u):
            if s == "bpf_obj_get" or (s.startswith("bpf_map_") and not s.startswith("bpf_map__")):
                print("%s calls %s (only maps.c touches pins and maps)" % (f, s)); bad += 1
for f in sorted(edges):
    print("%-16s -> %s" % (f, " ".join(edges[f]) or "-"))
print("layers: %d problem(s) in %d files" % (bad, len(objs)))
sys.exit(1 if bad else 0)
