"""Run the standalone worker (``target_worker.py``) in a target interpreter and read its JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any, cast

from ..units import fmt_seconds

WORKER = Path(__file__).with_name("target_worker.py")
MARKER = "@@LLMDOCTOR@@"
# Run the worker by path without putting its folder (or the cwd) on sys.path, so that nothing of
# ours or of the current directory can shadow the target's own modules.
_BOOT = "import sys, runpy; sys.path.pop(0); sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"


class WorkerFailed(Exception):
    pass


_PRESPAWNED: dict[tuple[str, str, tuple[str, ...]], subprocess.Popen[str]] = {}
# Every probe child runs in its own session (process group = its pid); these are killed as a group
# on timeout, at exit, on SIGINT and on SIGTERM, so that no grandchild (an nvcc wrapper's child, a
# worker's helper) survives us.
_LIVE: dict[int, subprocess.Popen[str]] = {}


def kill_group(proc: "subprocess.Popen[str]") -> None:
    """SIGKILL the child's whole process group, then reap the child."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass
    try:
        proc.kill()
    except OSError:
        pass
    _LIVE.pop(proc.pid, None)


# Spawning and registering a child is one step under this lock, and kill_all closes the registry first:
# a probe thread cannot start a child the signal handler does not see (the child forked, not yet in
# _LIVE) nor one after the handler killed the others (it exits right after).
_SPAWN_LOCK = threading.RLock()
_CLOSING = False


def kill_all() -> None:
    """Kill every probe process group still alive (at exit, on a signal); no new one starts after."""
    global _CLOSING
    _CLOSING = True
    locked = _SPAWN_LOCK.acquire(timeout=2.0)  # a spawn in flight registers its child first
    try:
        for proc in list(_LIVE.values()):
            kill_group(proc)
        for proc in _PRESPAWNED.values():
            kill_group(proc)
        _PRESPAWNED.clear()
    finally:
        if locked:
            _SPAWN_LOCK.release()


def popen_group(cmd: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    """Popen in a new session, registered for group kill (refused once llmdoctor is exiting)."""
    with _SPAWN_LOCK:
        if _CLOSING:
            raise OSError("llmdoctor is exiting: no new probe process")
        proc = subprocess.Popen(cmd, start_new_session=True, **kwargs)
        _LIVE[proc.pid] = proc
    return proc


def run_group(cmd: list[str], timeout: float) -> tuple[int, str]:
    """Run ``cmd`` in its own process group: (exit code, stdout+stderr); on timeout the whole group is
    killed and ``subprocess.TimeoutExpired`` raised.  Output is read in bounded memory (1 MiB)."""
    proc = popen_group(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                       text=True, errors="replace")
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        assert proc is not None  # set before communicate() can time out
        kill_group(proc)
        proc.communicate()
        raise
    finally:
        kill_group(proc)  # a grandchild left running after the child exited goes too
    return proc.returncode, (out or "")[: 2**20]


_INSTALLED = False


def install_signal_handlers() -> None:
    """For the CLI entry only: kill probe groups at exit and on SIGINT/SIGTERM, exiting 130/143."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    import atexit
    import sys

    atexit.register(kill_all)

    def _on_signal(signum: int, _frame: object) -> None:
        kill_all()
        if signum == signal.SIGINT:
            sys.stderr.write("llmdoctor: interrupted\n")
        os._exit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, _on_signal)
        except (ValueError, OSError):  # not the main thread
            pass


def _spawn(python: str, what: str, args: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    # Keep the target's own site-packages: no -I, but do not let our cwd shadow its modules.
    return popen_group([python, "-c", _BOOT, str(WORKER), what, *args], stdout=subprocess.PIPE,
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
        kill_group(proc)
    _PRESPAWNED.clear()


def run_worker(python: str, what: str, timeout: float, args: tuple[str, ...] = ()) -> dict[str, Any]:
    proc = _PRESPAWNED.pop((python, what, tuple(args)), None)
    try:
        if proc is None:
            proc = _spawn(python, what, tuple(args))
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        assert proc is not None  # only communicate() raises it: the child was spawned
        kill_group(proc)
        proc.communicate()
        raise WorkerFailed(f"timed out after {fmt_seconds(timeout)}") from None
    except OSError as exc:
        raise WorkerFailed(f"could not run {python}: {exc.strerror or exc}") from None
    kill_group(proc)
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
    return cast("dict[str, Any]", data)
