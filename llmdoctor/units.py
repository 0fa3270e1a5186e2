"""How llmdoctor writes sizes, durations and cut texts: one formatter each, for every output.

- ``fmt_bytes(n)``: binary units (GiB, MiB, KiB, B), whole numbers without a decimal ("80 GiB", "1.5 GiB");
- ``fmt_seconds(s)``: a budget or a duration as a person reads it ("0.5 s", "20 s", "1.25 s");
- ``truncate(text, limit)``: cut at a word boundary with an ellipsis, never inside a word unless the
  first word alone is longer than the limit.
"""

from __future__ import annotations

ELLIPSIS = "…"
_UNITS = (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))


def fmt_bytes(n: float | None, unit: str | None = None, digits: int = 1) -> str:
    """``n`` bytes in binary units: "80 GiB", "1.5 GiB", "512 MiB"; "?" when unknown.

    ``unit`` forces one ("GiB"); ``digits`` is the most decimals kept (trailing zeros dropped).
    """
    if n is None:
        return "?"
    if unit is not None:
        div = dict(_UNITS).get(unit, 1)
        return f"{_number(n / div, digits)} {unit}"
    for name, div in _UNITS:
        if abs(n) >= div:
            return f"{_number(n / div, digits)} {name}"
    return f"{int(n)} B"


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


def cudnn_version(raw: int | None) -> str | None:
    """``torch.backends.cudnn.version()`` as people write it: 90501 -> "9.5.1", 8902 -> "8.9.2".

    cuDNN 9 encodes M*10000 + m*100 + p; cuDNN 8 and older M*1000 + m*100 + p.
    """
    if not raw:
        return None
    if raw >= 10000:
        return f"{raw // 10000}.{(raw % 10000) // 100}.{raw % 100}"
    return f"{raw // 1000}.{(raw % 1000) // 100}.{raw % 100}"
