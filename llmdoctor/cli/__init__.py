"""Typer wiring only: parse, call, render, exit code.  One module per command; ``app`` wires them.

``main`` is the console-script entry point.  Before importing Typer and the commands it starts the
torch probe's subprocess when the command will probe, so that the slow ``import torch`` in the
target interpreter overlaps with our own start-up.
"""

from __future__ import annotations

import sys
from typing import Optional

_PROBING_COMMANDS = ("check", "snapshot")


def _early_torch_probe(args: list[str]) -> None:
    if not args or args[0] not in _PROBING_COMMANDS:
        return
    if any(a in ("-h", "--help", "--from") or a.startswith("--from=") for a in args):
        return
    from .options import DEFAULT_TIMEOUT

    python = sys.executable
    timeout = f"{DEFAULT_TIMEOUT:g}"
    for i, a in enumerate(args):
        if a == "--python" and i + 1 < len(args):
            python = args[i + 1]
        elif a.startswith("--python="):
            python = a.split("=", 1)[1]
        elif a == "--timeout" and i + 1 < len(args):
            timeout = args[i + 1]
        elif a.startswith("--timeout="):
            timeout = a.split("=", 1)[1]
    import os

    if python != sys.executable and not (os.path.isfile(python) and os.access(python, os.X_OK)):
        return  # the command will refuse it with a clear error
    if os.environ.get("LLMDOCTOR_TORCH_CACHE", "use") == "use" and not any(a in ("--refresh", "--no-cache") for a in args):
        from ..probes.torch_cache import would_hit

        if would_hit(python):
            return  # torch's build facts come from the cache: no `import torch` to overlap
    from ..probes.target_runner import prespawn

    try:
        seconds = max(float(timeout), 0.5)
    except ValueError:
        return  # the command will refuse it with a clear error
    # the same arguments torch_probe.probe_torch passes, or the worker is not reused
    prespawn(os.path.abspath(python) if python != sys.executable else python, "torch", (f"{seconds:g}",))


def main(argv: Optional[list[str]] = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if argv is None:  # the console script: probe process groups die with us (exit 130/143)
        from ..probes.target_runner import install_signal_handlers; install_signal_handlers()  # noqa: E702
    _early_torch_probe(args)
    from .. import cache
    from .app import main as app_main

    asked = cache.mode_from_args(args[: args.index("--")] if "--" in args else args)
    if asked is not None:  # the registry reads the plugins' entry points before the options are parsed
        cache._RUN_MODE.append(asked)
    try:
        app_main(args)
    finally:
        if asked is not None:
            cache._RUN_MODE.pop()
