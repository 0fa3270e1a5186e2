"""The pages of docs/errors/: one per knowledge-base code, and an index.

``python -m llmdoctor.docsgen`` writes them with the check pages (``--check`` lists what is out of date).
"""

from __future__ import annotations

from pathlib import Path

from .facts.known_errors import KnownError, table
from .report.vocabulary import md_escape

FOLDER = Path("docs") / "errors"


def _fence(text: str) -> str:
    return "~~~~text\n" + text.rstrip("\n") + "\n~~~~"


def error_page(err: KnownError) -> str:
    # prose goes through the one Markdown escaper: "MIG-<uuid>" would otherwise be an HTML tag, not shown
    lines = [f"# {err.code}: {md_escape(err.title or err.cause.split('.')[0])}", "",
             f"- **Check:** [`{err.check}`](../checks/{err.check}.md)",
             f"- **Severity when seen:** {err.severity}", "",
             "## Root cause", "", md_escape(err.cause), "", "## Fix", "", md_escape(err.fix), ""]
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
        title = md_escape(e.title or e.cause.split(".")[0])
        lines.append(f"| [{e.code}]({e.code}.md) | `{e.check}` | {title} |")
    return "\n".join(lines) + "\n"


def expected_files(root: Path) -> dict[Path, str]:
    entries = table()
    files = {root / FOLDER / f"{e.code}.md": error_page(e) for e in entries}
    files[root / FOLDER / "index.md"] = errors_index(entries)
    return files
