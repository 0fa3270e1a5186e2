"""Units: the one way llmdoctor writes a byte count for people."""

from __future__ import annotations


def format_bytes(n: float | None, unknown: str = "?") -> str:
    """Binary units, three significant figures: 512 B, 1.50 KiB, 80.0 GiB, 1.23 TiB."""
    if n is None:
        return unknown
    value = float(n)
    sign = "-" if value < 0 else ""
    value = abs(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            if unit == "B":
                return f"{sign}{value:.0f} B"
            return f"{sign}{value:.3g} {unit}" if value < 100 else f"{sign}{value:.0f} {unit}"
        value /= 1024
    return f"{sign}{value:.0f} TiB"
