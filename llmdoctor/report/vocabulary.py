"""The words, marks and colours every renderer uses for a status, and how a remedy reads: one table each."""

from __future__ import annotations

from ..results import CheckResult, Finding, Report, Status

# Order in which summaries list the statuses (worst first is the renderers' choice; this is the set).
ORDER = (Status.PASS, Status.WARN, Status.FAIL, Status.ERROR, Status.UNKNOWN, Status.NOT_APPLICABLE)
QUIET = (Status.UNKNOWN, Status.NOT_APPLICABLE)  # statuses shown dim / folded

MARKS = {Status.PASS: "✓", Status.WARN: "!", Status.FAIL: "✗", Status.UNKNOWN: "?", Status.NOT_APPLICABLE: "-",
         Status.ERROR: "‼"}
ASCII_MARKS = {Status.PASS: "ok", Status.WARN: "!", Status.FAIL: "X", Status.UNKNOWN: "?",
               Status.NOT_APPLICABLE: "-", Status.ERROR: "E"}
ICONS = {Status.PASS: "✅", Status.WARN: "⚠️", Status.FAIL: "❌", Status.UNKNOWN: "❔", Status.NOT_APPLICABLE: "➖",
         Status.ERROR: "‼️"}
STYLES = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.UNKNOWN: "magenta",
          Status.NOT_APPLICABLE: "dim", Status.ERROR: "bold magenta"}
WORDS = {Status.PASS: "passed", Status.WARN: "warning", Status.FAIL: "failed", Status.UNKNOWN: "unknown",
         Status.NOT_APPLICABLE: "not applicable", Status.ERROR: "error"}


def commands_of(finding: Finding) -> list[str]:
    """The command lines a user copies for a finding: the remedy's commands (those not already quoted in
    its text), then ``llmdoctor fix ID`` when a registered fix produces the artifact."""
    r = finding.remedy
    if r is None:
        return []
    commands = [c for c in r.commands if c not in r.text]
    if r.fix and not any(c.startswith(f"llmdoctor fix {r.fix}") for c in r.commands):
        commands.append(f"llmdoctor fix {r.fix}")
    return commands


def remedy_text(finding: Finding) -> str:
    """The remedy as one plain line: its text, then its commands and its fix (renderers without layout)."""
    r = finding.remedy
    if r is None:
        return ""
    parts = [r.text] if r.text else []
    parts += [f"`{c}`" for c in r.commands if c not in r.text]
    if r.fix:
        parts.append(f"(llmdoctor fix {r.fix})")
    return " ".join(parts)


# --- one rule each, for every renderer -------------------------------------------------------------------

def finding_line(finding: Finding) -> str:
    """A finding as one sentence: its subject (when the message doesn't start with it), then its message."""
    subject = finding.subject
    prefix = f"{subject}: " if subject and not finding.message.startswith(subject) else ""
    return prefix + finding.message


def headline(result: CheckResult) -> str:
    """The headline finding of a check: the first finding at the check's status, "(+N more)" for the rest.

    A pass states what was found (its finding), never the check's title; the title stands in only when a
    check produced no finding at all.
    """
    worst = [f for f in result.findings if f.status is result.status]
    if not worst:
        return result.title
    text = finding_line(worst[0])
    return text + (f" (+{len(worst) - 1} more)" if len(worst) > 1 else "")


def md_escape(text: object) -> str:
    """Text for Markdown (a table cell, a list item): one line, ``|`` and HTML-looking ``<...>`` escaped."""
    return (" ".join(str(text).split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;"))


def counts_text(report: Report) -> str:
    """ "18 passed, 3 warnings, 4 unknown": each status that occurs, counted apart."""
    counts = report.summary
    pieces = []
    for status in ORDER:
        n = counts[status.value]
        if n:
            plural = "s" if n > 1 and status in (Status.WARN, Status.ERROR) else ""
            pieces.append(f"{n} {WORDS[status]}{plural}")
    return ", ".join(pieces) or "no check selected"


def _names(results: tuple[CheckResult, ...] | list[CheckResult], most: int = 5) -> str:
    ids = [r.id for r in results]
    return ", ".join(ids[:most]) + (f" (+{len(ids) - most} more)" if len(ids) > most else "")


def verdict_line(report: Report) -> str:
    """The report's last line: the verdict, what failed and what to run, the counts, whether it is complete.

    ``FAILED: cuda.driver, nccl.shm — llmdoctor explain cuda.driver · 20 passed, 2 failed``
    """
    counts = counts_text(report)
    if report.failed:
        failures = report.failures
        more = " (incomplete)" if report.incomplete and report.fail_on != "unknown" else ""
        return f"FAILED: {_names(failures)} — llmdoctor explain {failures[0].id} · {counts}{more}"
    if report.errored:
        broken = [r for r in report.checks if r.status is Status.ERROR]
        return (f"ERROR: {_names(broken)} raised (a bug in the check) — llmdoctor check -vv --select "
                f"{broken[0].id} · {counts}")
    if not report.checks:
        return "OK · no check selected (see llmdoctor checks)"
    warned = [r for r in report.checks if r.status is Status.WARN]
    advice = f" — llmdoctor explain {warned[0].id}" if warned else ""
    if report.incomplete:
        n = len(report.unverified)
        return f"OK, but incomplete: {n} check{'s' if n > 1 else ''} could not decide{advice} · {counts}"
    return f"OK{advice} · {counts}"
