"""Bounded reads: every input is a regular file (or ``-``, stdin) read within a byte and time budget.

A device (``/dev/zero``, ``/dev/urandom``), a FIFO or a socket is refused before it is opened (no
blocking open, no endless read); stdin is read until EOF within ``STDIN_SECONDS`` and ``MAX_BYTES``,
and a terminal on stdin is refused.  Each refusal is one ``UsageError`` line (exit 2).
"""

from __future__ import annotations

import os
import select
import stat
import sys
import time
from pathlib import Path

from .engine import UsageError

MAX_BYTES = 256 * 2**20
STDIN_SECONDS = 30.0


def require_regular(path: str | Path, what: str = "input") -> None:
    """Refuse anything but a regular file (following symlinks), without opening it."""
    name = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{name}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{name} is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a device")
        raise UsageError(f"{name} is {kind}, not a regular file: llmdoctor reads {what} from files or '-' (stdin)")


def read_file(path: str | Path, max_bytes: int = MAX_BYTES, what: str = "input") -> bytes:
    """A regular file's bytes, refused when larger than ``max_bytes``."""
    require_regular(path, what)
    name = str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise UsageError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise UsageError(f"{name}: larger than {max_bytes // 2**20} MiB, not a plausible {what}")
    return data


def read_stdin(max_bytes: int = MAX_BYTES, seconds: float | None = None, fd: int | None = None) -> bytes:
    """All of stdin, bounded in bytes and time; a terminal is refused."""
    if fd is None:
        try:
            fd = sys.stdin.fileno()
        except (AttributeError, ValueError, OSError):  # an in-memory stdin (embedding, test runners): bytes only
            return _read_stream(max_bytes)
    limit = STDIN_SECONDS if seconds is None else seconds
    if os.isatty(fd):
        raise UsageError("stdin is a terminal: pipe a snapshot or dump into llmdoctor, or pass a file path")
    deadline = time.monotonic() + limit
    chunks: list[bytes] = []
    total = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise UsageError(f"stdin: no end of input after {limit:g} s (an open pipe or terminal?)")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 2**20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise UsageError(f"stdin: more than {max_bytes // 2**20} MiB, not a plausible input")


def _read_stream(max_bytes: int) -> bytes:
    stream = getattr(sys.stdin, "buffer", sys.stdin)
    data = stream.read(max_bytes + 1)
    data = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)
    if len(data) > max_bytes:
        raise UsageError(f"stdin: more than {max_bytes // 2**20} MiB, not a plausible input")
    return data
