"""``llmdoctor fix pin``: Typer wiring for fixes/pin.py (a pinned environment file; --repair)."""

from __future__ import annotations

from typing import Optional

import typer

from ..engine import UsageError
from . import common


def pin(
    ctx: typer.Context,
    format: str = typer.Option("requirements", "--format", "-f", metavar="FORMAT",
                               help="requirements | constraints | conda | uv | dockerfile"),
    only: str = typer.Option("all", "--only", metavar="SET",
                             help="all: every installed distribution; ml: only the ML stack"),
    repair: bool = typer.Option(False, "--repair",
                                help="Choose versions that make the CUDA-stack checks pass on this machine "
                                     "instead of reproducing what is installed."),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE",
                                         help="Write to FILE (atomically) instead of stdout."),
    force: bool = typer.Option(False, "--force", help="Replace FILE if it exists (the old one is kept as FILE.bak)."),
    from_: Optional[str] = typer.Option(None, "--from", help="Use a saved snapshot or dump instead of probing."),
    python: Optional[str] = typer.Option(None, "--python", help="Inspect another interpreter."),
    timeout: float = typer.Option(20.0, "--timeout", help="Global probing budget in seconds."),
) -> None:
    """A pinned environment file that reproduces this environment, or (--repair) repairs its CUDA stack.

    Prints to stdout unless -o FILE is given.  The same snapshot always gives the same bytes.
    """
    from ..fixes import pin as P

    if format not in P.FORMATS:
        raise UsageError(f"unsupported format {format!r} (choose from: {', '.join(P.FORMATS)})")
    if only not in P.ONLY:
        raise UsageError(f"--only {only!r}: choose from: {', '.join(P.ONLY)}")
    from .fix import emit, load_or_probe

    # `llmdoctor fix --from snap.json pin` means the same as `llmdoctor fix pin --from snap.json`
    parent = ctx.parent.params if ctx.parent is not None else {}
    from_ = from_ if from_ is not None else parent.get("from_")
    python = python if python is not None else parent.get("python")
    if timeout == 20.0 and parent.get("timeout") not in (None, 20.0):
        timeout = parent["timeout"]
    snap = load_or_probe(from_, python, timeout)
    try:
        text = P.generate(snap, format, only, repair)
    except P.CannotRepair as exc:
        raise common.error(f"cannot repair: {exc}", code=1) from None
    emit(text, output, force)
