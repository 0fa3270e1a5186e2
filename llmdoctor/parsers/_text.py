"""Text helpers shared by the dump parsers: normalisation, bounded windows, small matchers."""

from __future__ import annotations

import re

from .. import data

# What one dump is scanned for: its head and its tail.  A 100 MB log is read in bounded time and
# memory; environment reports sit at the start of a paste and the fatal error at its end.
HEAD_CHARS = 512 * 2**10
TAIL_CHARS = 512 * 2**10
MAX_LINE = 4000  # longer lines are cut (minified JSON, progress bars)

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_FENCE = re.compile(r"^\s*(```|~~~)[\w+-]*\s*$")
_QUOTE = re.compile(r"^\s*>\s?")
SKIPPED_MARK = "\n[llmdoctor: middle of the input skipped]\n"


def window(text: str) -> tuple[str, bool]:
    """(the part of ``text`` that is scanned, whether something was skipped)."""
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text, False
    head = text[:HEAD_CHARS]
    tail = text[-TAIL_CHARS:]
    # cut at line boundaries so no half line is parsed
    head = head[: head.rfind("\n") + 1] or head
    nl = tail.find("\n")
    tail = tail[nl + 1:] if nl >= 0 else tail
    return head + SKIPPED_MARK + tail, True


def normalise(text: str) -> list[str]:
    """Lines of a pasted dump: CRLF/CR, ANSI colours, BOM, Markdown fences and quote marks removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    lines = []
    for line in text.split("\n"):
        if _FENCE.match(line):
            continue
        if line.startswith(">") or line.lstrip().startswith(">"):
            line = _QUOTE.sub("", line, count=1)
        if len(line) > MAX_LINE:  # keep both ends: an error may close a huge line
            line = line[: MAX_LINE // 2] + " ... " + line[-MAX_LINE // 2:]
        lines.append(line.rstrip().replace("\t", "    ") if "\t" in line else line.rstrip())
    return lines


def whole(text: str | None) -> int | None:
    """A whole number a tool printed, or None: not digits, or more digits than a 64-bit counter has."""
    text = (text or "").strip()
    return int(text) if text.isdigit() and text.isascii() and len(text) <= 19 else None


def cuda_from_tag(version: str | None) -> tuple[bool, str | None]:
    """'2.3.0+cu121' -> (True, '12.1'); '+cpu' -> (True, None); no tag -> (False, None)."""
    tag = data.local_tag(version)
    if tag is None:
        return False, None
    m = re.match(r"cu(\d{1,6}?)(\d)$", tag)
    if m:
        return True, f"{int(m.group(1))}.{m.group(2)}"
    if tag.startswith("cpu"):
        return True, None
    return False, None


UNKNOWN = {"", "n/a", "na", "none", "could not collect", "no cuda", "unknown", "not found", "-", "not installed"}


def known(value: str | None) -> str | None:
    """The value, or None for the placeholders tools print for 'unknown'."""
    if value is None:
        return None
    value = value.strip()
    return None if value.lower() in UNKNOWN else value


def yes_no(value: str | None) -> bool | None:
    v = (value or "").strip().lower()
    if v in ("true", "yes", "1", "enabled", "on"):
        return True
    if v in ("false", "no", "0", "disabled", "off"):
        return False
    return None


def size_bytes(value: str | None) -> int | None:
    """'81920MiB', '31.37 GB', '64.00 MB' -> bytes.

    The tools these dumps come from (torch-based reports, ds_report, accelerate, Unsloth) divide by
    1024**n and print "GB"/"MB", so both spellings are read as binary units.
    """
    m = re.search(r"([\d.]{1,24})\s*([KMGT]i?B)\b", value or "", re.I)  # bounded: no quadratic backtracking
    if not m:
        return None
    unit = m.group(2).upper()
    mult = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[unit[0]]
    try:
        number = float(m.group(1)) * mult
    except ValueError:
        return None
    return int(number) if number < 2**63 else None
