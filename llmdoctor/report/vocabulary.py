"""The words, marks and colours every renderer uses for a status, and how a remedy reads: one table each."""

from __future__ import annotations

from ..results import Finding, Status

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
