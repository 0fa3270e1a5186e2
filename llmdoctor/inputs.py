"""Offline inputs: a saved snapshot (or report) JSON, or pasted text, turned into a Snapshot."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from .engine import UsageError
from .snapshot import Snapshot, SnapshotError

MAX_INPUT_BYTES = 256 * 2**20


def read_input(spec: str) -> tuple[str, str]:
    """(text, display name) of a file path or ``-`` (stdin).  Bad input raises UsageError."""
    if spec == "-":
        data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        name = "<stdin>"
    else:
        path = Path(spec)
        name = str(path)
        if path.is_dir():
            raise UsageError(f"{name} is a directory, not a snapshot or dump file")
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_INPUT_BYTES + 1)
        except FileNotFoundError:
            raise UsageError(f"{name}: no such file") from None
        except OSError as exc:
            raise UsageError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_INPUT_BYTES:
        raise UsageError(f"{name}: larger than {MAX_INPUT_BYTES // 2**20} MiB")
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
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        if stripped.startswith('{\n  "schema": "llmdoctor') or stripped.startswith('{"schema": "llmdoctor'):
            raise UsageError(f"{name}: broken snapshot JSON ({exc.msg} at line {exc.lineno})") from None
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
    text, name = read_input(spec)
    snap = snapshot_from_json(text, name)
    if snap is not None:
        return snap
    return parse_text(text, name)


def parse_text(text: str, name: str) -> Snapshot:
    """Read a pasted text dump.  Recognises llmdoctor's own formats only; dump parsers plug in here."""
    try:
        from .parsers import parse_dump  # type: ignore[attr-defined]
    except ImportError:
        raise UsageError(f"{name}: not an llmdoctor snapshot (expected JSON with \"schema\": "
                         f"\"llmdoctor.snapshot/1\")") from None
    return parse_dump(text, name)
