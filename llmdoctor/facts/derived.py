"""Derived facts shared by several checks (pure functions of the snapshot and the data tables)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from .. import data
from ..snapshot import Gpu, Snapshot, normalize_name

FOUND_VERSION = re.compile(r"driver on your system is too old \(found version (\d{4,6})\)", re.I)


def gpu_cc(gpu: Gpu) -> tuple[str | None, str]:
    """(compute capability, where it came from) of a GPU: NVML/dump, else its name in gpus.json."""
    if gpu.compute_capability:
        return gpu.compute_capability, "reported"
    row = data.gpu_by_name(gpu.name)
    if row:
        return row["compute_capability"], "from the GPU name (data/gpus.json)"
    return None, "unknown"


def gpu_label(gpu: Gpu) -> str:
    return f"GPU {gpu.index} ({gpu.name})" if gpu.name else f"GPU {gpu.index}"


def sm(cc: str) -> str:
    mm = data.major_minor(cc)
    return f"sm_{mm[0]}{mm[1]}" if mm else f"sm_{cc}"


def driver_platform(snap: Snapshot) -> str:
    if snap.driver is not None and snap.driver.platform:
        return snap.driver.platform
    if snap.host is not None and snap.host.os == "Windows":
        return "windows"
    return "linux"


def driver_max_cuda(snap: Snapshot) -> tuple[str | None, str]:
    """The driver's maximum CUDA and how we know it."""
    d = snap.driver
    if d is None:
        return None, "unknown"
    if d.cuda_version:
        return d.cuda_version, "reported by the driver"
    if d.version:
        derived = data.driver_max_cuda_from_driver(d.version, driver_platform(snap))
        if derived:
            return derived, "derived from the driver version (data/cuda_drivers.json)"
    return None, "unknown"


def error_texts(snap: Snapshot) -> list[str]:
    """Error and warning texts seen: the torch probe's, and any from a dump."""
    texts = list(snap.errors)
    t = snap.torch
    if t is not None:
        texts += [x for x in (t.import_error, t.cuda_error) if x]
        texts += list(t.warnings)
    return texts


def found_version_in_errors(snap: Snapshot) -> tuple[str, str] | None:
    """('11.4', text) when torch said 'driver on your system is too old (found version 11040)'."""
    for text in error_texts(snap):
        m = FOUND_VERSION.search(text)
        if m:
            v = int(m.group(1))
            return f"{v // 1000}.{(v % 1000) // 10}", text
    return None


@dataclass(frozen=True)
class DriverNeed:
    cuda: str
    exact: str | None  # driver of the toolkit release
    floor: str | None  # minor-version-compatibility floor (CUDA 11.1+)


def driver_need(cuda: str, platform: str) -> DriverNeed:
    exact_row = data.toolkit_min_driver(cuda, platform)
    floor_row = data.minor_compat_floor(cuda, platform)
    return DriverNeed(
        cuda=cuda,
        exact=exact_row.get(platform) if exact_row else None,
        floor=floor_row.get(platform) if floor_row else None,
    )


def driver_supports(driver: str | None, max_cuda: str | None, cuda: str, platform: str) -> bool | None:
    """Whether a driver can run a CUDA ``cuda`` runtime (exactly, or through minor-version compatibility)."""
    need = driver_need(cuda, platform)
    mm, mx = data.major_minor(cuda), data.major_minor(max_cuda)
    if mx is not None and mm is not None:
        if mx >= mm:
            return True
        if mx[0] < mm[0]:
            return False
    dv = data.version(driver)
    if dv is None:
        if mx is not None and mm is not None:
            return mx >= mm if mm[0] < 11 else mx[0] >= mm[0]
        return None
    if need.exact and dv >= data.version(need.exact):
        return True
    if need.floor and dv >= data.version(need.floor):
        return True
    if need.exact is None and need.floor is None:
        return None
    return False


