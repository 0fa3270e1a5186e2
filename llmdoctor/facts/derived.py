"""Derived facts shared by several checks (pure functions of the snapshot and the data tables)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .. import data
from ..snapshot import (
    Driver,
    Gpu,
    Host,
    Meta,
    Packages,
    ProbeResult,
    Snapshot,
    Torch,
    normalize_name,
)
from ..frozen import frozen

FOUND_VERSION = re.compile(r"driver on your system is too old \(found version (\d{4,6})\)", re.IGNORECASE)


def gpu_cc(gpu: Gpu) -> tuple[str | None, str]:
    """(compute capability, where it came from) of a GPU: NVML/dump, else its name in gpus.json."""
    if gpu.compute_capability and re.fullmatch(r"\d{1,2}\.\d{1,2}", gpu.compute_capability):
        return gpu.compute_capability, "reported"  # a malformed one (a hostile snapshot) is not a fact
    row = data.gpu_by_name(gpu.name)
    if row:
        return row["compute_capability"], "from the GPU name (data/gpus.json)"
    return None, "unknown"


def gpu_label(gpu: Gpu) -> str:
    return f"GPU {gpu.index} ({gpu.name})" if gpu.name else f"GPU {gpu.index}"


def sm(cc: str) -> str:
    mm = data.major_minor(cc)
    return f"sm_{mm[0]}{mm[1]}" if mm else f"sm_{cc}"


def platform_of(driver: Driver | None, host: Host | None = None) -> str:
    """Which driver table applies: "linux" or "windows" (the driver's own word, else the host's OS)."""
    if driver is not None and driver.platform:
        return driver.platform
    if host is not None and host.os == "Windows":
        return "windows"
    return "linux"


def driver_platform(snap: Snapshot) -> str:
    return platform_of(snap.driver, snap.host)


def max_cuda_of(driver: Driver | None, host: Host | None = None) -> tuple[str | None, str]:
    """The driver's maximum CUDA and how we know it (reported, derived from its version, or unknown)."""
    if driver is None:
        return None, "unknown"
    if driver.cuda_version:
        return driver.cuda_version, "reported by the driver"
    if driver.version:
        derived = data.driver_max_cuda_from_driver(driver.version, platform_of(driver, host))
        if derived:
            return derived, "derived from the driver version (data/cuda_drivers.json)"
    return None, "unknown"


def driver_max_cuda(snap: Snapshot) -> tuple[str | None, str]:
    """The driver's maximum CUDA and how we know it."""
    return max_cuda_of(snap.driver, snap.host)


def texts_seen(errors: Sequence[str], torch: Torch | None) -> list[str]:
    """Error and warning texts seen: any from a dump (or --error), then the torch probe's."""
    texts = list(errors)
    if torch is not None:
        texts += [x for x in (torch.import_error, torch.cuda_error) if x]
        texts += list(torch.warnings)
    return texts


def error_texts(snap: Snapshot) -> list[str]:
    """Error and warning texts seen: the torch probe's, and any from a dump."""
    return texts_seen(snap.errors, snap.torch)


def found_version(errors: Sequence[str], torch: Torch | None) -> tuple[str, str] | None:
    """('11.4', text) when torch said 'driver on your system is too old (found version 11040)'."""
    for text in texts_seen(errors, torch):
        m = FOUND_VERSION.search(text)
        if m:
            return data.cuda_version_text(int(m.group(1))), text
    return None


def found_version_in_errors(snap: Snapshot) -> tuple[str, str] | None:
    """('11.4', text) when torch said 'driver on your system is too old (found version 11040)'."""
    return found_version(snap.errors, snap.torch)


def why_unknown(part: str, probes: Sequence[ProbeResult], meta: Meta) -> str:
    """Why a snapshot part is unknown ("gpus unknown: NVML ..."), from the probes' records."""
    return Snapshot(meta=meta, probes=tuple(probes)).unknown_reason(part)


@frozen
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
    exact, floor = data.version(need.exact), data.version(need.floor)
    if exact is None and floor is None:
        return None
    return any(v is not None and dv >= v for v in (exact, floor))


def best_torch_for(driver: Driver | None, *, host: Host | None = None, python: str | None = None,
                   gpu_ccs: Iterable[str] = (), same_release_as: str | None = None,
                   releases: Iterable[str] | None = None) -> tuple[str, str] | None:
    """The one choice of an official torch build for a machine: (release 'X.Y', variant 'cuXYZ') or None.

    The build must run on ``driver`` (its CUDA exactly or through minor-version compatibility; any when
    the driver is unknown), have SASS kernels for every compute capability in ``gpu_ccs``, and, with
    ``python`` ('3.8.18'), publish wheels for that Python (data/torch_wheels.json); with ``releases`` only
    those 'X.Y' releases count.  Prefers ``same_release_as``'s release (the smallest change), else the
    newest release, and within it a stable variant.  Used by the checks' remedies and by ``fix pin``.
    """
    platform = platform_of(driver, host)
    max_cuda, _ = max_cuda_of(driver, host)
    version = driver.version if driver else None
    ccs = list(dict.fromkeys(gpu_ccs))  # eight (or 64) GPUs of one kind are one capability to cover
    allowed = set(releases) if releases is not None else None
    candidates = [(release["torch"], name, row) for release, name, row in data.torch_variants()
                  if (allowed is None or release["torch"] in allowed)
                  and (not python or python_supported(release.get("python"), python))
                  and _runs_on_driver(row, version, max_cuda, platform)
                  and _covers_all(row, ccs)]
    if not candidates:
        return None
    return _preferred(candidates, same_release_as)


