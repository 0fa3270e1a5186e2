"""Fact tables (JSON files beside this module), each row with its source, loaded lazily and cached.

Accessors here answer the questions checks ask; tests in tests/test_data_tables.py pin the rows the
checks rely on.
"""

from __future__ import annotations

import functools
import json
import os
import re
from typing import Any

from packaging.version import InvalidVersion, Version


_HERE = os.path.dirname(os.path.abspath(__file__))


@functools.lru_cache(maxsize=None)
def load(name: str) -> Any:
    try:  # the files beside this module (importlib.resources and its zipfile cost more than reading them)
        with open(os.path.join(_HERE, f"{name}.json"), encoding="utf-8") as f:
            text = f.read()
    except OSError:  # not a folder (a zipped install): the resources API reads it
        from importlib import resources

        text = resources.files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


def version(text: str | None) -> Version | None:
    if not text:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        m = re.match(r"\d+(\.\d+)*", text.strip())
        return Version(m.group(0)) if m else None


def major_minor(text: str | None, *, anywhere: bool = False) -> tuple[int, int] | None:
    """'12.1.105' -> (12, 1); with ``anywhere`` the first X.Y in the text ('release 12.1, V12.1.105')."""
    # bounded digit runs: a long line of digits costs linear time, not quadratic backtracking
    pattern = r"(?<!\d)(\d{1,9})\.(\d{1,9})"
    m = re.search(pattern, text or "") if anywhere else re.match(pattern, text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def major_minor_text(text: str | None, *, anywhere: bool = False) -> str | None:
    """:func:`major_minor` written back as text: 'V12.01' -> '12.1' (leading zeros dropped)."""
    mm = major_minor(text, anywhere=anywhere)
    return f"{mm[0]}.{mm[1]}" if mm else None


def cuda_version_text(code: int) -> str:
    """CUDA's integer version (CUDA_VERSION, cudaDriverGetVersion: 1000*major + 10*minor): 11040 -> '11.4'."""
    return f"{code // 1000}.{(code % 1000) // 10}"


def rows(name: str, key: str = "rows") -> list[dict[str, Any]]:
    """The list ``key`` of table ``name`` (each row a JSON object)."""
    table: list[dict[str, Any]] = load(name)[key]
    return table


def _cuda_key(row: dict[str, Any]) -> Version:
    return version(row["cuda"]) or Version("0")


# --------------------------------------------------------------------------- CUDA and drivers


def toolkit_min_driver(cuda: str, platform: str = "linux") -> dict[str, Any] | None:
    """The row of the first release of CUDA ``major.minor`` (its minimum driver), or None if unknown."""
    mm = major_minor(cuda)
    if mm is None:
        return None
    found = [r for r in rows("cuda_drivers", "toolkits") if major_minor(r["cuda"]) == mm]
    found = [r for r in found if r.get(platform)] or found
    if not found:
        return None
    return min(found, key=_cuda_key)


def minor_compat_floor(cuda: str, platform: str = "linux") -> dict[str, Any] | None:
    """The minor-version-compatibility family row covering CUDA ``cuda`` (CUDA 11.1+), or None."""
    mm = major_minor(cuda)
    if mm is None:
        return None
    for row in rows("cuda_drivers", "minor_compat_families"):
        if row["major"] == mm[0] and mm[1] >= row.get("min_minor", 0):
            return row
    return None


def driver_max_cuda_from_driver(driver: str, platform: str = "linux") -> str | None:
    """The newest CUDA major.minor whose toolkit minimum this driver meets (for dumps without it)."""
    dv = version(driver)
    if dv is None:
        return None
    best: tuple[int, int] | None = None
    for row in rows("cuda_drivers", "toolkits"):
        need = version(row.get(platform))
        mm = major_minor(row["cuda"])
        if need is not None and mm is not None and dv >= need and (best is None or mm > best):
            best = mm
    return f"{best[0]}.{best[1]}" if best else None


# --------------------------------------------------------------------------- GPUs


def gpu_by_name(name: str | None) -> dict[str, Any] | None:
    if not name:
        return None
    for row in rows("gpus", "gpus"):
        if re.search(row["pattern"], name, re.IGNORECASE):
            return row
    return None


def cc_tuple(cc: str | None) -> tuple[int, int] | None:
    return major_minor(cc)


def dtypes_for(cc: str) -> tuple[str, ...]:
    """Tensor Core dtypes of a compute capability ("8.0" -> fp16, bf16, tf32, int8)."""
    t = cc_tuple(cc)
    best: tuple[str, ...] = ()
    if t is None:
        return best
    for row in rows("dtypes"):
        floor = cc_tuple(row["min_cc"])
        if floor is not None and floor <= t:
            best = tuple(row["dtypes"])
    return best


def dtype_min_cc(dtype: str) -> str | None:
    for row in rows("dtypes"):
        if dtype in row["dtypes"]:
            return str(row["min_cc"])
    return None


def cuda_min_cc(cuda: str | None) -> dict[str, Any] | None:
    """The row giving the oldest compute capability CUDA ``cuda`` can compile for (None when unknown)."""
    mm = major_minor(cuda)
    if mm is None:
        return None
    best = None
    for row in rows("cuda_min_cc"):
        since = major_minor(row["cuda_from"])
        if since is not None and since <= mm:
            best = row
    return best


def package_min_cc() -> list[dict[str, Any]]:
    return list(rows("package_min_cc"))


# --------------------------------------------------------------------------- torch wheels


def local_tag(version: str | None) -> str | None:
    """The local version label, lower-cased: '2.4.0+cu121' -> 'cu121'; None when there is none."""
    if not version or "+" not in version:
        return None
    return version.split("+", 1)[1].lower()


def variant_for_cuda(cuda: str | None) -> str | None:
    mm = major_minor(cuda)
    return f"cu{mm[0]}{mm[1]}" if mm else None


def torch_release(torch_version: str | None) -> dict[str, Any] | None:
    v = version(torch_version)
    if v is None:
        return None
    key = f"{v.major}.{v.minor}"
    for row in rows("torch_wheels", "releases"):
        if row["torch"] == key:
            return row
    return None


def torch_arch_list(torch_version: str | None, cuda: str | None) -> list[str] | None:
    """torch.cuda.get_arch_list() of the official Linux wheel (sm_XY / compute_XY), when the table has it."""
    release = torch_release(torch_version)
    variant = variant_for_cuda(cuda)
    if release is None or variant is None:
        return None
    row: dict[str, Any] | None = release["variants"].get(variant)
    if not row or not row.get("arch"):
        return None
    return arch_entries_to_list(row["arch"])


def arch_entries_to_list(entries: list[str]) -> list[str]:
    """TORCH_CUDA_ARCH_LIST entries ('8.6', '12.0+PTX') -> get_arch_list() form ('sm_86', 'compute_120')."""
    out = []
    for entry in entries:
        base, _, ptx = entry.partition("+")
        mm = major_minor(base)
        if mm is None:
            continue
        out.append(f"sm_{mm[0]}{mm[1]}")
        if ptx.upper() == "PTX":
            out.append(f"compute_{mm[0]}{mm[1]}")
    return out


def index_url(variant: str) -> str:
    template: str = load("torch_wheels")["index_url_template"]
    return template.format(variant=variant)


def torch_variants(newest_first: bool = True) -> list[tuple[dict[str, Any], str, dict[str, Any]]]:
    """Every (release, variant name, variant row) in the table."""
    out = []
    for release in rows("torch_wheels", "releases"):
        for name, row in release["variants"].items():
            out.append((release, name, row))
    out.sort(key=lambda t: (version(t[0]["torch"]), version(t[2]["cuda"])), reverse=newest_first)
    return out