def best_torch_variant(snap: Snapshot, same_release_as: str | None = None,
                       arch_cc: Iterable[str] = (), python: str | None = None,
                       releases: Iterable[str] | None = None) -> tuple[str, str] | None:
    """(torch release 'X.Y', variant 'cuXYZ') that this driver can run and whose arch list covers ``arch_cc``.

    Prefers the installed torch release (smallest change), else the newest release.  With ``python``
    ('3.10.14') only releases with wheels for that Python; with ``releases`` only those 'X.Y' releases.
    """
    platform = driver_platform(snap)
    max_cuda, _ = driver_max_cuda(snap)
    driver = snap.driver.version if snap.driver else None
    ccs = list(arch_cc)
    allowed = set(releases) if releases is not None else None
    candidates = []
    for release, name, row in data.torch_variants():
        if allowed is not None and release["torch"] not in allowed:
            continue
        if python and not python_supported(release.get("python"), python):
            continue
        if driver is not None or max_cuda is not None:
            if not driver_supports(driver, max_cuda, row["cuda"], platform):
                continue
        if ccs:
            if not row.get("arch"):
                continue
            archs = data.arch_entries_to_list(row["arch"])
            if not all(arch_covers(archs, cc)[0] == "sass" for cc in ccs):
                continue
        candidates.append((release["torch"], name, row))
    if not candidates:
        return None
    if same_release_as:
        mm = data.major_minor(same_release_as)
        for rel, name, row in candidates:
            if data.major_minor(rel) == mm:
                return rel, name
    # newest release; within it the newest CUDA that is "stable" if possible
    newest = candidates[0][0]
    same = [c for c in candidates if c[0] == newest]
    stable = [c for c in same if c[2].get("status") != "experimental"] or same
    return stable[0][0], stable[0][1]


def python_supported(span: str | None, python: str) -> bool:
    """Whether a release's Python span ('3.9-3.13') includes ``python`` ('3.10.14'); True when unknown."""
    py = data.major_minor(python)
    m = re.fullmatch(r"\s*(\d+\.\d+)\s*-\s*(\d+\.\d+)\s*", span or "")
    if py is None or m is None:
        return True
    return data.major_minor(m.group(1)) <= py <= data.major_minor(m.group(2))


def arch_covers(arch_list: Iterable[str], cc: str) -> tuple[str | None, str | None]:
    """How a torch arch list covers a GPU: ('sass', 'sm_86') | ('ptx', 'compute_80') | (None, None).

    SASS (sm_XY) runs on GPUs of the same major and equal or higher minor; arch-specific targets
    (sm_90a, sm_100f) only on their exact family; PTX (compute_XY) JIT-compiles for any newer GPU.
    Source: CUDA Blackwell compatibility guide (reference_facts.md 3a).
    """
    t = data.major_minor(cc)
    if t is None:
        return None, None
    ptx = None
    best: tuple[int, str] | None = None
    for entry in arch_list:
        m = re.fullmatch(r"(sm|compute)_(\d+)([af]?)", entry.strip())
        if not m:
            continue
        num = int(m.group(2))
        major, minor = num // 10, num % 10
        suffix = m.group(3)
        if m.group(1) == "sm":
            if suffix and (major, minor) != t:
                continue
            if major == t[0] and minor <= t[1] and (best is None or minor > best[0]):
                best = (minor, entry)
        elif (major, minor) <= t and not suffix:
            ptx = entry
    if best:
        return "sass", best[1]
    if ptx:
        return "ptx", ptx
    return None, None


def installed(snap: Snapshot, name: str) -> str | None:
    if snap.packages is None:
        return None
    return snap.packages.version(name)


def is_cpu_torch(version: str | None, cuda: str | None, hip: str | None) -> bool:
    if hip:
        return False
    if version and version.endswith("+cpu"):
        return True
    return cuda is None


def same_name(a: str, b: str) -> bool:
    return normalize_name(a) == normalize_name(b)
