"""Markdown for a GitHub issue: a compact table of what is not fine, details in collapsible blocks.

Secrets are always redacted (llmdoctor.redact) even if something slipped into a message or evidence.
"""

from __future__ import annotations

from ..results import CheckResult, Finding, Report, Status
from ..redact import redact_value
from . import RenderOptions
from .text import _fmt_value, _headline, environment_line
from .vocabulary import ICONS, QUIET, WORDS, remedy_text



def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    text = " ".join(str(text).split())
    ticks = "``" if "`" in text else "`"
    return f"{ticks}{text}{ticks}" if text else ""


def render_markdown(report: Report, options: RenderOptions) -> str:
    out: list[str] = []
    verdict = "FAILED" if report.failed else ("ERROR" if report.errored else "OK")
    out.append(f"### llmdoctor: {verdict}")
    out.append("")
    out.append(_cell(environment_line(report.snapshot)))
    out.append("")
    counts = report.summary
    out.append(", ".join(f"{counts[s.value]} {WORDS[s]}" for s in
                         (Status.FAIL, Status.ERROR, Status.WARN, Status.PASS, Status.UNKNOWN, Status.NOT_APPLICABLE) if counts[s.value]))
    out.append("")
    shown = [r for r in report.checks if options.verbose or r.status in (Status.FAIL, Status.ERROR, Status.WARN)]
    if shown:
        out.append("| | check | finding |")
        out.append("|---|---|---|")
        for r in shown:
            out.append(f"| {ICONS[r.status]} | `{r.id}` | {_cell(_headline(r))} |")
        out.append("")
        out.append("<details><summary>Details and fixes</summary>")
        out.append("")
        for r in shown:
            out.extend(_details(r, options))
        out.append("</details>")
        out.append("")
    others = [r for r in report.checks if r not in shown]
    if others:
        out.append(f"<details><summary>{len(others)} other checks</summary>")
        out.append("")
        for r in others:
            out.append(f"- {ICONS[r.status]} `{r.id}`: {_cell(r.title if r.status is Status.PASS else _headline(r))}")
        out.append("")
        out.append("</details>")
        out.append("")
    return redact_value("\n".join(out)) + ("\n" if out else "")


def _details(result: CheckResult, options: RenderOptions) -> list[str]:
    lines = [f"**`{result.id}`** — {_cell(result.title)}", ""]
    for f in result.findings:
        if f.status is Status.PASS and not options.verbose:
            continue
        if f.status in QUIET and result.status not in QUIET and not options.verbose:
            continue
        lines.extend(_finding(f))
    lines.append("")
    return lines


def _finding(f: Finding) -> list[str]:
    subject = f"{f.subject}: " if f.subject and not f.message.startswith(f.subject) else ""
    lines = [f"- {ICONS[f.status]} {_cell(subject + f.message)}"]
    if f.remedy:
        lines.append(f"  - fix: {_cell(remedy_text(f))}")
    if f.evidence:
        lines.append("  - evidence: " + "; ".join(f"{_cell(k)}={_code(_fmt_value(v))}" for k, v in f.evidence.items()))
    return lines


