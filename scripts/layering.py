#!/usr/bin/env python3
"""make layering: who may include whom in user/, and no cycles.

Rules (docs/ARCHITECTURE.md):
  lib/     pure modules: includes only lib/ (and include/, the BPF ABI)
  spec/    lib/, spec/
  gen/     lib/, spec/, gen/        (never agent/)
  agent/   lib/, spec/, agent/      (never gen/)
  client/  lib/, client/
  main.c   anything: the command table

Every include of another folder is written with its folder ("lib/log.h"), so
a reader sees the layer at the include. Checked as well:
  - no cycle in the include graph of the files;
  - with OBJDIR given (build/user), no cycle between the modules' object
    files: two .c files that call each other are one module or miss a third.
Exit status 1 with one line per finding.
"""
import os
import re
import subprocess
import sys

ALLOWED = {
    "lib": {"lib"},
    "spec": {"lib", "spec"},
    "gen": {"lib", "spec", "gen"},
    "agent": {"lib", "spec", "agent"},
    "client": {"lib", "client"},
    "": {"lib", "spec", "gen", "agent", "client"},  # user/main.c
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources(top):
    for d, _, files in os.walk(top):
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                yield os.path.join(d, f)


def layer_of(top, path):
    rel = os.path.relpath(path, top)
    return rel.split(os.sep)[0] if os.sep in rel else ""


def resolve(top, path, inc):
    """The user/ file an include names, or None (include/, build/, system)."""
    local = os.path.normpath(os.path.join(os.path.dirname(path), inc))
    if "/" not in inc and os.path.exists(local):
        return local
    cand = os.path.normpath(os.path.join(top, inc))
    return cand if os.path.exists(cand) else None


def find_cycle(graph):
    """One cycle of @graph (node -> set of nodes) as a list, or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = {n: WHITE for n in graph}
    stack = []

    def visit(n):
        color[n] = GREY
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if color.get(m, WHITE) == GREY:
                return stack[stack.index(m):] + [m]
            if color.get(m, WHITE) == WHITE:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        color[n] = BLACK
        return None

    for n in sorted(graph):
        if color[n] == WHITE:
            c = visit(n)
            if c:
                return c
    return None


def check_includes(top):
    problems = []
    graph = {}
    for path in sources(top):
        layer = layer_of(top, path)
        text = open(path, encoding="utf-8", errors="replace").read()
        graph[path] = set()
        for lineno, inc in ((text.count("\n", 0, m.start()) + 1, m.group(1))
                            for m in INCLUDE.finditer(text)):
            target = resolve(top, path, inc)
            if not target:
                continue
            graph[path].add(target)
            tl = layer_of(top, target)
            where = f"{os.path.relpath(path)}:{lineno}"
            if tl not in ALLOWED[layer]:
                problems.append(f"{where}: {layer or 'main'}/ may not include {tl}/ (\"{inc}\")")
            elif "/" not in inc:
                problems.append(f"{where}: write the folder: \"{tl}/{inc}\"")
    cycle = find_cycle(graph)
    if cycle:
        problems.append("include cycle: " + " -> ".join(os.path.relpath(p) for p in cycle))
    return problems


def symbols(obj):
    out = subprocess.run(["nm", "--defined-only", "-g", obj], capture_output=True,
                         text=True, check=True).stdout
    defined = {l.split()[-1] for l in out.splitlines() if len(l.split()) == 3}
    out = subprocess.run(["nm", "-u", obj], capture_output=True, text=True,
                         check=True).stdout
    used = {l.split()[-1] for l in out.splitlines() if l.strip()}
    return defined, used


def check_objects(objdir):
    objs = []
    for d, _, files in os.walk(objdir):
        objs += [os.path.join(d, f) for f in files if f.endswith(".o")]
    owner, uses = {}, {}
    for o in objs:
        defined, used = symbols(o)
        for s in defined:
            owner[s] = o
        uses[o] = used
    graph = {o: {owner[s] for s in uses[o] if s in owner and owner[s] != o} for o in objs}
    cycle = find_cycle(graph)
    if cycle:
        return ["modules call each other: " +
                " -> ".join("user/" + os.path.relpath(p, objdir)[:-2] + ".c" for p in cycle)]
    return []


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else "user"
    problems = check_includes(top)
    if len(sys.argv) > 2 and os.path.isdir(sys.argv[2]):
        problems += check_objects(sys.argv[2])
    for p in problems:
        print(f"layering: {p}")
    if not problems:
        print("layering: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
