"""Untrusted text (GPU names, env values, pasted dumps, error texts) is neutralised before any human
or CI format prints it: no terminal escape sequence, no control character, no bidi override, and no
line that GitHub Actions would run as a workflow command (``::error ...``, ``::add-mask::``,
``::stop-commands::``).

``sanitize_report`` cleans every string of a Report's results before a renderer sees it (and the
environment line is cleaned where it is built), so that renderers may add their own colours; ``finish`` is applied to every rendered output
(redaction once more, defence in depth).  Control characters become visible escapes (``\\x1b``), so
the text stays diagnosable.
"""

from __future__ import annotations

import dataclasses
import re
from types import MappingProxyType
from typing import Any

from .snapshot import field_names

# ESC-introduced sequences (CSI, OSC up to BEL/ST, DCS/PM/APC, two-byte escapes) and 8-bit CSI/OSC.
_ESCAPE_SEQ = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|[@-Z\\-_])"
                         r"|\x9b[0-?]*[ -/]*[@-~]|\x9d[^\x07\x9c]*[\x07\x9c]?")
# C0 except TAB and LF, DEL, C1, bidi embedding/override/isolate controls, line/paragraph separators.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_WORKFLOW_COMMAND = re.compile(r"(?m)^([ \t]*):(?=:)")
# ZERO WIDTH NON-JOINER between the two colons: the runner no longer sees '::' at the line start.
_BREAK = "\u200c"


def _visible(m: re.Match[str]) -> str:
    ch = m[0]
    return "\\r" if ch == "\r" else f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def clean_text(text: str) -> str:
    """The text without escape sequences (shown as ``\\x1b``...) or control characters, and with no
    line that starts a workflow command."""
    if text.isprintable():
        return neutralize_workflow_commands(text)
    text = _ESCAPE_SEQ.sub(lambda m: "\\x1b" + m[0][1:] if m[0][0] == "\x1b" else f"\\x{ord(m[0][0]):02x}" + m[0][1:],
                           text)
    return neutralize_workflow_commands(_CONTROL.sub(_visible, text))


def neutralize_workflow_commands(text: str) -> str:
    return _WORKFLOW_COMMAND.sub(lambda m: m[1] + ":" + _BREAK, text) if "::" in text else text


def _clean(obj: Any) -> Any:
    if isinstance(obj, str):
        return obj if obj.isprintable() and "::" not in obj else clean_text(obj)
    if obj is None or isinstance(obj, (bool, int, float)):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {}
        for name in field_names(type(obj)):
            value = getattr(obj, name)
            new = _clean(value)
            if new is not value:
                changes[name] = new
        return dataclasses.replace(obj, **changes) if changes else obj
    if isinstance(obj, tuple):
        items = tuple(_clean(v) for v in obj)
        return obj if all(a is b for a, b in zip(items, obj)) else items
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    if isinstance(obj, (dict, MappingProxyType)):
        new_d = {_clean(k): _clean(v) for k, v in obj.items()}
        return MappingProxyType(new_d) if isinstance(obj, MappingProxyType) else new_d
    return obj


def sanitize_report(report: Any) -> Any:
    """The report with every string of its results (findings, evidence, remedies) cleaned.

    The snapshot is not walked (with 64 GPUs it is most of the report, and renderers show only the
    environment line of it): ``report.text.environment_parts`` cleans that line where it is built.
    """
    checks = _clean(report.checks)
    return report if checks is report.checks else dataclasses.replace(report, checks=checks)


def finish(text: str, fmt: str) -> str:
    """Every rendered output: secrets redacted once more; human/CI text cleaned of control characters
    (ANSI colours the renderer added itself are kept)."""
    from .redact import redact_value

    return redact_value(text)
