"""A cache of torch's build facts, so that a warm ``llmdoctor check`` does not pay ``import torch``.

What torch is (version, CUDA, cuDNN, NCCL, compiled arch list, build flags, the libraries it maps, the
GPU extensions' import results) does not change until a package is installed, removed or reinstalled.
Live facts (CUDA availability, the devices) always come from the machine: on a hit they are read from
the CUDA driver directly (``cuda_live``); when the driver cannot confirm what torch would see, the full
torch probe runs instead, so a warm run never reports less than a cold one.

The installed distributions' metadata (the packages probe) is cached the same way, in its own folder.

Key: the target interpreter (real path and the binary's stat), the environment variables that change
what ``import torch`` finds, and a fingerprint of every distribution folder (``*.dist-info`` /
``*.egg-info`` / ``*.pth``, name and mtime) on the target's ``sys.path``, so any install, removal or
reinstall of torch or of anything else misses.  One JSON file per key in the user cache directory
(XDG, via platformdirs; ``LLMDOCTOR_CACHE_DIR`` overrides), written atomically; a corrupt or foreign
file is ignored and replaced; a read-only or missing home means no cache (the reason is recorded).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any

FORMAT = "llmdoctor.torch-cache/1"
# Environment that changes what `import torch` loads or how the probe imports extensions.
KEY_ENV = ("LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE", "CONDA_PREFIX",
           "VIRTUAL_ENV", "CUDA_HOME", "CUDA_PATH", "LLMDOCTOR_EXTENSION_IMPORTS", "TORCH_CUDA_ARCH_LIST")
# Facts read live on every run: never taken from the cache.
LIVE_FIELDS = ("cuda_available", "device_count", "devices", "cuda_error")
_DIST_SUFFIXES = (".dist-info", ".egg-info", ".pth", ".egg-link")

MODES = ("use", "refresh", "off")


@dataclass(frozen=True)
class Lookup:
    """What the cache said: the cached worker output (or None) and a one-line status for ``-v``."""

    data: dict[str, Any] | None
    status: str


def cache_dir() -> str | None:
    """The folder for cache files, or None when there is no usable one."""
    override = os.environ.get("LLMDOCTOR_CACHE_DIR")
    if override:
        return override
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
    ident = [FORMAT, _version(), _interpreter_id(python), [(k, os.environ.get(k)) for k in KEY_ENV]]
    return hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:32]


def _version() -> str:
    from .. import __version__

    return __version__


def fingerprint(paths: list[str]) -> str:
    """A digest of the distribution folders on these sys.path entries: changes with any (re)install."""
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


# What is cached, one folder each: torch's build facts, and the installed distributions' metadata (the
# packages probe reads every METADATA and RECORD file: the slowest probe on a warm run).
SECTIONS = ("torch", "packages")


def _path(python: str, section: str = "torch") -> str | None:
    folder = cache_dir()
    if folder is None:
        return None
    try:
        return os.path.join(folder, section, key_for(python) + ".json")
    except OSError:
        return None


def load(python: str, section: str = "torch") -> Lookup:
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


def _valid(doc: Any, section: str = "torch") -> bool:
    return (isinstance(doc, dict) and doc.get("format") == FORMAT and isinstance(doc.get(section), dict)
            and isinstance(doc.get("sys_path"), list) and all(isinstance(p, str) for p in doc["sys_path"])
            and isinstance(doc.get("fingerprint"), str))


def cacheable(data: dict[str, Any]) -> bool:
    """Only a torch that imported cleanly is cached (a failure may be transient: probe it every time)."""
    return (bool(data.get("installed")) and not data.get("import_error") and isinstance(data.get("sys_path"), list)
            and not any(e.get("ok") is None for e in data.get("extensions") or () if isinstance(e, dict)))


def store(python: str, data: dict[str, Any]) -> str:
    """Write the build facts of a fresh probe; returns a status line (never raises)."""
    if not cacheable(data):
        return "not cached (torch did not import cleanly)"
    build = {k: v for k, v in data.items() if k not in LIVE_FIELDS}
    return store_section(python, "torch", build, data["sys_path"])


def store_section(python: str, section: str, facts: dict[str, Any], sys_path: list[str]) -> str:
    """Write ``facts`` for ``python``, valid while the distributions on ``sys_path`` stay as they are."""
    path = _path(python, section)
    if path is None:
        return "not cached (no cache directory)"
    doc = {"format": FORMAT, "python": os.path.abspath(python), "sys_path": list(sys_path),
           "fingerprint": fingerprint(list(sys_path)), section: facts}
    try:
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


def with_live_facts(build: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any] | None:
    """Cached build facts plus what the machine says now, or None when only torch itself can tell.

    A CPU build sees no CUDA device, whatever the machine has.  A CUDA build needs the driver's own
    answer (device count, names, capabilities, its CUDA version); when the driver gives none, or its CUDA
    is older than torch's, torch's own error text matters: the caller runs the full probe instead.
    """
    if not build.get("cuda") and not build.get("hip"):
        return {**build, "cuda_available": False, "device_count": 0, "devices": []}
    if build.get("hip") or live is None or live.get("error") or not live.get("devices"):
        return None
    if not runtime_supported(live.get("driver_cuda"), build.get("cuda")):
        return None
    return {**build, "cuda_available": True, "device_count": len(live["devices"]), "devices": live["devices"]}


def runtime_supported(driver_cuda: int | None, torch_cuda: str | None) -> bool:
    """Whether a driver reporting CUDA ``driver_cuda`` (cuDriverGetVersion, 12020) runs torch's runtime.

    From CUDA 11 on, minor-version compatibility lets a driver of the same major run a newer minor
    (https://docs.nvidia.com/deploy/cuda-compatibility/#minor-version-compatibility); before 11 the
    driver must be at least the runtime's version.
    """
    if driver_cuda is None or not torch_cuda:
        return False
    try:
        major, minor = (int(x) for x in torch_cuda.split(".")[:2])
    except ValueError:
        return False
    d_major, d_minor = driver_cuda // 1000, (driver_cuda % 1000) // 10
    if d_major != major:
        return d_major > major
    return major >= 11 or d_minor >= minor


def probe_torch_cached(python: str, timeout: float, mode: str, run_full: Any, read_live: Any) -> tuple[dict[str, Any], str]:
    """The torch worker's output for ``python`` and how the cache was used.

    ``run_full()`` runs the real worker (importing torch); ``read_live()`` asks the CUDA driver.
    """
    if mode == "use":
        found = load(python)
        if found.data is not None:
            merged = with_live_facts(found.data, read_live() if found.data.get("cuda") else None)
            if merged is not None:
                return merged, "hit"
            status = "hit, but the driver could not confirm the devices: probed torch"
        else:
            status = found.status
    else:
        status = "refresh" if mode == "refresh" else "disabled (--no-cache)"
    data = run_full()
    if mode != "off":
        status += "; " + store(python, data)
    return data, status


def would_hit(python: str) -> bool:
    """Cheap: whether a probe of ``python`` will be served from the cache (the CLI then starts no worker)."""
    try:
        found = load(python)
    except Exception:
        return False
    return found.data is not None
