"""Renderers: pure functions ``(report, options) -> str``.  Machine formats go to stdout unchanged.

``RENDERERS`` maps a ``--format`` name to its renderer; a new format is one function and one entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..model import Report


@dataclass(frozen=True)
class RenderOptions:
    verbose: bool = False
    color: bool = False
    width: int = 100
    unicode: bool = True


def _rich(report: Report, options: RenderOptions) -> str:
    from .text import render_rich

    return render_rich(report, options)


def _plain(report: Report, options: RenderOptions) -> str:
    from .text import render_plain

    return render_plain(report, options)


def _json(report: Report, options: RenderOptions) -> str:
    from .jsonfmt import render_json

    return render_json(report)


RENDERERS: dict[str, Callable[[Report, RenderOptions], str]] = {
    "rich": _rich,
    "plain": _plain,
    "json": _json,
}


def render(report: Report, fmt: str, options: RenderOptions) -> str:
    return RENDERERS[fmt](report, options)
