"""llmdoctor env: the recommended exports for this machine, for `eval "$(llmdoctor env)"`.

Nothing but the script goes to stdout (no banner, no spinner): progress and errors go to stderr.
"""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from ..engine import UsageError
from . import common, options

SHELLS = ("bash", "zsh", "sh", "fish", "powershell")
Shell = Annotated[Optional[str], typer.Option("--format", "-f", "--shell", metavar="SHELL",
                                              help="bash | zsh | sh | fish | powershell (default: from $SHELL, else sh); "
                                                   "--shell is the same option.")]


def env(fmt: Shell = None, from_: options.From = None, python: options.Python = None,
        timeout: options.Timeout = None) -> None:
    """Print the recommended environment for this machine: eval "$(llmdoctor env)" (fish: llmdoctor env | source)."""
    from ..fixes import nccl, shell

    name = _shell(fmt)
    snap = common.load_or_probe(from_, python, timeout)
    typer.echo(shell.render(nccl.env_actions(snap), name), nl=False)


def _shell(given: Optional[str]) -> str:
    name = (given or os.path.basename(os.environ.get("SHELL", "") or "sh")).lower()
    if name == "pwsh":
        name = "powershell"
    if name in SHELLS:
        return name
    if given is None:
        return "sh"
    raise UsageError(f"--format {given!r}: choose one of {', '.join(SHELLS)}")
