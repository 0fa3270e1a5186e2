"""Human report, like a doctor: the verdict per area first, then only what needs attention, expanded.

Default view: what was examined; one line per area with its worst verdict (areas with problems first);
under it every check that is not fine, with its finding, a short evidence line and the fix as command
lines to copy; the checks that could not decide (unknown) and those with nothing to check (not
applicable) summarised on one line each, with why; last, the verdict line naming what failed and what to
run.  ``-v`` (verbosity 1) lists every check with what it found; ``-vv`` (2) every finding with its full
evidence.

Lines wrap at the terminal's width with hanging indents, never inside a word.  ``render_rich`` adds colour
(ANSI) on a terminal; ``render_plain`` is the same layout without it.  Model strings hold plain text; only
this module adds style.
"""

from __future__ import annotations

import io
import sys
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from ..results import CheckResult, Finding, Report, Status
from ..units import truncate
from . import RenderOptions
from .vocabulary import ASCII_MARKS, MARKS, QUIET, STYLES, WORDS, commands_of, counts_text, finding_line, headline, verdict_line

if TYPE_CHECKING:
    from rich.text import Text

PROBLEMS = (Status.FAIL, Status.ERROR, Status.WARN)
# Areas are listed worst first: a failure is near the top however the areas are named.
_AREA_RANK = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2, Status.UNKNOWN: 3, Status.PASS: 4,
              Status.NOT_APPLICABLE: 5}
_MOST_FINDINGS = 3  # findings of one check listed in the default view (-v lists them all)
_SHORT_REASON = 44  # characters of a reason on the unknown / not-applicable summary lines


def environment_parts(snap: Any) -> list[str]:
    """What was examined, as short phrases (the header of every human report)."""
    parts = [f"llmdoctor {snap.meta.llmdoctor_version or ''}".strip()]
    if snap.meta.source != "live":
        parts.append(f"from {snap.meta.source_detail or snap.meta.source}")
    if snap.meta.source == "dump" and snap.meta.understood:
        parts.append(f"understood: {', '.join(snap.meta.understood)}")
    host = snap.host
    if host is not None:
        parts.append(" ".join(x for x in (host.os, host.arch) if x) + (f" ({host.container})" if host.container else ""))
    parts.append(_python_part(snap))
    if snap.driver is not None and snap.driver.version:
        cuda = f" (CUDA {snap.driver.cuda_version})" if snap.driver.cuda_version else ""
        parts.append(f"driver {snap.driver.version}{cuda}")
    parts.append(_gpus_part(snap.gpus))
    parts.append(_torch_part(snap.torch))
    from ..sanitize import clean_text  # snapshot text (GPU names, sources) is untrusted: cleaned where it is shown

    return [clean_text(p) for p in parts if p]


def environment_line(snap: Any) -> str:
    """One line that says what was examined."""
    return " · ".join(environment_parts(snap))


def _python_part(snap: Any) -> str:
    py = snap.python
    if py is None or not py.version:
        return ""
    # the interpreter inspected is named when it is not the one running llmdoctor (``--python``)
    inspected = snap.meta.source == "live" and py.executable and py.executable != sys.executable
    return f"Python {py.version}" + (f" ({py.executable})" if inspected else "")


def _gpus_part(gpus: Any) -> str:
    if gpus is None:
        return ""
    if not gpus:
        return "no NVIDIA GPU"
    names: dict[str, int] = {}
    for g in gpus:
        key = g.name or "GPU"
        names[key] = names.get(key, 0) + 1
    return ", ".join(f"{n}× {name}" for name, n in names.items())


def _torch_part(t: Any) -> str:
    if t is None:
        return ""
    if not t.installed:
        return "torch not installed"
    if t.import_error:
        return "torch fails to import"
    if t.version:
        return f"torch {t.version}" + (f" (CUDA {t.cuda})" if t.cuda else "")
    return ""


def _fmt_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) if value else "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if value is None:
        return "unknown"
    return str(value)


def evidence_text(finding: Finding) -> str:
    """The evidence as one line: ``key=value; key=value``."""
    return "; ".join(f"{k}={_fmt_value(v)}" for k, v in finding.evidence.items())


# --- layout: logical lines, each wrapped with a hanging indent ------------------------------------------

