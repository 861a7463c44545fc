#!/usr/bin/env python3
"""Functions longer than 80 lines in the product code: exit 1 with one line each.

Product code is crates/*/src of every crate but the dev-only test bed; test modules
(`#[cfg(test)]` items, `*_tests.rs`) are left out. A function runs from its `fn` line
to the closing brace at the same indentation, as rustfmt writes it.

    scripts/function-lengths.py     # CI runs it (.ci/run)
    scripts/function-lengths.py --top 10   # the ten longest, whatever their length
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LIMIT = 80
FN = re.compile(r"(\s*)(pub(\([a-z]+\))? )?(async )?(const )?(unsafe )?fn (\w+)")


def closing(lines, start, indent):
    """The index of the line closing the item that opens at `start`."""
    for k in range(start + 1, len(lines)):
        line = lines[k]
        if line.startswith(" " * indent + "}") and len(line) - len(line.lstrip()) == indent:
            return k
    return len(lines) - 1


def long_functions(path, limit=LIMIT):
    lines = path.read_text(encoding="utf-8").split("\n")
    found = []
    i = 0
    while i < len(lines):
        if re.match(r"\s*#\[cfg\(test\)\]", lines[i]) and i + 1 < len(lines):
            item = lines[i + 1]
            if item.rstrip().endswith(";"):
                i += 2
                continue
            i = closing(lines, i + 1, len(item) - len(item.lstrip())) + 1
            continue
        match = FN.match(lines[i])
        if match:
            indent = len(match.group(1))
            j = i
            while j < len(lines) and not lines[j].rstrip().endswith(("{", ";")):
                j += 1
            if j < len(lines) and lines[j].rstrip().endswith("{"):
                end = closing(lines, j, indent)
                length = end - i + 1
                if length > limit:
                    found.append((path.relative_to(ROOT), i + 1, match.group(7), length))
        i += 1
    return found


def main():
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else None
    found = []
    for crate in sorted(ROOT.glob("crates/*")):
        if crate.name == "tagwarden-testbed":
            continue
        for path in sorted((crate / "src").rglob("*.rs")):
            if path.name.endswith("_tests.rs"):
                continue
            found.extend(long_functions(path, 0 if top else LIMIT))
    if top:
        for path, line, name, length in sorted(found, key=lambda f: -f[3])[:top]:
            print(f"{length:4} {name} ({path}:{line})")
        return 0
    for path, line, name, length in found:
        print(f"{path}:{line}: fn {name} is {length} lines (at most {LIMIT}): cut it into named steps", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
