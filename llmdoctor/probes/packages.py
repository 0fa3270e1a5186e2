"""Packages probe: installed distributions from importlib.metadata (no pip subprocess)."""

from __future__ import annotations

import sys
from typing import Any

from ..snapshot import Distribution, Packages, Python
from . import target_worker
from .target_runner import run_worker


def packages_from_worker(data: dict[str, Any]) -> Packages:
    return Packages(
        interpreter=data.get("interpreter"),
        distributions=tuple(
            Distribution(name=d["name"], version=d["version"], location=d.get("location"),
                         requires=tuple(d.get("requires") or ()), installer=d.get("installer"),
                         top_level=tuple(d.get("top_level") or ()), direct_url=d.get("direct_url"),
                         editable=bool(d.get("editable")))
            for d in data.get("distributions", [])
        ),
        problems=tuple(data.get("problems") or ()),
    )


def probe_packages(python: str | None, timeout: float, cache: str = "off") -> Packages:
    """In-process for the running interpreter; in a subprocess for another one (--python).

    ``cache`` (use | refresh | off): the metadata is cached like torch's build facts,
    valid until any distribution on the target's sys.path is installed, removed or reinstalled
    (``llmdoctor.cache``).
    """
    return packages_from_worker(probe_packages_cached(python, timeout, cache)[0])


def probe_packages_cached(python: str | None, timeout: float, cache: str) -> tuple[dict[str, Any], str]:
    """The packages worker's output and what the cache did (a line, like the torch cache's)."""
    from .. import cache as facts_cache

    target = python or sys.executable
    status = {"refresh": "refresh", "off": "disabled (--no-cache)"}.get(cache, "")
    if cache == "use":
        found = facts_cache.load(target, "packages")
        if found.data is not None:
            return found.data, "hit"
        status = found.status
    here = python is None or python == sys.executable
    data = target_worker.probe_packages() if here else run_worker(target, "packages", timeout)
    sys_path = data.pop("sys_path", None)
    if cache != "off" and isinstance(sys_path, list):
        status += "; " + facts_cache.store_section(target, "packages", data, sys_path)
    return data, status


def probe_python(python: str | None, timeout: float) -> Python:
    data = target_worker.probe_python() if python is None or python == sys.executable else run_worker(python, "python", timeout)
    return Python(**{k: data.get(k) for k in ("version", "executable", "implementation", "prefix", "venv", "conda_env")})
