"""Free disk space where an offload folder would go (the nearest existing parent)."""

from __future__ import annotations

import shutil
from pathlib import Path


def free_bytes(path: str) -> int | None:
    p = Path(path).expanduser().resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None
