"""llmdoctor diff A B [C ...]: compare snapshots or dumps; exit 0 same, 1 different, 2 bad input."""

from __future__ import annotations

import json
from typing import List

import typer

from ..engine import UsageError
from . import options


def diff(
    inputs: List[str] = typer.Argument(..., metavar="SNAPSHOT...", help="Snapshot JSON files or pasted dumps ('-' = stdin, once)."),
    json_: options.Json = False,
    anonymize: options.Anonymize = False,
) -> None:
    """Show the differences between environments that matter, most likely cause of a failure first."""
    from .. import diff as D
    from ..inputs import load_snapshot

    if len(inputs) < 2:
        raise UsageError("diff needs at least two snapshots or dumps")
    if inputs.count("-") > 1:
        raise UsageError("'-' (stdin) can be given once")
    snaps = [load_snapshot(i) for i in inputs]
    diffs = D.diff_snapshots(snaps)
    text = (json.dumps(D.to_dict(inputs, snaps, diffs), indent=2, ensure_ascii=False) + "\n" if json_
            else D.render_text(inputs, diffs))
    if anonymize:
        from ..anonymize import anonymizer

        hosts = tuple(s.host.hostname for s in snaps if s.host is not None and s.host.hostname)
        text = anonymizer("\n".join(s.to_json(indent=None) for s in snaps), hosts)(text)
    typer.echo(text, nl=False)
    raise typer.Exit(1 if diffs else 0)
