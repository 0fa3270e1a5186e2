"""llmdoctor fix nccl: an NCCL environment script for this machine, in the shell or format asked for."""

from __future__ import annotations

from typing import Optional

import typer

from ..engine import UsageError
from . import fix

FORMAT_HELP = "sh | bash | zsh | fish | powershell | dotenv | docker (run -e flags) | k8s (container env YAML)"


def fix_nccl(
    fmt: str = typer.Option("sh", "--format", "-f", help=FORMAT_HELP),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write to FILE (atomically) instead of stdout."),
    force: bool = typer.Option(False, "--force", help="Replace FILE if it exists (the old one is kept as FILE.bak)."),
    from_: Optional[str] = typer.Option(None, "--from", help="Use a saved snapshot or dump instead of probing."),
    python: Optional[str] = typer.Option(None, "--python", help="Inspect another interpreter's torch."),
    timeout: float = typer.Option(20.0, "--timeout", help="Global probing budget in seconds."),
) -> None:
    """NCCL exports for this machine: interface, IB devices, replacements for wrong names, sane debug level."""
    from ..fixes import nccl, shell

    try:
        canonical = shell.canonical(fmt)
    except ValueError:
        raise UsageError(f"--format {fmt!r}: choose one of {', '.join(shell.FORMATS)}") from None
    snap = fix.load_or_probe(from_, python, timeout)
    actions = nccl.nccl_actions(snap)
    header = ("NCCL environment for this machine, written by `llmdoctor fix nccl`. "
              + ("Source it: . FILE" if canonical == "sh" else "Format: " + canonical))
    fix.emit(shell.render(actions, canonical, header=header), output, force)
