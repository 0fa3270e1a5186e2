"""The one place that writes files: atomically, never clobbering without ``force``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class WriteRefused(Exception):
    """The file could not be written as asked; the message is one line for the user (exit 2)."""


def preflight(path: str | os.PathLike[str], *, force: bool = False) -> tuple[Path, Path]:
    """(target, its folder) when ``path`` may be written; WriteRefused saying why not.

    Commands call it before doing slow work (probing), so a refusal comes first.
    """
    target = Path(path)
    if str(path) == "" or target.is_dir():
        raise WriteRefused(f"{target} is a directory")
    exists = os.path.lexists(target)
    if exists and not force:
        raise WriteRefused(f"{target} exists; use --force to replace it")
    if exists and not (target.is_file()):
        raise WriteRefused(f"{target} is not a regular file; refusing to replace it")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise WriteRefused(f"cannot write {target}: folder {folder} does not exist")
    return target, folder


def write_artifact(path: str | os.PathLike[str], text: str, *, force: bool = False, backup: bool = True,
                   mode: int | None = None) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder, then rename).

    Refuses to replace an existing file unless ``force``; with ``force`` and ``backup`` the old content
    is kept as ``PATH.bak``.  On any failure nothing at ``path`` has changed and no temporary file is
    left behind.  Without ``force`` the final step is a hard link, which fails if ``path`` appeared in
    the meantime, so a file created concurrently is never clobbered either.
    """
    target, folder = preflight(path, force=force)
    exists = os.path.lexists(target)
    try:
        payload = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise WriteRefused(f"cannot write {target}: the text is not valid Unicode ({exc.reason})") from None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise WriteRefused(f"cannot write {target}: {exc.strerror or exc}") from None
    bak_tmp = None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        # New content gets its own mode: 0644 minus umask (never the replaced file's bits, never
        # setuid/setgid/sticky, even when a link pointed at a setuid binary).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, (mode & 0o777) if mode is not None else 0o644 & ~umask)
        if exists:
            if backup:
                bak_tmp = _copy(target, folder)
                os.replace(bak_tmp, target.with_name(target.name + ".bak"))
                bak_tmp = None
            os.replace(tmp, target)
        else:
            _link_no_clobber(tmp, target)
        _fsync_dir(folder)
    except BaseException as exc:
        for leftover in (tmp, bak_tmp):
            if leftover is not None:
                try:
                    os.unlink(leftover)
                except OSError:
                    pass
        if isinstance(exc, FileExistsError):
            raise WriteRefused(f"{target} exists; use --force to replace it") from None
        if isinstance(exc, OSError):
            raise WriteRefused(f"cannot write {target}: {exc.strerror or exc}") from None
        raise
    return target


def _link_no_clobber(tmp: str, target: Path) -> None:
    """Move ``tmp`` to ``target`` only if ``target`` does not exist (FileExistsError otherwise)."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:
        # file systems without hard links: a plain rename (the existence check above still applies)
        if os.path.lexists(target):
            raise FileExistsError(str(target)) from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _copy(src: Path, folder: Path) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{src.name}.", suffix=".bak.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            out.write(inp.read())
        os.chmod(tmp, src.stat().st_mode & 0o666)  # the backup: no exec, setuid or sticky bit
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
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
