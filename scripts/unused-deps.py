#!/usr/bin/env python3
"""Dependencies a crate declares but never names in its code: exit 1 with one line each.

For every workspace crate, each entry of [dependencies], [dev-dependencies] and
[build-dependencies] must be named (as `name::` or `use name`, with `-` read as `_`) in
the files that can use it: src/ for [dependencies] (and build.rs), plus tests/, benches/
and examples/ for [dev-dependencies]. A dependency kept only for its features or links,
never named, is listed under [package.metadata.unused-deps] ignore = ["name", ...] with
the reason in a comment.

    scripts/unused-deps.py      # CI runs it (.ci/run)
"""
import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def rust_text(crate: pathlib.Path, folders) -> str:
    text = []
    for folder in folders:
        path = crate / folder
        files = [path] if path.is_file() else sorted(path.rglob("*.rs")) if path.is_dir() else []
        for file in files:
            text.append(file.read_text(encoding="utf-8"))
    return "\n".join(text)


def named(text: str, dependency: str) -> bool:
    ident = re.escape(dependency.replace("-", "_"))
    return re.search(rf"(?<![\w:]){ident}(::|\s*;|\s+as\b|!|\s*\{{)", text) is not None or re.search(
        rf"\buse\s+{ident}\b|\bextern\s+crate\s+{ident}\b|#\[{ident}::", text
    ) is not None


def main() -> int:
    problems = []
    for manifest in sorted(ROOT.glob("crates/*/Cargo.toml")):
        crate = manifest.parent
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
        ignore = set(
            data.get("package", {}).get("metadata", {}).get("unused-deps", {}).get("ignore", [])
        )
        sections = {
            "dependencies": ["src", "build.rs"],
            "build-dependencies": ["build.rs"],
            "dev-dependencies": ["src", "tests", "benches", "examples", "build.rs"],
        }
        for section, folders in sections.items():
            text = rust_text(crate, folders)
            for dependency, spec in data.get(section, {}).items():
                name = spec.get("package", dependency) if isinstance(spec, dict) else dependency
                if dependency in ignore or name in ignore:
                    continue
                if not named(text, dependency):
                    problems.append(
                        f"{manifest.relative_to(ROOT)}: [{section}] {dependency} is never used "
                        f"in {', '.join(folders)}: remove it, or list it under "
                        f"[package.metadata.unused-deps] ignore with the reason"
                    )
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
