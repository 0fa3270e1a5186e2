"""Human report, like a doctor: one line per check grouped by area, details under what is not fine.

``render_rich`` adds colour (ANSI) and is used on a terminal; ``render_plain`` is the same layout
without colour.  Model strings hold plain text; only this module adds style.
"""

from __future__ import annotations

import io
from typing import Any

from ..results import CheckResult, Finding, Report, Status
from . import RenderOptions
from .vocabulary import ASCII_MARKS, MARKS, ORDER, QUIET, STYLES, WORDS


def _gib(n: int | None) -> str:
    return f"{n / 2**30:.0f} GiB" if n else "?"


def environment_line(snap: Any) -> str:
    """One line that says what was examined."""
    parts = [f"llmdoctor {snap.meta.llmdoctor_version or ''}".strip()]
    if snap.meta.source != "live":
        parts.append(f"from {snap.meta.source_detail or snap.meta.source}")
    if snap.meta.source == "dump" and snap.meta.understood:
        parts.append(f"understood: {', '.join(snap.meta.understood)}")
    host = snap.host
    if host is not None:
        parts.append(" ".join(x for x in (host.os, host.arch) if x) + (f" ({host.container})" if host.container else ""))
    if snap.python is not None and snap.python.version:
        parts.append(f"Python {snap.python.version}")
    if snap.driver is not None and snap.driver.version:
        cuda = f" (CUDA {snap.driver.cuda_version})" if snap.driver.cuda_version else ""
        parts.append(f"driver {snap.driver.version}{cuda}")
    if snap.gpus is not None:
        if not snap.gpus:
            parts.append("no NVIDIA GPU")
        else:
            names: dict[str, int] = {}
            for g in snap.gpus:
                key = g.name or "GPU"
                names[key] = names.get(key, 0) + 1
            parts.append(", ".join(f"{n}× {name}" for name, n in names.items()))
    t = snap.torch
    if t is not None:
        if not t.installed:
            parts.append("torch not installed")
        elif t.import_error:
            parts.append("torch fails to import")
        elif t.version:
            parts.append(f"torch {t.version}" + (f" (CUDA {t.cuda})" if t.cuda else ""))
    return " · ".join(p for p in parts if p)


def _fmt_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) if value else "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if value is None:
        return "unknown"
    return str(value)


def _headline(result: CheckResult) -> str:
    worst = [f for f in result.findings if f.status is result.status]
    if not worst:
        return result.title
    first = worst[0]
    prefix = first.subject and len(worst) > 1 and not first.message.startswith(first.subject)
    text = (f"{first.subject}: " if prefix else "") + first.message
    if len(worst) > 1:
        text += f" (+{len(worst) - 1} more)"
    return text


def _build(report: Report, options: RenderOptions):
    from rich.text import Text

    marks = MARKS if options.unicode else ASCII_MARKS
    lines: list[Text] = [Text(environment_line(report.snapshot), style="bold"), Text("")]
    area = None
    for result in report.checks:
        if result.area != area:
            area = result.area
            lines.append(Text(area, style="bold underline"))
        mark = marks[result.status]
        line = Text("  ")
        line.append(f"{mark} ", style=STYLES[result.status])
        line.append(result.id, style="bold" if result.status in (Status.FAIL, Status.ERROR) else "")
        line.append("  ")
        if result.status is Status.PASS and not options.verbose:
            line.append(result.title)
        else:
            line.append(_headline(result), style="dim" if result.status in QUIET else "")
        lines.append(line)
        show_details = options.verbose or result.status in (Status.WARN, Status.FAIL, Status.ERROR)
        if show_details and len(result.findings) == 1:
            lines.extend(_finding_lines(result.findings[0], options, marks)[1:])
        elif show_details:
            for finding in result.findings:
                if finding.status is Status.PASS and not options.verbose:
                    continue
                if finding.status in QUIET and result.status not in QUIET and not options.verbose:
                    continue
                lines.extend(_finding_lines(finding, options, marks))
    lines.append(Text(""))
    lines.append(_summary(report, options))
    return lines


def _finding_lines(finding: Finding, options: RenderOptions, marks: dict[Status, str]):
    from rich.text import Text

    out = []
    head = Text("      ")
    head.append(f"{marks[finding.status]} ", style=STYLES[finding.status])
    if finding.subject and not finding.message.startswith(finding.subject):
        head.append(f"{finding.subject}: ", style="bold")
    head.append(finding.message)
    out.append(head)
    if finding.evidence:
        ev = Text("        evidence: ", style="dim")
        ev.append("; ".join(f"{k}={_fmt_value(v)}" for k, v in finding.evidence.items()), style="dim")
        out.append(ev)
    remedy = finding.remedy
    if remedy is not None:
        rem = Text("        fix: ", style="cyan")
        rem.append(remedy.text)
        if remedy.fix:
            rem.append(f"  (llmdoctor fix {remedy.fix})", style="dim")
        out.append(rem)
        for command in remedy.commands:
            if command not in remedy.text:
                out.append(Text(f"          $ {command}", style="bold"))
    return out


def _summary(report: Report, options: RenderOptions):
    from rich.text import Text

    counts = report.summary
    text = Text("")
    pieces = []
    for status in ORDER:
        n = counts[status.value]
        if n:
            word = WORDS[status] + ("s" if n > 1 and status in (Status.WARN, Status.ERROR) else "")
            pieces.append((f"{n} {word}", STYLES[status]))
    for i, (piece, style) in enumerate(pieces):
        if i:
            text.append(", ")
        text.append(piece, style=style)
    verdict = "FAILED" if report.failed else ("ERROR" if report.errored else "OK")
    text.append(f"  →  {verdict}", style="bold red" if report.failed else ("bold magenta" if report.errored else "bold green"))
    if report.failed or report.errored:
        text.append("  (details: llmdoctor explain ID)", style="dim")
    return text


def _export(lines, options: RenderOptions) -> str:
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=options.width, force_terminal=options.color, no_color=not options.color,
                      color_system="standard" if options.color else None, highlight=False, emoji=False,
                      soft_wrap=False, legacy_windows=False)
    for line in lines:
        line.no_wrap = False
        console.print(line, overflow="fold")
    return buf.getvalue()


def render_rich(report: Report, options: RenderOptions) -> str:
    return _export(_build(report, options), options)


def render_plain(report: Report, options: RenderOptions) -> str:
    plain = RenderOptions(verbose=options.verbose, color=False, width=options.width, unicode=options.unicode)
    return "\n".join(line.plain for line in _build(report, plain)) + "\n"
