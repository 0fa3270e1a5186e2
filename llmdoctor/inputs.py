"""Inputs: a saved snapshot (or report) JSON, or pasted text, turned into a Snapshot; and the check inputs
that name files (validated before anything runs, and the live facts they ask for)."""

from __future__ import annotations

import collections
import dataclasses

import os
import sys
from pathlib import Path
from typing import Any, BinaryIO, Mapping, cast

from .engine import UsageError
from .snapshot import Snapshot, SnapshotError

# Inputs are read in bounded memory and time: a big file (a 100 MB log) is read as its first and last
# HEAD_BYTES/TAIL_BYTES; environment reports open a paste and the fatal error closes it.
HEAD_BYTES = 2**20
TAIL_BYTES = 2**20
SKIPPED = b"\n[llmdoctor: middle of the input skipped]\n"
_CHUNK = 2**20


def _read_bounded(fh: BinaryIO) -> tuple[bytes, bool]:
    """(head [+ tail], whether the middle was skipped) of a binary stream, in bounded memory."""
    try:
        size = os.fstat(fh.fileno()).st_size if fh.seekable() else None
    except (OSError, ValueError, AttributeError):
        size = None
    if size is not None and size > HEAD_BYTES + TAIL_BYTES:
        head = fh.read(HEAD_BYTES)
        fh.seek(size - TAIL_BYTES)
        return head + SKIPPED + fh.read(TAIL_BYTES), True
    head = fh.read(HEAD_BYTES + TAIL_BYTES)
    if len(head) < HEAD_BYTES + TAIL_BYTES:
        return head, False
    tail: collections.deque[bytes] = collections.deque()
    kept = 0
    while True:
        chunk = fh.read(_CHUNK)
        if not chunk:
            break
        tail.append(chunk)
        kept += len(chunk)
        while kept - len(tail[0]) >= TAIL_BYTES:
            kept -= len(tail.popleft())
    if not tail:
        return head, False
    rest = b"".join(tail)
    head, extra = head[:HEAD_BYTES], head[HEAD_BYTES:]
    rest = (extra + rest)[-TAIL_BYTES:]
    return head + SKIPPED + rest, True


def read_input(spec: str) -> tuple[str, str]:
    """(text, display name) of a file path or ``-`` (stdin).  Bad input raises UsageError."""
    from .boundedio import read_stdin, require_regular

    if spec == "-":
        import io

        data, _cut = _read_bounded(io.BytesIO(read_stdin()))
        name = "<stdin>"
    else:
        path = Path(spec)
        name = str(path)
        if path.is_dir():
            raise UsageError(f"{name} is a directory, not a snapshot or dump file")
        require_regular(path, "snapshots and dumps")
        try:
            with path.open("rb") as fh:
                data, _cut = _read_bounded(fh)
        except FileNotFoundError:
            raise UsageError(f"{name}: no such file") from None
        except OSError as exc:
            raise UsageError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if not data.strip():
        raise UsageError(f"{name}: empty input")
    if b"\x00" in data[:8192]:
        raise UsageError(f"{name}: binary data, not a snapshot or text dump")
    return data.decode("utf-8", errors="replace"), name


def snapshot_from_json(text: str, name: str) -> Snapshot | None:
    """A Snapshot when ``text`` is llmdoctor JSON (snapshot or report); None when it is not JSON at all."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped.startswith("{"):
        return None
    from .boundedio import JsonSyntaxError, load_json

    try:
        data = load_json(stripped, name, "snapshot JSON")
    except JsonSyntaxError as exc:
        if stripped.startswith('{\n  "schema": "llmdoctor') or stripped.startswith('{"schema": "llmdoctor'):
            raise UsageError(str(exc).replace("not valid JSON", "broken snapshot JSON")) from None
        return None
    if not isinstance(data, dict):
        return None
    schema = str(data.get("schema", ""))
    if schema.startswith("llmdoctor.report/") and isinstance(data.get("snapshot"), dict):
        data = data["snapshot"]
        schema = str(data.get("schema", ""))
    if not schema.startswith("llmdoctor.snapshot/"):
        return None
    try:
        snap = Snapshot.from_dict(data)
    except SnapshotError as exc:
        raise UsageError(f"{name}: invalid snapshot: {exc}") from None
    meta = dataclasses.replace(snap.meta, source="file", source_detail=name)
    return dataclasses.replace(snap, meta=meta)


def load_snapshot(spec: str) -> Snapshot:
    from .redact import redact_snapshot

    text, name = read_input(spec)
    snap = snapshot_from_json(text, name)
    if snap is not None:
        return cast(Snapshot, redact_snapshot(snap))
    return cast(Snapshot, redact_snapshot(parse_text(text, name)))


def parse_text(text: str, name: str) -> Snapshot:
    """Read a pasted text dump.  Recognises llmdoctor's own formats only; dump parsers plug in here."""
    try:
        from .parsers import parse_dump
    except ImportError:
        raise UsageError(f"{name}: not an llmdoctor snapshot (expected JSON with \"schema\": "
                         f"\"llmdoctor.snapshot/1\")") from None
    return parse_dump(text, name)


# --------------------------------------------------------------------------- check inputs that name files


def validate_inputs(given: Mapping[str, Any]) -> None:
    """Check inputs that name something on disk, checked before anything runs: a bad one is bad usage
    (``--model DIR`` that is neither a model directory, a config.json nor a cached repo id)."""
    if given.get("model"):
        from .model_config.loader import resolve

        resolve(str(given["model"]))


def with_input_probes(snap: Snapshot, given: Mapping[str, Any]) -> Snapshot:
    """The snapshot with the live facts a check input asks for, time-boxed, whether it was probed or read
    from a file: ``--model`` probes the storage its weights are read from (the load.* checks)."""
    if not given.get("model"):
        return snap
    from .loading_report import probe_storage, with_storage
    from .model_config.loader import resolve

    directory, _ = resolve(str(given["model"]))
    storage, record = probe_storage(directory, None, None)
    return with_storage(snap, storage, record)