@dataclass
class _Line:
    """One logical line: its indent, the indent of its continuation lines, and styled pieces."""

    indent: int
    hang: int
    pieces: list[tuple[str, str]]
    one_line: bool = False  # cut to the width (at a word, with an ellipsis) instead of wrapped
    verbatim: bool = False  # a command to copy: never wrapped nor cut, whatever the width


class _Layout:
    def __init__(self, options: RenderOptions) -> None:
        self.options = options
        self.marks = MARKS if options.unicode else ASCII_MARKS
        self.lines: list[_Line] = []

    def add(self, indent: int, *pieces: tuple[str, str], hang: int | None = None, one_line: bool = False) -> None:
        self.lines.append(_Line(indent, indent + 4 if hang is None else hang, list(pieces), one_line))

    def blank(self) -> None:
        self.lines.append(_Line(0, 0, []))

    def mark(self, status: Status) -> tuple[str, str]:
        return (f"{self.marks[status]} ", STYLES[status])


def _build(report: Report, options: RenderOptions) -> _Layout:
    out = _Layout(options)
    for i, row in enumerate(_join_parts([*environment_parts(report.snapshot), report.config_label], max(options.width, 40))):
        out.add(0 if i == 0 else 2, (row, "bold"), hang=2)
    out.blank()
    areas = _areas(report.checks)
    for area, results in areas:
        # an area with nothing to check here is said once, on the not-applicable line
        if options.level >= 1 or any(r.status is not Status.NOT_APPLICABLE for r in results):
            _area(out, area, results)
    if options.level == 0:
        sizes = {area: len(results) for area, results in areas}
        _summarised(out, [r for r in report.checks if r.status is Status.UNKNOWN], Status.UNKNOWN, sizes)
        _summarised(out, [r for r in report.checks if r.status is Status.NOT_APPLICABLE], Status.NOT_APPLICABLE,
                    sizes)
    out.blank()
    style = "bold red" if report.failed else ("bold magenta" if report.errored else "bold green")
    out.add(0, (verdict_line(report), style), hang=2)
    return out


def _join_parts(parts: list[str], width: int) -> list[str]:
    """The header's phrases joined with " · ", a line broken only between phrases (a phrase too long for a
    line is wrapped at its words later)."""
    rows: list[str] = []
    for i, part in enumerate(parts):
        room = width - (0 if len(rows) <= 1 else 2) - (2 if i < len(parts) - 1 else 0)  # room for a trailing " ·"
        if rows and len(rows[-1]) + 3 + len(part) <= room:
            rows[-1] += " · " + part
        else:
            if rows:
                rows[-1] += " ·"
            rows.append(part)
    return rows


def _areas(results: Iterable[CheckResult]) -> list[tuple[str, list[CheckResult]]]:
    areas: dict[str, list[CheckResult]] = {}
    for r in results:
        areas.setdefault(r.area, []).append(r)
    return sorted(areas.items(), key=lambda item: _AREA_RANK[_worst(item[1])])


def _worst(results: list[CheckResult]) -> Status:
    return max((r.status for r in results), key=lambda s: s.severity)


def _area(out: _Layout, area: str, results: list[CheckResult]) -> None:
    worst = _worst(results)
    counts = _area_counts(results)
    out.add(0, out.mark(worst), (f"{area:<9}", "bold"), (f" {counts}", ""), hang=12)
    shown = results if out.options.level >= 1 else [r for r in results if r.status in PROBLEMS]
    for result in sorted(shown, key=lambda r: _AREA_RANK[r.status]):  # worst first, then in report order
        _check(out, result)


def _area_counts(results: list[CheckResult]) -> str:
    pieces = []
    for status in (Status.FAIL, Status.ERROR, Status.WARN, Status.UNKNOWN, Status.PASS, Status.NOT_APPLICABLE):
        n = sum(1 for r in results if r.status is status)
        if n:
            pieces.append(f"{n} {WORDS[status]}{'s' if n > 1 and status in (Status.WARN, Status.ERROR) else ''}")
    return ", ".join(pieces)


def _shown_findings(result: CheckResult, level: int) -> list[Finding]:
    """The findings worth their own lines: all of them with -vv; else those that are not fine."""
    if level >= 2:
        return list(result.findings)
    if result.status not in PROBLEMS:
        return []  # -v: a fine (or undecided) check is its one headline line
    return [f for f in result.findings if f.status is result.status or f.status in PROBLEMS]


