"""Typer wiring only: parse, call, render, exit code.  One module per command; ``app`` wires them.

``main`` is the console-script entry point.  Before importing Typer and the commands it starts the
torch probe's subprocess when the command will probe llmdoctor's own interpreter, so that the slow
``import torch`` overlaps with our own start-up.  An interpreter named with ``--python`` is not started
early: it runs only after the command line is validated.
"""

from __future__ import annotations

import sys
from typing import Optional

_PROBING_COMMANDS = ("check", "snapshot")


def _early_torch_probe(args: list[str]) -> None:
    if not args or args[0] not in _PROBING_COMMANDS:
        return
    if any(a in ("-h", "--help", "--from", "--python") or a.startswith(("--from=", "--python=")) for a in args):
        return  # --python X: X runs only once the arguments are validated (a bad command line must not run it)
    from .options import DEFAULT_TIMEOUT

    python = sys.executable
    timeout = f"{DEFAULT_TIMEOUT:g}"
    for i, a in enumerate(args):
        if a == "--timeout" and i + 1 < len(args):
            timeout = args[i + 1]
        elif a.startswith("--timeout="):
            timeout = a.split("=", 1)[1]
    import os

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
    prespawn(python, "torch", (f"{seconds:g}",))


# Commands that read files or print text only: they never start a probe process.
_NO_PROBE_COMMANDS = ("explain", "checks", "config", "explain-error", "diff")


def _may_spawn(args: list[str]) -> bool:
    """Whether this command line may start probe processes (whose groups must die with us)."""
    if not args or args[0].startswith("-") or args[0] in _NO_PROBE_COMMANDS:
        return False  # the root's --help/--version, or a command without probes
    if args[0] == "check" and any(a == "--from" or a.startswith("--from=") for a in args):
        return False  # a saved snapshot or a dump: nothing is probed in another process
    return not any(a in ("-h", "--help") for a in args)


def _interrupted_during_start_up(signum: int, _frame: object) -> None:
    """Ctrl-C (or SIGTERM) before the probes' handlers are in place: one line, exit 130/143, no traceback."""
    import os

    if signum == 2:
        sys.stderr.write("llmdoctor: interrupted\n")
        sys.stderr.flush()
    os._exit(128 + signum)


def main(argv: Optional[list[str]] = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if argv is None:  # the console script: probe process groups die with us (exit 130/143)
        import signal

        # first, before any import that takes time (llmdoctor.probes, typer): nothing to clean up yet
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _interrupted_during_start_up)
        if _may_spawn(args):  # commands that start no probe process keep the start-up handler alone
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
        if argv is None:
            _exit_without_collecting()


def _exit_without_collecting() -> None:
    """The process is about to end: the garbage collector need not walk every object again while the
    interpreter tears the modules down (gc.freeze: a fifth of a short run's wall time went there).
    Shutdown is otherwise the usual one: atexit handlers, threads and flushes all run."""
    import gc

    gc.freeze()
