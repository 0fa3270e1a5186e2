"""llmdoctor cluster: the cluster preflight (same entry point as ``python -m llmdoctor.cluster``).

``--from DIR`` aggregates node snapshots in this process (torch is never imported here); a live run
replaces this process with ``python -m llmdoctor.cluster`` (the runner, which imports torch.distributed),
so that it sits under the launcher exactly as ``torchrun ... -m llmdoctor.cluster`` would.
"""

from __future__ import annotations

import os
import sys

import typer

CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def cluster(ctx: typer.Context) -> None:
    """Every node and rank of a distributed job in one report (run under torchrun/srun/mpirun, or --from DIR).

    Options: see 'llmdoctor cluster --help' (the same as 'python -m llmdoctor.cluster --help').
    """
    args = list(ctx.args)
    offline = ("--from", "--help", "-h", "--list-checks", "--explain")
    if any(a in offline or a.startswith(("--from=", "--explain=")) for a in args):
        from ..cluster.main import main

        raise typer.Exit(main(args))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "llmdoctor.cluster", *args])


def register(app: typer.Typer) -> None:
    """Add the command to the app (its options are parsed by llmdoctor.cluster.main, not by typer)."""
    app.command("cluster", context_settings=CONTEXT)(cluster)
