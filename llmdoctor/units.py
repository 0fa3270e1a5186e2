"""Units: the one way llmdoctor writes a byte count for people."""

from __future__ import annotations


_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def format_bytes(n: float | None, unknown: str = "?", unit: str | None = None, digits: int = 1,
                 suffix: bool = True) -> str:
    """Binary units, three significant figures: 512 B, 1.50 KiB, 80.0 GiB, 1.23 TiB.

    ``unit="GiB"`` fixes the unit and the decimals instead (``digits``): "78.8 GiB", "0.3 GiB", for columns
    that must line up; ``suffix=False`` leaves the unit off ("78.8", for "78.8/79.6 GiB").
    """
    if n is None:
        return unknown
    value = float(n)
    if unit is not None:
        text = f"{value / _UNITS[unit]:,.{digits}f}"
        return f"{text} {unit}" if suffix else text
    sign = "-" if value < 0 else ""
    value = abs(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            if unit == "B":
                return f"{sign}{value:.0f} B"
            return f"{sign}{value:.3g} {unit}" if value < 100 else f"{sign}{value:.0f} {unit}"
        value /= 1024
    return f"{sign}{value:.0f} TiB"


# --- appended (issue 12): durations and cut texts --------------------------------------------------------

ELLIPSIS = "…"


def _number(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_seconds(seconds: float) -> str:
    """A duration as written in messages: "0.5 s", "20 s", "1.25 s" (never "0s" for half a second)."""
    if seconds >= 10:
        return f"{seconds:.0f} s"
    return f"{_number(seconds, 2)} s"


def truncate(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, ending with an ellipsis."""
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return ellipsis[:limit]
    keep = limit - len(ellipsis)
    cut = text[:keep]
    if not text[keep].isspace():  # the cut falls inside a word: go back to the word's start
        space = max(cut.rfind(" "), cut.rfind("\n"))
        if space > 0:
            cut = cut[:space]
    return cut.rstrip(" ,;:\n") + ellipsis

