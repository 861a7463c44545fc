#!/usr/bin/env python3
"""The house map: which module imports which. For every product source file (tests cut
off at the first `#[cfg(test)]`), the crate-local modules it names (`crate::a`, and
`crate::commands::x` one level deeper) and the workspace crates (`tagwarden_x::m`).

Usage: scripts/module-imports.py [ROOT]    one line per module: `module -> imports`

Read it for cycles and for imports that point upward (see ARCHITECTURE.md)."""
import os, re, sys
root = sys.argv[1] if len(sys.argv) > 1 else "."
crates = os.path.join(root, "crates")
pat_crate = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)(?:::([a-z_][a-z0-9_]*))?")
pat_ws = re.compile(r"\b(tagwarden_(?:core|registry|manifest|cluster))::([a-z_][a-z0-9_]*)")
def modname(crate, rel):
    parts = rel[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return crate + ("::" + "::".join(parts) if parts else "")
for crate in sorted(os.listdir(crates)):
    if crate == "tagwarden-testbed":
        continue
    src = os.path.join(crates, crate, "src")
    cname = crate.replace("-", "_")
    for dirpath, _, files in sorted(os.walk(src)):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, src)
            text = open(path).read()
            text = text.split("#[cfg(test)]")[0]  # product code only
            # Code, not comments: a doc link is not an import.
            text = "\n".join(l for l in text.split("\n") if not l.lstrip().startswith("//"))
            me = modname(cname, rel)
            names = set()
            for a, b in pat_crate.findall(text):
                if a[0].isupper():
                    continue
                target = cname + "::" + a + (("::" + b) if b and b[0].islower() and a == "commands" else "")
                if not me.startswith(target):
                    names.add(target)
            for a, b in pat_ws.findall(text):
                names.add(a + "::" + b if b[0].islower() else a)
            if names:
                print(f"{me} -> {', '.join(sorted(names))}")
