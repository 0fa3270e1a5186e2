"""Renderers: pure functions ``(report, options) -> str``.  Machine formats go to stdout unchanged.

``RENDERERS`` maps a ``--format`` name to its renderer; a new format is one function and one entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..results import Report
from ..frozen import frozen


@frozen
class RenderOptions:
    """How a human report is laid out.

    verbosity: 0 the short default view (areas, what is not fine expanded, unknown/not applicable summarised),
    1 (``-v``) every check with what it found, 2 (``-vv``) every finding with its full evidence.
    verbose: the older switch, the same as verbosity 1.
    width: the terminal's columns; text wraps with hanging indents, never inside a word.
    """

    verbose: bool = False
    color: bool = False
    width: int = 100
    unicode: bool = True
    verbosity: int = 0

    @property
    def level(self) -> int:
        """The verbosity in force (``verbose=True`` counts as 1)."""
        return max(self.verbosity, 1 if self.verbose else 0)


def _rich(report: Report, options: RenderOptions) -> str:
    from .text import render_rich

    return render_rich(report, options)


def _plain(report: Report, options: RenderOptions) -> str:
    from .text import render_plain

    return render_plain(report, options)


def _json(report: Report, options: RenderOptions) -> str:
    from .jsonfmt import render_json

    return render_json(report)


def _junit(report: Report, options: RenderOptions) -> str:
    from .junit import render_junit

    return render_junit(report, options)


def _github(report: Report, options: RenderOptions) -> str:
    from .github import render_github

    return render_github(report, options)


def _prometheus(report: Report, options: RenderOptions) -> str:
    from .prometheus import render_prometheus

    return render_prometheus(report, options)


def _markdown(report: Report, options: RenderOptions) -> str:
    from .markdown import render_markdown

    return render_markdown(report, options)


RENDERERS: dict[str, Callable[[Report, RenderOptions], str]] = {
    "rich": _rich,
    "plain": _plain,
    "json": _json,
    "junit": _junit,
    "github": _github,
    "prometheus": _prometheus,
    "markdown": _markdown,
}


def render(report: Report, fmt: str, options: RenderOptions) -> str:
    from ..sanitize import finish, sanitize_report

    # Machine formats escape for their own syntax (JSON, Prometheus labels, XML strips controls).
    raw = fmt in ("json", "prometheus", "junit")
    return finish(RENDERERS[fmt](report if raw else sanitize_report(report), options), fmt)
