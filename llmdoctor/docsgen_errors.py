"""Generate docs/errors/: one page per knowledge-base code, and an index (separate from docsgen.py).

    python -m llmdoctor.docsgen_errors            # write the pages
    python -m llmdoctor.docsgen_errors --check    # exit 1 and list what is out of date (what the tests do)
"""

from __future__ import annotations

import sys
from pathlib import Path

from .facts.known_errors import KnownError, table

FOLDER = Path("docs") / "errors"


def _fence(text: str) -> str:
    return "~~~~text\n" + text.rstrip("\n") + "\n~~~~"


def error_page(err: KnownError) -> str:
    lines = [f"# {err.code}: {err.title or err.cause.split('.')[0]}", "",
             f"- **Check:** [`{err.check}`](../checks/{err.check}.md)",
             f"- **Severity when seen:** {err.severity}", "",
             "## Root cause", "", err.cause, "", "## Fix", "", err.fix, ""]
    if err.commands:
        lines += ["~~~~sh", *err.commands, "~~~~", ""]
    lines += ["## Seen in public reports", ""]
    for source, text in err.fixtures:
        lines += [f"{_link(source)}:", "", _fence(text), ""]
    lines += ["## Sources", ""] + [f"- {_link(s)}" for s in err.public_sources] + [""]
    lines += ["Diagnose a message: `llmdoctor explain-error \"TEXT\"`; this entry: "
              f"`llmdoctor explain-error {err.code}`.", ""]
    return "\n".join(lines)


def _link(source: str) -> str:
    if source.startswith("http"):
        return f"<{source}>"
    repo, _, num = source.partition("#")
    return f"[{source}](https://github.com/{repo}/issues/{num})" if num else source


def errors_index(entries: tuple[KnownError, ...]) -> str:
    lines = ["# Known errors", "",
             f"llmdoctor recognises {len(entries)} error messages from public reports. Each has a stable code "
             "(never reused), the check that owns it, its root cause and fix. "
             "`llmdoctor explain-error --list` prints the same list.", "",
             "| code | check | what it is |", "|---|---|---|"]
    for e in entries:
        title = (e.title or e.cause.split(".")[0]).replace("|", "\\|")
        lines.append(f"| [{e.code}]({e.code}.md) | `{e.check}` | {title} |")
    return "\n".join(lines) + "\n"


def expected_files(root: Path) -> dict[Path, str]:
    entries = table()
    files = {root / FOLDER / f"{e.code}.md": error_page(e) for e in entries}
    files[root / FOLDER / "index.md"] = errors_index(entries)
    return files


def drift(root: Path) -> list[str]:
    files = expected_files(root)
    problems = [f"missing: {p}" for p in files if not p.exists()]
    problems += [f"out of date: {p}" for p, t in files.items() if p.exists() and p.read_text(encoding="utf-8") != t]
    folder = root / FOLDER
    if folder.is_dir():
        problems += [f"no such code any more: {p}" for p in sorted(folder.glob("*.md")) if p not in files]
    return problems


def write(root: Path) -> list[Path]:
    files = expected_files(root)
    (root / FOLDER).mkdir(parents=True, exist_ok=True)
    changed = []
    for path, text in files.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    for path in sorted((root / FOLDER).glob("*.md")):
        if path not in files:
            path.unlink()
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[args.index("--root") + 1]) if "--root" in args else Path.cwd()
    if "--check" in args:
        problems = drift(root)
        for p in problems:
            print(p)
        if problems:
            print("run: python -m llmdoctor.docsgen_errors", file=sys.stderr)
        return 1 if problems else 0
    for path in write(root):
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
