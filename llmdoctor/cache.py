"""A cache of facts that change only when a package is installed, removed or reinstalled.

Used for torch's build facts (``probes/torch_cache.py``), the installed distributions' metadata (the
packages probe) and the check plugins' entry points (the registry), so that a warm ``llmdoctor check``
neither imports torch nor reads every distribution's metadata.

Key: the interpreter (real path and the binary's stat), the environment variables that change what it
imports, and, inside the file, a fingerprint of every distribution folder (``*.dist-info`` /
``*.egg-info`` / ``*.pth``, name, mtime and size) on its ``sys.path``, so any install, removal or
reinstall of anything misses.  One JSON file per section and key in the user cache directory (XDG, via
platformdirs; ``LLMDOCTOR_CACHE_DIR`` overrides), written atomically (a concurrent reader sees the old
file or the new one); a corrupt or foreign file is ignored and replaced; a read-only or missing home
means no cache (the reason is recorded, never an error).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any
from .frozen import frozen

FORMAT = "llmdoctor.torch-cache/1"
# Environment that changes what `import torch` loads or how the probe imports extensions.
KEY_ENV = ("LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE", "CONDA_PREFIX",
           "VIRTUAL_ENV", "CUDA_HOME", "CUDA_PATH", "LLMDOCTOR_EXTENSION_IMPORTS", "TORCH_CUDA_ARCH_LIST")
_DIST_SUFFIXES = (".dist-info", ".egg-info", ".pth", ".egg-link")

# use: read and write; refresh: write only (re-probe); off: neither (``--no-cache``).
MODES = ("use", "refresh", "off")
ENV_MODE = "LLMDOCTOR_TORCH_CACHE"


_RUN_MODE: list[str] = []  # set by the CLI for one command (--refresh / --no-cache), before it parses options


def mode() -> str:
    """The cache mode of this run: --refresh / --no-cache when the command line has one, else
    ``LLMDOCTOR_TORCH_CACHE`` (use when unset)."""
    if _RUN_MODE:
        return _RUN_MODE[-1]
    value = os.environ.get(ENV_MODE, "use")
    return value if value in MODES else "use"


def mode_from_args(args: list[str]) -> str | None:
    """The mode a command line asks for: off with --no-cache, refresh with --refresh, else None."""
    if "--no-cache" in args:
        return "off"
    if "--refresh" in args:
        return "refresh"
    return None


@frozen
class Lookup:
    """What the cache said: the cached worker output (or None) and a one-line status for ``-v``."""

    data: dict[str, Any] | None
    status: str


def _xdg_cache_dir() -> str | None:
    """platformdirs' ``user_cache_dir("llmdoctor")`` on Linux, without its import (a tenth of a warm run):
    ``$XDG_CACHE_HOME/llmdoctor``, ``~/.cache/llmdoctor`` when that is unset or blank (the XDG Base
    Directory rule; a test holds it equal to platformdirs' answer)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not base.strip():
        base = os.path.expanduser("~/.cache")
        if base.startswith("~"):  # no home at all
            return None
    return os.path.join(base, "llmdoctor")


def cache_dir() -> str | None:
    """The folder for cache files, or None when there is no usable one."""
    override = os.environ.get("LLMDOCTOR_CACHE_DIR")
    if override:
        return override
    if sys.platform.startswith("linux"):
        return _xdg_cache_dir()
    try:
        import platformdirs

        return str(platformdirs.user_cache_dir("llmdoctor", appauthor=False))
    except Exception:  # no home, odd platform: no cache
        return None


def _interpreter_id(python: str) -> list[Any]:
    real = os.path.realpath(python)
    st = os.stat(real)
    return [real, st.st_size, st.st_mtime_ns, os.path.abspath(python)]


def key_for(python: str) -> str:
    """The file name for the interpreter ``python`` in this environment (raises OSError if it is absent)."""
    import hashlib

    ident = [FORMAT, _version(), _interpreter_id(python), [(k, os.environ.get(k)) for k in KEY_ENV]]
    return hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:32]


def _version() -> str:
    from . import __version__

    return __version__


def fingerprint(paths: list[str]) -> str:
    """A digest of the distribution folders on these sys.path entries: changes with any (re)install."""
    import hashlib

    h = hashlib.sha256()
    for entry in paths:
        if not entry or not os.path.isdir(entry):
            continue
        try:
            names = sorted(n for n in os.listdir(entry) if n.endswith(_DIST_SUFFIXES))
        except OSError:
            continue
        h.update(entry.encode("utf-8", "surrogateescape") + b"\0")
        for name in names:
            try:
                st = os.stat(os.path.join(entry, name))
            except OSError:
                continue
            h.update(f"{name}\0{st.st_mtime_ns}\0{st.st_size}\0".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


# What is cached, one folder each: torch's build facts (probes/torch_cache.py), the installed
# distributions' metadata (the packages probe reads every METADATA and RECORD file), and the check
# plugins' entry points (the registry would scan every distribution's entry_points.txt).
SECTIONS = ("torch", "packages", "entry_points")


def _path(python: str, section: str) -> str | None:
    folder = cache_dir()
    if folder is None:
        return None
    try:
        return os.path.join(folder, section, key_for(python) + ".json")
    except OSError:
        return None


def load(python: str, section: str) -> Lookup:
    """The cached facts of ``section`` for ``python`` if they are still valid."""
    path = _path(python, section)
    if path is None:
        return Lookup(None, "no cache directory")
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        return Lookup(None, "miss (not cached yet)")
    except (OSError, ValueError) as exc:
        return Lookup(None, f"miss (unreadable cache file ignored: {type(exc).__name__})")
    if not _valid(doc, section):
        return Lookup(None, "miss (foreign or corrupt cache file ignored)")
    if fingerprint(doc["sys_path"]) != doc["fingerprint"]:
        return Lookup(None, "miss (packages changed since it was cached)")
    return Lookup(dict(doc[section]), "hit")


def _valid(doc: Any, section: str) -> bool:
    return (isinstance(doc, dict) and doc.get("format") == FORMAT and isinstance(doc.get(section), dict)
            and isinstance(doc.get("sys_path"), list) and all(isinstance(p, str) for p in doc["sys_path"])
            and isinstance(doc.get("fingerprint"), str))


def store_section(python: str, section: str, facts: dict[str, Any], sys_path: list[str]) -> str:
    """Write ``facts`` for ``python``, valid while the distributions on ``sys_path`` stay as they are."""
    path = _path(python, section)
    if path is None:
        return "not cached (no cache directory)"
    doc = {"format": FORMAT, "python": os.path.abspath(python), "sys_path": list(sys_path),
           "fingerprint": fingerprint(list(sys_path)), section: facts}
    try:
        import tempfile

        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh)
            os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        return f"not cached ({exc.strerror or type(exc).__name__}: {os.path.dirname(path)})"
    return "stored"
