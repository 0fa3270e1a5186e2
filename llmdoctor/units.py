"""Units: the one way llmdoctor writes a byte count for people."""

from __future__ import annotations


UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def format_bytes(n: float | None, unknown: str = "?", *, unit: str | None = None, decimals: int | None = None,
                 suffix: bool = True) -> str:
    """Binary units, three significant figures by default: 512 B, 1.5 KiB, 79.6 GiB, 1.21 TiB.

    ``decimals``: that many decimals in the largest unit that fits, as PyTorch writes sizes in its
    out-of-memory message ("Tried to allocate 20.00 MiB": ``decimals=2``).  ``unit``: always that unit,
    thousands separated (``unit="GiB"``: "0.5 GiB", "78.8 GiB", "1,235 MiB" with ``decimals=0``; one decimal
    by default), for figures a sentence or a column compares; ``suffix=False`` leaves the unit off ("78.8",
    for "78.8/79.6 GiB").
    """
    if n is None:
        return unknown
    value = float(n)
    if unit is not None:
        if unit not in UNITS:
            raise ValueError(f"unit {unit!r}: one of {', '.join(UNITS)}")
        text = f"{value / 1024 ** UNITS.index(unit):,.{1 if decimals is None else decimals}f}"
        return f"{text} {unit}" if suffix else text
    sign = "-" if value < 0 else ""
    value = abs(value)
    for name in UNITS:
        if value < 1024 or name == "TiB":
            if name == "B":
                return f"{sign}{value:.0f} B"
            if decimals is not None:
                return f"{sign}{value:.{decimals}f} {name}"
            return f"{sign}{value:.3g} {name}" if value < 100 else f"{sign}{value:.0f} {name}"
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

