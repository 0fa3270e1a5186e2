"""Run the standalone worker (``target_worker.py``) in a target interpreter and read its JSON."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from ..units import fmt_seconds

WORKER = Path(__file__).with_name("target_worker.py")
MARKER = "@@LLMDOCTOR@@"
# Run the worker by path without putting its folder (or the cwd) on sys.path, so that nothing of
# ours or of the current directory can shadow the target's own modules.
_BOOT = "import sys, runpy; sys.path.pop(0); sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"


class WorkerFailed(Exception):
    pass


_PRESPAWNED: dict[tuple[str, str, tuple[str, ...]], subprocess.Popen] = {}


def _spawn(python: str, what: str, args: tuple[str, ...] = ()) -> subprocess.Popen:
    env = dict(os.environ)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    # Keep the target's own site-packages: no -I, but do not let our cwd shadow its modules.
    return subprocess.Popen([python, "-c", _BOOT, str(WORKER), what, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env)


def prespawn(python: str, what: str, args: tuple[str, ...] = ()) -> None:
    """Start a worker before the CLI has finished importing, so that the slow torch import overlaps
    with our own start-up.  ``run_worker`` picks it up; an unclaimed one is killed at exit."""
    key = (python, what, tuple(args))
    if key in _PRESPAWNED:
        return
    try:
        _PRESPAWNED[key] = _spawn(python, what, tuple(args))
    except OSError:
        return
    if len(_PRESPAWNED) == 1:
        import atexit

        atexit.register(_kill_unclaimed)


def _kill_unclaimed() -> None:
    for proc in _PRESPAWNED.values():
        if proc.poll() is None:
            proc.kill()
    _PRESPAWNED.clear()


def run_worker(python: str, what: str, timeout: float, args: tuple[str, ...] = ()) -> dict[str, Any]:
    proc = _PRESPAWNED.pop((python, what, tuple(args)), None)
    try:
        if proc is None:
            proc = _spawn(python, what, tuple(args))
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise WorkerFailed(f"timed out after {fmt_seconds(timeout)}") from None
    except OSError as exc:
        raise WorkerFailed(f"could not run {python}: {exc.strerror or exc}") from None
    idx = stdout.rfind(MARKER)
    if idx < 0:
        tail = (stderr or stdout).strip().splitlines()
        last = tail[-1] if tail else f"exit code {proc.returncode}"
        raise WorkerFailed(f"{python} exited with code {proc.returncode}: {last}")
    try:
        data = json.loads(stdout[idx + len(MARKER):].strip().splitlines()[0])
    except (ValueError, IndexError) as exc:
        raise WorkerFailed(f"unreadable output from {python}: {exc}") from None
    if "worker_error" in data:
        raise WorkerFailed(data["worker_error"])
    return data