def _check(out: _Layout, result: CheckResult) -> None:
    findings = _shown_findings(result, out.options.level)
    id_style = "bold" if result.status in (Status.FAIL, Status.ERROR) else ""
    head = [out.mark(result.status), (result.id, id_style)]
    quiet = "dim" if result.status in QUIET else ""
    if len(findings) <= 1:  # one finding: it is the check's line, never repeated under it
        text = finding_line(findings[0]) if findings else headline(result)
        out.add(2, *head, (f"  {text}", quiet), hang=6)
        for finding in findings:
            _details(out, finding, 6)
        return
    out.add(2, *head, (f"  {_several(findings)}", quiet), hang=6)
    shared = _shared_commands(findings)  # the same command for every finding (a registered fix): once
    ordered = sorted(findings, key=lambda f: _AREA_RANK[f.status])  # worst first
    listed = ordered if out.options.level >= 1 else ordered[:_MOST_FINDINGS]
    for finding in listed:
        out.add(6, out.mark(finding.status), (finding_line(finding), ""), hang=8)
        _details(out, finding, 8, skip=shared)
    if len(listed) < len(findings):
        out.add(6, (f"… {len(findings) - len(listed)} more: llmdoctor check -v --select {result.id}", "dim"), hang=8)
    for command in shared:
        out.lines.append(_Line(6, 6, [(f"$ {command}", "bold")], verbatim=True))


def _shared_commands(findings: list[Finding]) -> list[str]:
    with_remedy = [f for f in findings if f.remedy is not None]
    if len(with_remedy) < 2:
        return []
    first = commands_of(with_remedy[0])
    return [c for c in first if all(c in commands_of(f) for f in with_remedy[1:])]


def _several(findings: list[Finding]) -> str:
    counted: dict[Status, int] = {}
    for f in findings:
        counted[f.status] = counted.get(f.status, 0) + 1
    return ", ".join(f"{n} {WORDS[s]}{'s' if n > 1 and s in (Status.WARN, Status.ERROR) else ''}"
                     for s, n in sorted(counted.items(), key=lambda item: -item[0].severity))


def _details(out: _Layout, finding: Finding, indent: int, skip: list[str] | None = None) -> None:
    """Evidence (one short line; every key in full with -vv) and the remedy with its commands."""
    level = out.options.level
    show_evidence = finding.evidence and (level >= 2 or finding.status in PROBLEMS)
    if show_evidence and level >= 2:
        for key, value in finding.evidence.items():
            out.add(indent, (f"{key}: {_fmt_value(value)}", "dim"), hang=indent + 4)
    elif show_evidence and not _told(finding):
        out.add(indent, (evidence_text(finding), "dim"), one_line=True)
    remedy = finding.remedy
    if remedy is None:
        return
    if remedy.text:
        out.add(indent, ("fix: ", "cyan"), (remedy.text, ""), hang=indent + 5)
    for command in [c for c in commands_of(finding) if c not in (skip or ())]:  # one command a line, never wrapped: a line a user copies as it is
        out.lines.append(_Line(indent + 2, indent + 2, [(f"$ {command}", "bold")], verbatim=True))


def _told(finding: Finding) -> bool:
    """Whether the message already states every evidence value (the evidence line would only repeat it)."""
    return all(f"{k}={_fmt_value(v)}" in finding.message or (isinstance(v, str) and len(v) > 3 and v in finding.message)
               for k, v in finding.evidence.items())


def _summarised(out: _Layout, results: list[CheckResult], status: Status, sizes: dict[str, int]) -> None:
    """The checks that could not decide (or had nothing to check) on one line, each with why."""
    if not results:
        return
    by_reason: dict[str, list[CheckResult]] = {}  # checks that give the same reason share it
    for r in results:
        by_reason.setdefault(_short_reason(r), []).append(r)
    items = "; ".join(f"{_ids(group, sizes)} ({reason})" for reason, group in by_reason.items())
    out.add(0, out.mark(status), (f"{WORDS[status]}: ", STYLES[status]), (items, "dim"), hang=4)


def _ids(group: list[CheckResult], sizes: dict[str, int]) -> str:
    """The ids of a group of checks, a whole area (two checks or more) written ``area.*``."""
    names: list[str] = []
    for r in group:
        whole = sizes.get(r.area, 0) > 1 and sum(1 for g in group if g.area == r.area) == sizes[r.area]
        name = f"{r.area}.*" if whole else r.id
        if name not in names:
            names.append(name)
    return ", ".join(names)


