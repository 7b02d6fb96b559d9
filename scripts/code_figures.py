#!/usr/bin/env python3
"""Figures of the code itself, for a checkout (default: this one): the parameters of the loss terms' constructors
and of the adaptation / recipe runs (total, keyword-only, whether they take **settings), the functions over 80
lines in core/ and nodes/, and the import cycles among core/ and nodes/ modules (relative imports resolved;
module-level imports alone, then with the imports inside functions).

    python scripts/code_figures.py [CHECKOUT]
"""
import ast
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
mods = {}
for base in ("core", "nodes"):
    for d, _, fs in os.walk(os.path.join(root, base)):
        for f in fs:
            if f.endswith(".py"):
                p = os.path.join(d, f)
                rel = os.path.relpath(p, root)[:-3].replace(os.sep, ".")
                if rel.endswith(".__init__"):
                    rel = rel[:-9]
                mods[rel] = p
def params(fn):
    a = fn.args
    n = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) - (1 if a.args and a.args[0].arg in ("self", "cls") else 0)
    return n, len(a.kwonlyargs), bool(a.kwarg)
print("== constructor / run parameters (total, keyword-only, **settings)")
targets = {"SDSLoss", "MultiViewSDSLoss", "VSDLoss", "BSDLoss", "HybridSDSLoss", "ReferenceViewsLoss", "EikonalLoss",
           "RenderRegularizer", "RelativeDistanceLoss", "DiffusionReconstructionLoss", "MultiScaleTV"}
funcs = {"adapt_generator", "adaptation_terms", "dreamfusion_on_world", "dreamcraft3d_on_world", "texture_on_world",
         "dreamcraft3d_geometry_on_world"}
long_fns, graph, fgraph = [], {}, {}
for m, p in sorted(mods.items()):
    t = ast.parse(open(p).read())
    for node in ast.walk(t):
        if isinstance(node, ast.ClassDef) and node.name in targets:
            init = next((b for b in node.body if isinstance(b, ast.FunctionDef) and b.name == "__init__"), None)
            if init:
                print(f"  {node.name:28s} {params(init)}")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name in funcs and node.col_offset == 0:
                print(f"  {node.name}() {params(node)}")
            if node.end_lineno - node.lineno + 1 > 80:
                long_fns.append((node.end_lineno - node.lineno + 1, f"{os.path.relpath(p, root)}:{node.name}"))
    deps, fdeps = set(), set()
    pkg = m if p.endswith("__init__.py") else m.rsplit(".", 1)[0]
    top = set(map(id, t.body))
    for node in ast.walk(t):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = pkg.split(".")
            base = base[:len(base) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                cand = target + "." + alias.name
                (deps if id(node) in top else fdeps).add(cand if cand in mods else target)
    graph[m] = {d for d in deps if d in mods and d != m}
    fgraph[m] = {d for d in deps | fdeps if d in mods and d != m}
print("== functions over 80 lines:", len(long_fns))
for n, name in sorted(long_fns, reverse=True):
    print(f"  {n:4d} {name}")
# cycles: strongly connected components
idx, low, stack, on, sccs, c = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)
def strong(v):
    idx[v] = low[v] = c[0]; c[0] += 1; stack.append(v); on.add(v)
    for w in graph.get(v, ()):
        if w not in idx:
            strong(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: sccs.append(sorted(comp))
for v in graph:
    if v not in idx: strong(v)
print("== import cycles (module-level imports):", len(sccs))
for s in sccs:
    print("  ", " <-> ".join(s))
graph = fgraph; idx.clear(); low.clear(); stack.clear(); on.clear(); sccs.clear()
for v in graph:
    if v not in idx: strong(v)
print("== import cycles (with imports inside functions):", len(sccs))
for s in sccs:
    print("  ", " <-> ".join(s))
