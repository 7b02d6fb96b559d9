#!/usr/bin/env python3
"""Figures of the code itself, read from the source with `ast` (nothing is imported), for a checkout (default: this
one):

1. constructor parameters of every class in core/ that subclasses LossTerm (directly or through another loss term),
   and the parameters of core.gan.adapt.adapt_generator, of core.evaluate's public functions and of the recipe
   runs (core.recipes' *_on_world): total (self / cls not counted), how many are keyword-only, whether **settings;
2. the functions and methods over 80 lines in core/ and nodes/ (lines, file, qualified name);
3. the import cycles among core/ and nodes/ modules, from a static graph of the pack's relative imports (an absolute
   import names no module of the pack: ComfyUI loads the pack as a package, so `import nodes` is ComfyUI's own
   nodes.py): with module-level imports alone, then counting the imports inside functions as well; and, stricter,
   with an edge to every package __init__ an import runs as well.

    python scripts/code_figures.py [CHECKOUT]
"""
import ast
import os
import sys

LONG = 80
ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def modules(root):
    """{dotted module name: path} of every .py file under core/ and nodes/ (a package's name for its __init__)."""
    mods = {}
    for base in ("core", "nodes"):
        for d, dirs, fs in os.walk(os.path.join(root, base)):
            dirs[:] = sorted(x for x in dirs if x != "__pycache__")
            for f in sorted(fs):
                if f.endswith(".py"):
                    p = os.path.join(d, f)
                    name = os.path.relpath(p, root)[:-3].replace(os.sep, ".")
                    mods[name[:-len(".__init__")] if name.endswith(".__init__") else name] = p
    return mods


def params(fn):
    """(total, keyword-only, takes **kwargs) of a def; self / cls not counted."""
    a = fn.args
    first = (a.posonlyargs + a.args)[:1]
    own = 1 if first and first[0].arg in ("self", "cls") else 0
    return len(a.posonlyargs) + len(a.args) - own + len(a.kwonlyargs), len(a.kwonlyargs), bool(a.kwarg)


def show(label, fn):
    total, kw, kwarg = params(fn)
    print(f"  {label:44s} {total:3d} parameters, {kw:2d} keyword-only{', **' + fn.args.kwarg.arg if kwarg else ''}")


def base_names(cls):
    return {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", None) for b in cls.bases}


def parameter_figures(trees):
    print("== constructor parameters of every LossTerm subclass in core/")
    classes = {}  # name -> (module, ClassDef); names are unique among the loss terms
    for m, t in trees.items():
        if m.startswith("core"):
            for node in ast.walk(t):
                if isinstance(node, ast.ClassDef):
                    classes.setdefault(node.name, (m, node))
    terms, grew = {"LossTerm"}, True
    while grew:
        new = {n for n, (_, c) in classes.items() if n not in terms and base_names(c) & terms}
        terms |= new
        grew = bool(new)
    for name in sorted(terms - {"LossTerm"}, key=lambda n: (classes[n][0], n)):
        m, cls = classes[name]
        init = next((b for b in cls.body if isinstance(b, ast.FunctionDef) and b.name == "__init__"), None)
        if init is None:
            print(f"  {m + '.' + name:44s} (no __init__ of its own: {', '.join(sorted(base_names(cls)))}'s)")
        else:
            show(f"{m}.{name}", init)
    print(f"  ({len(terms) - 1} loss terms)")
    print("== parameters of core.gan.adapt.adapt_generator, core.evaluate's public functions, the recipe runs")
    wanted = [("core.gan.adapt", lambda n: n == "adapt_generator"), ("core.evaluate", lambda n: not n.startswith("_")),
              ("core.recipes", lambda n: n.endswith("_on_world"))]
    for m, keep in wanted:
        for node in trees.get(m, ast.Module(body=[])).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and keep(node.name):
                show(f"{m}.{node.name}()", node)


def long_functions(trees, mods):
    found = []

    def visit(node, prefix, path):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    n = child.end_lineno - child.lineno + 1  # decorators not counted, the docstring is
                    if n > LONG:
                        found.append((n, os.path.relpath(path, ROOT), name, child.lineno))
                visit(child, name + ".", path)
            else:
                visit(child, prefix, path)

    for m, t in trees.items():
        visit(t, "", mods[m])
    print(f"== functions and methods over {LONG} lines in core/ and nodes/: {len(found)}")
    for n, path, name, line in sorted(found, key=lambda x: (-x[0], x[1])):
        print(f"  {n:4d} lines  {path}:{line}  {name}")


def import_graph(trees, mods):
    """Two graphs {module: {module}}: imports outside any function, and those inside functions; and, for the
    stricter figure, the package __init__s each import runs."""
    top, inner, packages = {m: set() for m in mods}, {m: set() for m in mods}, {m: set() for m in mods}

    def resolve(m, node):
        """The modules of the pack one import statement names (a name imported from a package that is a module of
        its own counts as that module)."""
        if isinstance(node, ast.Import) or not node.level:
            return []
        pkg = m if mods[m].endswith("__init__.py") else m.rpartition(".")[0]
        parts = pkg.split(".")
        base = ".".join(parts[:len(parts) - node.level + 1])
        target = base + ("." + node.module if node.module else "")
        return [target + "." + a.name if target + "." + a.name in mods else target for a in node.names]

    def visit(m, node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in resolve(m, child):
                    while target and target not in mods:  # beyond the pack's modules: the package named
                        target = target.rpartition(".")[0]
                    if target and target != m:
                        (inner if in_function else top)[m].add(target)
                        parts = target.split(".")
                        for i in range(1, len(parts)):
                            pkg = ".".join(parts[:i])
                            if pkg in mods and not (m == pkg or m.startswith(pkg + ".")):
                                packages[m].add(pkg)
            else:
                visit(m, child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                    ast.Lambda)))

    for m, t in trees.items():
        visit(m, t, False)
    return top, inner, packages


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan), each sorted, and the edges inside them."""
    index, low, stack, on, out = {}, {}, [], set(), []
    sys.setrecursionlimit(10000)

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def report_cycles(label, graph):
    found = cycles(graph)
    print(f"== import cycles ({label}): {len(found)}")
    for comp in found:
        members = set(comp)
        print("   " + " <-> ".join(comp))
        for m in comp:
            for d in sorted(graph[m] & members):
                print(f"      {m} -> {d}")


def main():
    mods = modules(ROOT)
    trees = {m: ast.parse(open(p, encoding="utf-8").read(), p) for m, p in mods.items()}
    parameter_figures(trees)
    long_functions(trees, mods)
    top, inner, packages = import_graph(trees, mods)
    print(f"== import graph: {len(mods)} modules, {sum(map(len, top.values()))} module-level import edges, "
          f"{sum(len(inner[m] - top[m]) for m in mods)} more from imports inside functions")
    report_cycles("module-level imports", top)
    both = {m: top[m] | inner[m] for m in mods}
    report_cycles("module-level and inside functions", both)
    report_cycles("module-level and inside functions, with the package __init__s each import runs",
                  {m: both[m] | packages[m] for m in mods})


if __name__ == "__main__":
    main()
