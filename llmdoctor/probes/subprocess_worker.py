"""Run the standalone worker (``_worker.py``) in a target interpreter and read its JSON."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("_worker.py")
MARKER = "@@LLMDOCTOR@@"
# Run the worker by path without putting its folder (or the cwd) on sys.path, so that nothing of
# ours or of the current directory can shadow the target's own modules.
_BOOT = "import sys, runpy; sys.path.pop(0); sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"


class WorkerFailed(Exception):
    pass


def run_worker(python: str, what: str, timeout: float, args: tuple[str, ...] = ()) -> dict[str, Any]:
    env = dict(os.environ)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    # Keep the target's own site-packages: no -I, but do not let our cwd shadow its modules.
    try:
        proc = subprocess.run(
            [python, "-c", _BOOT, str(WORKER), what, *args],
            capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise WorkerFailed(f"timed out after {timeout:.0f}s") from None
    except OSError as exc:
        raise WorkerFailed(f"could not run {python}: {exc.strerror or exc}") from None
    idx = proc.stdout.rfind(MARKER)
    if idx < 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        last = tail[-1] if tail else f"exit code {proc.returncode}"
        raise WorkerFailed(f"{python} exited with code {proc.returncode}: {last}")
    try:
        data = json.loads(proc.stdout[idx + len(MARKER):].strip().splitlines()[0])
    except (ValueError, IndexError) as exc:
        raise WorkerFailed(f"unreadable output from {python}: {exc}") from None
    if "worker_error" in data:
        raise WorkerFailed(data["worker_error"])
    return data
