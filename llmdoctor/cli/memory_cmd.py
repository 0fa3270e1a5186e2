"""llmdoctor memory analyze FILE: fragmentation report of a torch memory snapshot (never executes it)."""

from __future__ import annotations

import json
from typing import Optional

import typer

from ..engine import UsageError
from ..units import format_bytes
from . import options

memory_app = typer.Typer(name="memory", help="GPU memory: analyze a torch memory snapshot.", no_args_is_help=True,
                         rich_markup_mode=None)


@memory_app.command("analyze")
def analyze_cmd(
    file: str = typer.Argument(..., help="A pickle written by torch.cuda.memory._dump_snapshot()."),
    json_: bool = typer.Option(False, "--json", help="Print JSON."),
    top: int = typer.Option(10, "--top", help="How many allocation sites to list."),
    torch_version: Optional[str] = typer.Option(None, "--torch", help="The job's torch version (names the allocator variable it reads)."),
    from_: options.From = None,
) -> None:
    """Reserved vs allocated, fragmentation, largest free block vs the failed allocation, top sites, histogram."""
    from pathlib import Path

    from ..memory.analyze import MAX_SNAPSHOT_BYTES, analyze, render_text, safe_load

    path = Path(file)
    if not path.is_file():
        raise UsageError(f"{file}: no such file")
    if path.stat().st_size > MAX_SNAPSHOT_BYTES:
        raise UsageError(f"{file}: larger than {format_bytes(MAX_SNAPSHOT_BYTES)}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{file}: cannot read ({exc.strerror or exc})") from None
    try:
        snap = safe_load(raw)
    except UsageError as exc:
        raise UsageError(f"{file}: {exc}") from None
    if torch_version is None and from_ is not None:
        from ..inputs import load_snapshot

        t = load_snapshot(from_).torch
        torch_version = t.version if t is not None and t.installed else None
    result = analyze(snap, top=top, torch_version=torch_version)
    if json_:
        typer.echo(json.dumps({"schema": "llmdoctor.memory-analysis/1", **result}, indent=2, default=str))
    else:
        typer.echo(render_text(result), nl=False)
