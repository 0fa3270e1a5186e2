"""llmdoctor env: the recommended exports for this machine, for `eval "$(llmdoctor env)"`.

Nothing but the script goes to stdout (no banner, no spinner): progress and errors go to stderr.
"""

from __future__ import annotations

from typing import Optional

import typer

from ..engine import UsageError

SHELLS = ("bash", "zsh", "sh", "fish", "powershell")


def env(
    shell_: Optional[str] = typer.Option(None, "--shell", help="bash | zsh | sh | fish | powershell (default: from $SHELL, else sh)."),
    from_: Optional[str] = typer.Option(None, "--from", help="Use a saved snapshot or dump instead of probing."),
    python: Optional[str] = typer.Option(None, "--python", help="Inspect another interpreter's torch."),
    timeout: float = typer.Option(20.0, "--timeout", help="Global probing budget in seconds."),
) -> None:
    """Print the recommended environment for this machine: eval "$(llmdoctor env)" (fish: llmdoctor env | source)."""
    import os

    from ..fixes import nccl, shell
    from . import fix

    name = shell_ or os.path.basename(os.environ.get("SHELL", "") or "sh")
    if shell_ is None and name not in SHELLS:
        name = "sh"
    if name == "pwsh":
        name = "powershell"
    if name not in SHELLS:
        raise UsageError(f"--shell {shell_!r}: choose one of {', '.join(SHELLS)}")
    snap = fix.load_or_probe(from_, python, timeout)
    typer.echo(shell.render(nccl.env_actions(snap), name), nl=False)
