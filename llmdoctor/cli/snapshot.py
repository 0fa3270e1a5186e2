"""llmdoctor snapshot: save what the probes (or a dump) found, as JSON."""

from __future__ import annotations

from typing import Optional

import typer

from ..engine import UsageError
from . import common


def snapshot(
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write to FILE (atomically) instead of stdout."),
    force: bool = typer.Option(False, "--force", help="Replace FILE if it exists (the old one is kept as FILE.bak)."),
    from_: Optional[str] = typer.Option(None, "--from", help="Read a saved snapshot or a pasted dump instead of probing ('-' = stdin)."),
    python: Optional[str] = typer.Option(None, "--python", help="Inspect another interpreter's torch and packages."),
    timeout: float = typer.Option(20.0, "--timeout", help="Global probing budget in seconds."),
) -> None:
    """Print (or save) the snapshot of this machine: the facts every check works from."""
    if from_ is not None:
        if python is not None:
            raise UsageError("--from and --python cannot be combined")
        from ..inputs import load_snapshot

        snap = load_snapshot(from_)
    else:
        snap = common.probe_with_spinner(common.validate_python(python), common.validate_timeout(timeout))
    text = snap.to_json() + "\n"
    if output is None or output == "-":
        typer.echo(text, nl=False)
        return
    from ..fixes.writer import WriteRefused, write_artifact

    try:
        path = write_artifact(output, text, force=force)
    except WriteRefused as exc:
        raise UsageError(str(exc)) from None
    typer.echo(f"snapshot written to {path}", err=True)
