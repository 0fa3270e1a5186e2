"""Helpers for the dump tests: the real cases (tests/data/cases, copied from shared/cases) as a user pastes them."""

from __future__ import annotations

from pathlib import Path

from llmdoctor.engine import Context, load_registry, run_checks, select
from llmdoctor.parsers import parse_dump

DATA = Path(__file__).resolve().parent.parent / "data"
CASES = DATA / "cases"
DUMPS = DATA / "dumps"


def case_input(name: str) -> str:
    """The dump plus the '# error:' text (what a user pastes), without the root-cause header lines."""
    error = ""
    body = []
    for line in (CASES / name).read_text(encoding="utf-8").splitlines():
        if line.startswith("# error:"):
            error = line[len("# error:"):].strip()
        elif line.startswith("# "):
            continue  # header lines (source, tool, note, root cause) and gap markers are for humans
        else:
            body.append(line)
    return "\n".join(body) + "\n" + error + "\n"


def dump(name: str) -> str:
    return (DUMPS / name).read_text(encoding="utf-8")


def report_for(text: str, name: str = "paste", **options):
    snap = parse_dump(text, name)
    registry = load_registry()
    return run_checks(snap, select(registry), Context(options=options), registry=registry)


def statuses(report) -> dict[str, str]:
    return {c.id: c.status.value for c in report.checks}