def _runs_on_driver(row: Mapping[str, str], driver: str | None, max_cuda: str | None, platform: str) -> bool:
    if driver is None and max_cuda is None:
        return True
    return bool(driver_supports(driver, max_cuda, row["cuda"], platform))


def _covers_all(row: Mapping[str, object], ccs: list[str]) -> bool:
    if not ccs:
        return True
    arch = row.get("arch")
    if not isinstance(arch, list) or not arch:
        return False
    archs = data.arch_entries_to_list(arch)
    return all(arch_covers(archs, cc)[0] == "sass" for cc in ccs)


def _preferred(candidates: list[tuple[str, str, dict[str, object]]], same_release_as: str | None) -> tuple[str, str]:
    if same_release_as:
        mm = data.major_minor(same_release_as)
        for rel, name, _row in candidates:
            if data.major_minor(rel) == mm:
                return rel, name
    # newest release; within it the newest CUDA that is "stable" if possible
    newest = candidates[0][0]
    same = [c for c in candidates if c[0] == newest]
    stable = [c for c in same if c[2].get("status") != "experimental"] or same
    return stable[0][0], stable[0][1]


def best_torch_variant(snap: Snapshot, same_release_as: str | None = None,
                       arch_cc: Iterable[str] = (), python: str | None = None,
                       releases: Iterable[str] | None = None) -> tuple[str, str] | None:
    """``best_torch_for`` on a whole snapshot; ``python`` defaults to the snapshot's Python."""
    if python is None and snap.python is not None:
        python = snap.python.version
    return best_torch_for(snap.driver, host=snap.host, python=python, gpu_ccs=arch_cc,
                          same_release_as=same_release_as, releases=releases)


def python_supported(span: str | None, python: str) -> bool:
    """Whether a release's Python span ('3.9-3.13') includes ``python`` ('3.10.14'); True when unknown."""
    py = data.major_minor(python)
    m = re.fullmatch(r"\s*(\d+\.\d+)\s*-\s*(\d+\.\d+)\s*", span or "")
    if py is None or m is None:
        return True
    low, high = data.major_minor(m.group(1)), data.major_minor(m.group(2))
    return low is None or high is None or low <= py <= high


def arch_covers(arch_list: Iterable[str], cc: str) -> tuple[str | None, str | None]:
    """How a torch arch list covers a GPU: ('sass', 'sm_86') | ('ptx', 'compute_80') | (None, None).

    SASS (sm_XY) runs on GPUs of the same major and equal or higher minor; arch-specific targets
    (sm_90a, sm_100f) only on their exact family; PTX (compute_XY) JIT-compiles for any newer GPU.
    Source: NVIDIA CUDA Blackwell compatibility guide,
    https://docs.nvidia.com/cuda/blackwell-compatibility-guide/
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
    return installed_in(snap.packages, name)


def installed_in(packages: Packages | None, name: str) -> str | None:
    """The installed version of ``name``, or None when it is not installed or the packages are unknown."""
    if packages is None:
        return None
    return packages.version(name)


def is_cpu_torch(version: str | None, cuda: str | None, hip: str | None) -> bool:
    if hip:
        return False
    if version and version.endswith("+cpu"):
        return True
    return cuda is None


def same_name(a: str, b: str) -> bool:
    return normalize_name(a) == normalize_name(b)


INTERNAL_REFERENCE = re.compile(r"reference_facts|failure[_ ]catalog|shared/(?:cases|reference|design)", re.IGNORECASE)


def public_source(source: str) -> str:
    """A data row's source without the parts that cite files outside the package (kept to the public ones).

    Sources are ';'-separated; a part naming an internal note ("reference_facts.md 3a", "failure_catalog.md
    B3", "shared/cases/case_11.txt") is dropped, so evidence shown to users cites public sources only.
    """
    parts = [p.strip() for p in source.split(";")]
    return "; ".join(p for p in parts if p and not INTERNAL_REFERENCE.search(p))


def decode_cudnn(version: int) -> tuple[int, int, int]:
    """torch.backends.cudnn.version(): 9.x = M*10000+m*100+p (90100), <= 8.x = M*1000+m*100+p (8902).

    Source: cudnn_version.h (CUDNN_VERSION), as torch.backends.cudnn.version() returns it.
    """
    if version >= 10000:
        return version // 10000, (version % 10000) // 100, version % 100
    return version // 1000, (version % 1000) // 100, version % 100


def cudnn_text(version: int | None) -> str | None:
    """The cuDNN version torch reports as text: 90501 -> '9.5.1', 8902 -> '8.9.2'; None (or 0) is None."""
    if not version:
        return None
    return ".".join(str(n) for n in decode_cudnn(int(version)))
