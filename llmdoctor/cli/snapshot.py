"""llmdoctor snapshot: save what the probes (or a dump) found, as JSON."""

from __future__ import annotations

from typing import Optional

import typer

from . import common


def snapshot(
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write to FILE (atomically) instead of stdout."),
    force: bool = typer.Option(False, "--force", help="Replace FILE if it exists (the old one is kept as FILE.bak)."),
    from_: Optional[str] = typer.Option(None, "--from", help="Read a saved snapshot or a pasted dump instead of probing ('-' = stdin)."),
    python: Optional[str] = typer.Option(None, "--python", help="Inspect another interpreter's torch and packages."),
    timeout: float = typer.Option(20.0, "--timeout", help="Global probing budget in seconds."),
    anonymize: bool = typer.Option(False, "--anonymize", help="Replace host names, user names in paths and GPU UUIDs."),
) -> None:
    """Print (or save) the snapshot of this machine: the facts every check works from."""
    snap = common.load_or_probe(from_, python, timeout)
    text = snap.to_json() + "\n"
    if anonymize:
        from ..anonymize import anonymize_for

        text = anonymize_for(snap)(text)
    common.emit(text, output, force)
