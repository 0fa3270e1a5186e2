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


def probe_packages(python: str | None, timeout: float) -> Packages:
    """In-process for the running interpreter; in a subprocess for another one (--python)."""
    if python is None or python == sys.executable:
        return packages_from_worker(target_worker.probe_packages())
    return packages_from_worker(run_worker(python, "packages", timeout))


def probe_python(python: str | None, timeout: float) -> Python:
    data = target_worker.probe_python() if python is None or python == sys.executable else run_worker(python, "python", timeout)
    return Python(**{k: data.get(k) for k in ("version", "executable", "implementation", "prefix", "venv", "conda_env")})
