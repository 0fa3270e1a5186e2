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
from typing import Any

from .usage import UsageError as UsageError  # re-exported: snapshot.py catches it without importing engine

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


MAX_JSON_DEPTH = 64  # no llmdoctor input nests deeper (a snapshot: ~6 levels)
MAX_JSON_NUMBER = 2**64  # the widest counter NVML, the kernel or a file header reports


class JsonSyntaxError(UsageError):
    """The text is not JSON at all (a caller may then read it as something else, e.g. a text dump)."""


def load_json(data: str | bytes, where: str, what: str = "JSON") -> Any:
    """``data`` parsed as JSON, bounded: nesting, number sizes, NaN/Infinity.  Bad input is one UsageError.

    Python's decoder accepts ``NaN``, ``Infinity`` and ``1e400`` (read as infinity), decodes 4300-digit
    integers, lone surrogate escapes (``"\\ud800"``, text no output can encode) and recurses on nesting;
    each is refused here, as is invalid UTF-8 or JSON.
    """
    import json

    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise UsageError(f"{where}: not UTF-8 text, not {what}") from None
    except json.JSONDecodeError as exc:
        raise JsonSyntaxError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise UsageError(f"{where}: {what} nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # a number: NaN/Infinity, or more digits than Python converts
        raise UsageError(f"{where}: {what} holds a number out of range ({str(exc)[:60]})") from None
    _check_bounds(value, where, what)
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _check_bounds(value: Any, where: str, what: str) -> None:
    """Depth and numbers of a decoded JSON value, walked without recursion."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise UsageError(f"{where}: {what} nested deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(item, dict):
                stack.extend((key, depth + 1) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise UsageError(f"{where}: {what} holds a lone surrogate escape (\\ud800-\\udfff), not text") from None
        elif isinstance(item, float) and not abs(item) < float(MAX_JSON_NUMBER):
            raise UsageError(f"{where}: {what} holds a number out of range ({item!r})")
        elif isinstance(item, int) and not isinstance(item, bool) and not -MAX_JSON_NUMBER <= item <= MAX_JSON_NUMBER:
            raise UsageError(f"{where}: {what} holds a number out of range ({len(str(abs(item)))} digits)")
