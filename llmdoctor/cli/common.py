"""Options and helpers shared by the commands."""

from __future__ import annotations

import os
import sys
from typing import Optional

import typer

from ..engine import UsageError


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


def color_wanted() -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
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


def validate_python(path: Optional[str]) -> Optional[str]:
    if path is None:
        return None
    import shutil

    resolved = shutil.which(path) if os.sep not in path else path
    if not resolved or not os.path.isfile(resolved):
        raise UsageError(f"--python {path}: no such interpreter")
    if not os.access(resolved, os.X_OK):
        raise UsageError(f"--python {path}: not executable")
    return os.path.abspath(resolved)


def validate_timeout(value: float) -> float:
    if not (0 < value <= 3600):
        raise UsageError(f"--timeout {value}: must be between 0 and 3600 seconds")
    return value


def split_patterns(values: Optional[list[str]]) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out.extend(p for p in v.split(",") if p.strip())
    return out


def probe_with_spinner(python: Optional[str], timeout: float, inputs: Optional[dict] = None):
    """Collect a live snapshot; a spinner naming the running probes goes to stderr on a terminal only.

    ``inputs``: check inputs that change what is probed (--deep, --watch-xid, --dcgm; see probes.PROBE_INPUTS).
    """
    from ..probes import collect

    if not stderr_is_terminal():
        return collect(python=python, timeout=timeout, inputs=inputs)
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("probing…") as status:
        def progress(pending: list[str]) -> None:
            if pending:
                status.update(f"probing: {', '.join(pending)}")

        return collect(python=python, timeout=timeout, progress=progress, inputs=inputs)


def load_or_probe(from_: Optional[str], python: Optional[str], timeout: float, inputs: Optional[dict] = None):
    """The snapshot a command works from: a saved one or a dump (--from), or a live probe."""
    if from_ is not None:
        if python is not None:
            raise UsageError("--from and --python cannot be combined: a snapshot is not probed")
        if any(inputs.values() if inputs else ()):
            raise UsageError(f"--from cannot be combined with {', '.join('--' + k.replace('_', '-') for k, v in inputs.items() if v)}: "
                             "they measure this machine")
        from ..inputs import load_snapshot

        return load_snapshot(from_)
    return probe_with_spinner(validate_python(python), validate_timeout(timeout), inputs)


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
    if stderr_is_terminal():
        sys.stderr.write(f"report written to {written}\n")


def append_step_summary(report) -> None:
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