def _short_reason(result: CheckResult) -> str:
    """Why a check could not decide, in a few words: its headline before any parenthesis, cut at a word."""
    text = headline(result)
    head = text.split(" (", 1)[0]
    return truncate(head if len(head) >= 12 else text, _SHORT_REASON)


# --- output -----------------------------------------------------------------------------------------------

# Where the terminal cannot show Unicode: the punctuation llmdoctor and the checks write, in ASCII.
_ASCII = str.maketrans({"…": "...", "—": "-", "–": "-", "·": "|", "×": "x", "≤": "<=", "≥": ">=", "→": "->",
                        "‘": "'", "’": "'", "“": '"', "”": '"'})


def _piece(text: str, unicode: bool) -> str:
    text = text if unicode else text.translate(_ASCII)
    return text.replace("\n", " ")


# One row of a wrapped line: its indent, and either the span [start, end) of the line's text or a text of
# its own (a cut line's replacement, styled like the line when ``styled``).
_Row = tuple[int, int, int, "str | None", bool]


def _layout(line: _Line, plain: str, width: int, unicode: bool) -> list[_Row]:
    """Where the line's text is cut into rows: the one layout the plain and the rich renderers share."""
    if line.verbatim:
        return [(line.indent, 0, len(plain), None, False)]
    if line.one_line:
        room = max(width - line.indent, 20)
        cut = truncate(plain, room, "…" if unicode else "...")
        return [(line.indent, 0, len(plain), None, False) if cut == plain else (line.indent, 0, 0, cut, True)]
    if not plain:
        return [(0, 0, 0, "", False)]
    wrapper = textwrap.TextWrapper(width=max(width, line.hang + 20), initial_indent=" " * line.indent,
                                   subsequent_indent=" " * line.hang, break_long_words=False,
                                   break_on_hyphens=False, replace_whitespace=False, drop_whitespace=True)
    rows: list[_Row] = []
    pos = 0
    for i, row in enumerate(wrapper.wrap(plain)):
        indent = line.indent if i == 0 else line.hang
        chunk = row[indent:]
        start = plain.find(chunk, pos)
        if start < 0:  # cannot happen with these wrapper settings; keep the text rather than lose it
            rows.append((0, 0, 0, row, False))
            continue
        pos = start + len(chunk)
        rows.append((indent, start, pos, None, False))
    return rows


def _wrap(line: _Line, width: int, unicode: bool = True) -> list["Text"]:
    from rich.text import Text

    body = Text()
    for text, style in line.pieces:
        body.append(_piece(text, unicode), style=style)
    out = []
    for indent, start, end, own, styled in _layout(line, body.plain, width, unicode):
        if own is None:
            out.append(Text(" " * indent) + body[start:end])
        else:
            out.append(Text(" " * indent) + Text(own, style=_style_of(line) if styled else ""))
    return out


def _wrap_plain(line: _Line, width: int, unicode: bool = True) -> list[str]:
    """The rows of ``_wrap`` as plain text, without building rich Text (the plain renderer's hot path)."""
    plain = "".join(_piece(text, unicode) for text, _style in line.pieces)
    return [" " * indent + (plain[start:end] if own is None else own)
            for indent, start, end, own, _styled in _layout(line, plain, width, unicode)]


def _style_of(line: _Line) -> str:
    return line.pieces[-1][1] if line.pieces else ""


def _rows(report: Report, options: RenderOptions) -> list["Text"]:
    width = max(options.width, 40)
    rows: list[Text] = []
    for line in _build(report, options).lines:
        rows.extend(_wrap(line, width, options.unicode))
    return rows


def render_rich(report: Report, options: RenderOptions) -> str:
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=max(options.width, 40), force_terminal=options.color,
                      no_color=not options.color, color_system="standard" if options.color else None,
                      highlight=False, emoji=False, soft_wrap=True, legacy_windows=False)
    for row in _rows(report, options):
        console.print(row, soft_wrap=True)
    return buf.getvalue()


def render_plain(report: Report, options: RenderOptions) -> str:
    plain = RenderOptions(verbose=options.verbose, color=False, width=options.width, unicode=options.unicode,
                          verbosity=options.verbosity)
    width = max(plain.width, 40)
    rows = [row for line in _build(report, plain).lines for row in _wrap_plain(line, width, plain.unicode)]
    return "\n".join(row.rstrip() for row in rows) + "\n"


__all__ = ["environment_line", "environment_parts", "evidence_text", "render_plain", "render_rich",
           "counts_text"]
