"""Options and helpers shared by the commands."""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, Any, Optional

import typer

from ..engine import UsageError

if TYPE_CHECKING:
    from ..results import Report
    from ..snapshot import Snapshot


def error(message: str, code: int = 2) -> "typer.Exit":
    """Print one clear line on stderr and return the Exit to raise."""
    sys.stderr.write(f"llmdoctor: error: {message}\n")
    sys.stderr.flush()
    return typer.Exit(code)


def stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def color_forced() -> bool:
    """FORCE_COLOR set (and NO_COLOR not): colour even through a pipe."""
    return bool(os.environ.get("FORCE_COLOR")) and not os.environ.get("NO_COLOR")


def color_wanted() -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if color_forced():
        return True
    return stdout_is_terminal()


def terminal_width(default: int = 100) -> int:
    try:
        return max(60, min(os.get_terminal_size(sys.stdout.fileno()).columns, 160))
    except (OSError, ValueError, AttributeError):
        return int(os.environ.get("COLUMNS", default)) if os.environ.get("COLUMNS", "").isdigit() else default


def unicode_ok() -> bool:
    enc = (getattr(sys.stdout, "encoding", None) or "").lower()
    return "utf" in enc


PYTHON_NAME = re.compile(r"(python|pypy)[0-9.]*[a-z]?(\.exe)?", re.IGNORECASE)


def validate_python(path: Optional[str]) -> Optional[str]:
    """The absolute path of a Python interpreter given to --python; anything else is bad usage."""
    if path is None:
        return None
    import shutil

    resolved = shutil.which(path) if os.sep not in path else path
    if resolved and os.path.isdir(resolved):
        inside = _interpreter_in(resolved)
        hint = f"; did you mean --python {inside}?" if inside else "; give the path to its python"
        raise UsageError(f"--python {path}: is a directory, not an interpreter{hint}")
    if not resolved or not os.path.isfile(resolved):
        raise UsageError(f"--python {path}: no such interpreter")
    if not os.access(resolved, os.X_OK):
        raise UsageError(f"--python {path}: not executable")
    if not _is_python(resolved):
        raise UsageError(f"--python {path}: not a Python interpreter (it does not run 'python -c')")
    return os.path.abspath(resolved)


def _interpreter_in(folder: str) -> Optional[str]:
    for rel in ("bin/python", "bin/python3", "Scripts/python.exe", ".venv/bin/python", "python"):
        candidate = os.path.join(folder, rel)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _is_python(path: str) -> bool:
    """True for an interpreter: its name says so, or it runs a one-line program (2 s at most)."""
    if PYTHON_NAME.fullmatch(os.path.basename(path)) or PYTHON_NAME.fullmatch(os.path.basename(os.path.realpath(path))):
        return True
    import subprocess

    try:
        done = subprocess.run([path, "-c", "import sys; print('llmdoctor-ok', sys.version_info[0])"],
                              capture_output=True, text=True, timeout=2.0, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and done.stdout.startswith("llmdoctor-ok")


def validate_timeout(value: Optional[float]) -> float:
    from .options import MAX_TIMEOUT, timeout_or_default

    seconds = timeout_or_default(value)
    if not seconds > 0:
        raise UsageError(f"--timeout {seconds:g}: must be > 0 seconds")
    if seconds > MAX_TIMEOUT:
        raise UsageError(f"--timeout {seconds:g}: must be at most {MAX_TIMEOUT:g} seconds")
    return seconds


def split_patterns(values: Optional[list[str]]) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out.extend(p for p in v.split(",") if p.strip())
    return out


def probe_with_spinner(python: Optional[str], timeout: float, inputs: Optional[dict[str, Any]] = None,
                       cache: Optional[str] = None) -> "Snapshot":
    """Collect a live snapshot; a spinner naming the running probes goes to stderr on a terminal only.

    ``inputs``: check inputs that change what is probed (--deep, --watch-xid, --dcgm: probes.PROBE_INPUTS);
    ``cache``: the torch build-facts cache mode (use | refresh | off).
    """
    from ..probes import collect

    if not stderr_is_terminal():
        return collect(python=python, timeout=timeout, inputs=inputs, cache=cache)
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("probing…") as status:
        def progress(pending: list[str]) -> None:
            if pending:
                status.update(f"probing: {', '.join(pending)}")

        return collect(python=python, timeout=timeout, progress=progress, inputs=inputs, cache=cache)


def load_or_probe(from_: Optional[str], python: Optional[str], timeout: Optional[float],
                  inputs: Optional[dict[str, Any]] = None, cache: Optional[str] = None) -> "Snapshot":
    """The snapshot a command works from: a saved one or a dump (--from), or a live probe."""
    if from_ is not None:
        if python is not None:
            raise UsageError("--from and --python cannot be combined: a snapshot is not probed")
        from ..inputs import load_snapshot

        from ..probes import PROBE_INPUTS

        asked = [k for k in PROBE_INPUTS if (inputs or {}).get(k)]
        if asked:
            raise UsageError(f"--from reads a snapshot; --{asked[0].replace('_', '-')} needs a live probe of the machine")
        return load_snapshot(from_)
    seconds = validate_timeout(timeout)
    return probe_with_spinner(validate_python(python), seconds, inputs, cache)


def refuse_existing(output: Optional[str], force: bool) -> None:
    """Refuse -o FILE when FILE exists and --force is not given, before any probing (exit 2)."""
    if output is None or output == "-":
        return
    from ..fixes.writer import WriteRefused, preflight

    try:
        preflight(output, force=force)
    except WriteRefused as exc:
        raise UsageError(str(exc)) from None


def emit(text: str, output: Optional[str], force: bool, mode: Optional[int] = None) -> None:
    """Print an artifact, or write it atomically with -o (never clobbering without --force)."""
    if output is None or output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from ..fixes.writer import WriteRefused, write_artifact

    try:
        path = write_artifact(output, text, force=force, mode=mode)
    except WriteRefused as exc:
        raise UsageError(str(exc)) from None
    sys.stderr.write(f"written to {path}\n")


def write_output(path: str, text: str, *, force: bool, backup: bool = True) -> None:
    """Write a rendered report atomically through the one file writer; refusals are exit 2."""
    from ..fixes.writer import WriteRefused, write_artifact

    try:
        written = write_artifact(path, text, force=force, backup=backup)
    except WriteRefused as exc:
        raise UsageError(str(exc)) from None
    sys.stderr.write(f"written to {written}\n")


def append_step_summary(report: "Report") -> None:
    """In GitHub Actions, append the Markdown job summary to $GITHUB_STEP_SUMMARY (when it is set).

    A summary that cannot be written is a warning on stderr: it must not change the job's verdict.
    """
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    from ..fixes.writer import WriteRefused, append_text
    from ..report.github import render_github_summary

    try:
        append_text(path, render_github_summary(report))
    except WriteRefused as exc:
        sys.stderr.write(f"llmdoctor: warning: job summary not written: {exc}\n")


def complete_check_ids(incomplete: str) -> list[str]:
    """Shell completion for check ids and their areas (``--select``, ``explain``)."""
    from ..engine import load_registry

    ids = load_registry().ids()
    areas = sorted({i.split(".", 1)[0] for i in ids})
    head, _, last = incomplete.rpartition(",")
    prefix = f"{head}," if head else ""
    return [prefix + c for c in [*areas, *ids] if c.startswith(last)]
