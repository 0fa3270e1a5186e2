"""The one place that writes files: atomically, never clobbering without ``force``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class WriteRefused(Exception):
    """The file could not be written as asked; the message is one line for the user (exit 2)."""


def write_artifact(path: str | os.PathLike[str], text: str, *, force: bool = False, backup: bool = True,
                   mode: int | None = None) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder, then rename).

    Refuses to replace an existing file unless ``force``; with ``force`` and ``backup`` the old content
    is kept as ``PATH.bak``.  On any failure nothing at ``path`` has changed.
    """
    target = Path(path)
    if target.is_dir():
        raise WriteRefused(f"{target} is a directory")
    exists = target.exists()
    if exists and not force:
        raise WriteRefused(f"{target} exists; use --force to replace it")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise WriteRefused(f"cannot write {target}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise WriteRefused(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif exists:
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        if exists and backup:
            os.replace(_copy(target, folder), target.with_name(target.name + ".bak"))
        os.replace(tmp, target)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise WriteRefused(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


def _copy(src: Path, folder: Path) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{src.name}.", suffix=".bak.tmp", dir=folder)
    with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
        out.write(inp.read())
    return tmp


def append_text(path: str | os.PathLike[str], text: str) -> Path:
    """Append ``text`` to ``path`` (created if missing): for files others also append to, such as
    GitHub's ``$GITHUB_STEP_SUMMARY``.  One ``write`` in append mode; never truncates."""
    target = Path(path)
    if target.is_dir():
        raise WriteRefused(f"{target} is a directory")
    try:
        with open(target, "a", encoding="utf-8", newline="") as fh:
            fh.write(text)
    except OSError as exc:
        raise WriteRefused(f"cannot append to {target}: {exc.strerror or exc}") from None
    return target
