"""``llmdoctor fix pin``: a pinned environment file that reproduces, or repairs, this CUDA stack.

Pure text from a snapshot: ``reproduce(snap)`` / ``repair(snap)`` build a :class:`PinSet` (the
packages, the PyTorch index each comes from, and why), ``render(pinset, snap, fmt)`` writes it in one
of :data:`FORMATS`.  The same snapshot always gives the same bytes (sorted, no clock, no environment).

Facts used: data/torch_wheels.json (variants, arch lists, cuDNN, index URLs), data/torch_companions.json
(torchvision/torchaudio/triton/xformers per torch release), data/cuda_images.json (nvidia/cuda tags),
data/cuda_drivers.json through llmdoctor/facts/derived.py (which driver runs which CUDA).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from packaging.version import InvalidVersion, Version

from .. import data
from ..engine import Setting
from ..facts import derived as F
from ..results import Report
from ..snapshot import Distribution, Snapshot, normalize_name
from .registry import Artifact, CannotFix, fix
from ..frozen import frozen

FORMATS = ("requirements", "constraints", "conda", "uv", "dockerfile")
ONLY = ("all", "ml")

# What `pip freeze` leaves out by default: the installers themselves.
FREEZE_SKIP = frozenset({"pip", "setuptools", "wheel", "distribute"})

# The ML stack for --only ml: GPU frameworks, their CUDA libraries, and the libraries that pin them.
ML_NAMES = frozenset(normalize_name(n) for n in (
    "torch", "torchvision", "torchaudio", "torchao", "torchdata", "torchtext", "triton", "pytorch-triton",
    "xformers", "flash-attn", "flashinfer-python", "vllm", "sglang", "transformers", "accelerate", "peft",
    "trl", "deepspeed", "bitsandbytes", "safetensors", "tokenizers", "sentencepiece", "datasets",
    "huggingface-hub", "numpy", "apex", "mamba-ssm", "causal-conv1d", "megatron-core", "nvidia-ml-py",
    "onnxruntime-gpu", "tensorrt", "jax", "jaxlib", "einops", "liger-kernel", "auto-gptq", "autoawq",
    "optimum", "diffusers", "timm", "lightning", "pytorch-lightning", "cupy", "nccl"))
ML_PREFIXES = ("nvidia-", "cuda-", "cupy-", "jax-cuda", "tensorrt-")

# Packages that compile against the installed torch at install time: pip must not build them in an
# isolated environment (which has no torch), so they are installed after torch.
BUILD_AGAINST_TORCH = frozenset({"flash-attn"})

# Packages whose releases pin one exact torch (the repair unpins them when torch changes).
PINS_TORCH = frozenset({"vllm", "xformers", "sglang"})

# CUDA libraries torch itself requires with exact versions (nvidia-cudnn-cu12==9.1.0.70, ...).
NVIDIA_CUDA_LIB = re.compile(r"nvidia-.+-cu\d+")
LOCAL_VARIANT = re.compile(r"(cu\d+|cpu|rocm[\d.]+)")
NAME_OK = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
# Characters a version may use here (PEP 440 plus legacy forms); anything else (quotes, spaces) would
# break the shell quoting of the Dockerfile or the requirement syntax, so such a version is skipped.
VERSION_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+!_-]*")


class CannotRepair(CannotFix):
    """No official torch build both runs on this driver and covers these GPUs; the message says why."""

    what = "repair"


@frozen
class Pin:
    name: str
    version: str | None  # None: left for pip to resolve
    index: str | None = None  # PyTorch index variant ('cu121', 'cpu') the package must come from
    why: str | None = None  # comment line written above the pin
    after_torch: bool = False  # install in a second step (builds against torch)

    def requirement(self) -> str:
        if self.version is None:
            return self.name
        try:
            Version(self.version)
        except InvalidVersion:
            return f"{self.name}==={self.version}"  # PEP 440 arbitrary equality for non-standard versions
        return f"{self.name}=={self.version}"


@frozen
class PinSet:
    mode: str  # reproduce | repair
    pins: tuple[Pin, ...]
    notes: tuple[str, ...] = ()  # general explanations (comment lines)
    torch_version: str | None = None
    torch_cuda: str | None = None
    torch_variant: str | None = None
    cudnn: str | None = None  # '9.1.0'
    single_fixes: tuple[str, ...] = ()  # one-line commands for common single fixes
    skipped: tuple[str, ...] = field(default_factory=tuple)
    only: str = "all"

    @property
    def indexes(self) -> list[str]:
        return sorted({p.index for p in self.pins if p.index})


# --------------------------------------------------------------------------- helpers


def is_ml(name: str) -> bool:
    key = normalize_name(name)
    return key in ML_NAMES or key.startswith(ML_PREFIXES)


def local_variant(version: str | None) -> str | None:
    """'2.4.0+cu121' -> 'cu121' when the local tag names a PyTorch index; else None."""
    tag = data.local_tag(version)
    return tag if tag and LOCAL_VARIANT.fullmatch(tag) else None


def companions(release: str) -> dict[str, Any] | None:
    for row in data.load("torch_companions")["releases"]:
        if row["torch"] == release:
            return dict(row)
    return None


def found_torch(snap: Snapshot) -> str | None:
    """The installed torch version: as torch reported it, else from the package list."""
    if snap.torch is not None and snap.torch.installed and snap.torch.version:
        return snap.torch.version
    return snap.packages.version("torch") if snap.packages else None


def _imported_first(snap: Snapshot) -> list[Distribution]:
    """The distributions, with the torch that imports (its location holds torch.__file__) first of its name."""
    dists = list(snap.packages.distributions if snap.packages else ())
    torch_file = snap.torch.file if snap.torch is not None else None
    if not torch_file:
        return dists
    site = os.path.dirname(os.path.dirname(torch_file))

    def rank(dist: Distribution) -> int:
        return 0 if normalize_name(dist.name) != "torch" or dist.location == site else 1

    return sorted(dists, key=rank)  # stable: only a torch that does not import moves back


def not_portable(dist: Distribution) -> str | None:
    """Why NAME==VERSION would install something else (an editable or direct-URL install), or None."""
    if dist.direct_url is None:
        return None
    url = dist.direct_url
    where = url[len("file://"):] if url.startswith("file://") else url
    how = f"pip install -e {where}" if dist.editable else (f"pip install {where}" if where != url else
                                                           f"pip install '{dist.name} @ {url}'")
    return (f"{dist.name} {dist.version} is {'an editable' if dist.editable else 'a direct-URL'} install from "
            f"{url}: not pinned by version (an index may hold another project or build under that name); "
            f"install it with: {one_line(how)}")


def _distributions(snap: Snapshot, only: str) -> tuple[list[Distribution], list[str]]:
    """Installed distributions to pin (deduplicated, sorted) and comment lines for what was left out."""
    seen: dict[str, Distribution] = {}
    skipped: list[str] = []
    for dist in _imported_first(snap):
        key = normalize_name(dist.name)
        if key in FREEZE_SKIP:
            continue
        if not NAME_OK.fullmatch(dist.name or "") or not VERSION_OK.fullmatch(dist.version or ""):
            skipped.append(f"skipped {dist.name!r}: not a valid distribution name or version")
            continue
        if only == "ml" and not is_ml(dist.name):
            continue
        if key in seen:
            which = "the one that imports" if key == "torch" and snap.torch and snap.torch.file else "the first one found"
            skipped.append(f"{dist.name} is installed twice; pinned {which} ({seen[key].version})")
            continue
        reason = not_portable(dist)
        if reason is not None:
            skipped.append(reason)
            seen[key] = dist
            continue
        seen[key] = dist
    return [seen[k] for k in sorted(seen) if not_portable(seen[k]) is None], skipped


def _torch_facts(snap: Snapshot) -> tuple[str | None, str | None, str | None]:
    t = snap.torch
    if t is None or not t.installed:
        return None, None, None
    variant = local_variant(t.version)
    if variant is None and t.cuda:
        variant = data.variant_for_cuda(t.cuda)
    return t.version, t.cuda, variant


# --------------------------------------------------------------------------- reproduce


def reproduce(snap: Snapshot, only: str = "all", failing: list[str] | None = None) -> PinSet:
    """Exact versions of every installed distribution; the PyTorch index of any +cuXYZ/+cpu build."""
    dists, skipped = _distributions(snap, only)
    pins = []
    for dist in dists:
        variant = local_variant(dist.version)
        if normalize_name(dist.name) == "torch" and variant is None:
            pins.append(_untagged_torch(snap, dist.version))
            continue
        pins.append(Pin(dist.name, dist.version, index=variant,
                        after_torch=normalize_name(dist.name) in BUILD_AGAINST_TORCH))
    version, cuda, variant = _torch_facts(snap)
    notes = []
    if not pins:
        notes.append("no installed distributions are known (the packages probe found none, or the snapshot "
                     "has no package list)")
    for v in sorted({p.index for p in pins if p.index}):
        names = ", ".join(f"{p.name} {p.version}" for p in pins if p.index == v)
        notes.append(f"{names}: +{v} builds live on the PyTorch {v} index ({data.index_url(v)}); the local "
                     f"version tag is kept so pip cannot substitute another build")
    if failing:
        notes.append(f"this environment fails {', '.join(failing)} on this machine; `llmdoctor fix pin --repair` "
                     f"chooses versions that pass")
    return PinSet("reproduce", tuple(pins), tuple(notes), version, cuda, variant,
                  F.cudnn_text(snap.torch.cudnn) if snap.torch else None, single_fixes(snap), tuple(skipped), only)


def _untagged_torch(snap: Snapshot, version: str) -> Pin:
    """torch without a local tag (PyPI's default build, or conda's): pin the build torch reported."""
    t = snap.torch
    if t is None or not t.installed or t.hip or data.version(t.version) != data.version(version):
        return Pin("torch", version)
    variant = "cpu" if F.is_cpu_torch(t.version, t.cuda, t.hip) else data.variant_for_cuda(t.cuda)
    release = data.torch_release(version) or {}
    if variant is None or (variant != "cpu" and variant not in release.get("variants", {})):
        return Pin("torch", version)
    if release.get("default_variant") == variant:
        return Pin("torch", version, why=f"torch {version} from PyPI is the {variant} build "
                                          f"({release.get('default_source')})")
    parsed = data.version(version)
    if parsed is None:
        return Pin("torch", version)
    return Pin("torch", f"{parsed.base_version}+{variant}", index=variant,
               why=f"torch {version} has no local version tag but is a "
                   f"{'CPU' if variant == 'cpu' else 'CUDA ' + str(t.cuda)} build: pinned to the same build on the "
                   f"{variant} index, since PyPI's default build may be another")


# --------------------------------------------------------------------------- repair


def _gpu_ccs(snap: Snapshot) -> list[str]:
    return sorted({cc for cc in (F.gpu_cc(g)[0] for g in snap.gpus or ()) if cc},
                  key=lambda c: data.major_minor(c) or (0, 0))


def choose_torch(snap: Snapshot) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """(release 'X.Y', variant, variant row, companion row) of the newest suitable official torch."""
    if snap.gpus == ():
        raise CannotRepair("this host has no NVIDIA GPU, so there is no CUDA stack to repair "
                           "(`llmdoctor fix pin` without --repair reproduces the environment)")
    if snap.driver is None or (snap.driver.version is None and snap.driver.cuda_version is None):
        raise CannotRepair("the NVIDIA driver version is unknown, so no CUDA build can be chosen "
                           "(run on the GPU host, or give a snapshot with the driver)")
    ccs = _gpu_ccs(snap)
    if snap.gpus and len(ccs) < len({g.name for g in snap.gpus}):
        raise CannotRepair("the compute capability of a GPU is unknown, so no arch list can be checked")
    python = snap.python.version if snap.python else None
    known = [row["torch"] for row in data.load("torch_companions")["releases"]]
    best = F.best_torch_variant(snap, arch_cc=ccs, python=python, releases=known)
    if best is None:
        max_cuda, _ = F.driver_max_cuda(snap)
        gpus = ", ".join(F.sm(c) for c in ccs) or "these GPUs"
        raise CannotRepair(f"no official torch build runs on driver {snap.driver.version or '?'} (CUDA <= "
                           f"{max_cuda or '?'}) and has kernels for {gpus}: upgrade the NVIDIA driver first "
                           f"(see `llmdoctor explain cuda.driver`)")
    release, variant = best
    rel_row, comp = data.torch_release(release), companions(release)
    if rel_row is None or comp is None:
        raise CannotRepair(f"torch {release} is not in llmdoctor's release tables (data/torch_wheels.json, "
                           f"data/torch_companions.json)")
    return release, variant, dict(rel_row["variants"][variant]), comp


def repair(snap: Snapshot, only: str = "all", failing: list[str] | None = None) -> PinSet:
    """The installed set with torch (and what is tied to it) moved to the newest build that works here."""
    release, variant, vrow, comp = choose_torch(snap)
    torch_new = f"{comp['patch']}+{variant}"
    ccs = _gpu_ccs(snap)
    max_cuda, how = F.driver_max_cuda(snap)
    driver = snap.driver.version if snap.driver else None
    platform = F.driver_platform(snap)
    need = F.driver_need(vrow["cuda"], platform)
    old = found_torch(snap)
    gpus = ", ".join(F.sm(c) for c in ccs) or "no GPUs listed"
    mx, mm = data.major_minor(max_cuda), data.major_minor(vrow["cuda"])
    if mx is not None and mm is not None and mx >= mm:
        runs = f"driver {driver or '?'} supports CUDA {max_cuda}"
    else:
        runs = (f"driver {driver or '?'}, CUDA <= {max_cuda or '?'}, runs it through minor-version compatibility, "
                f"which needs >= {need.floor}")
    reason = (f"the newest torch with verified companion versions whose CUDA {vrow['cuda']} build runs here "
              f"({runs}) and whose kernels cover {gpus}")
    if old is not None and data.version(old) == data.version(torch_new):
        why_torch = f"torch {old} kept: it is already {reason}"
    else:
        why_torch = f"torch {old or '(not installed)'} -> {torch_new}: {reason}"
    notes = [f"chosen: torch {torch_new} from {data.index_url(variant)} ({vrow['status']} variant of torch "
             f"{release}; cuDNN {vrow.get('cudnn') or 'unknown'})"]
    python = snap.python.version if snap.python else None
    unlimited = F.best_torch_variant(snap, arch_cc=ccs, python=python)
    if unlimited is not None and unlimited[0] != release:
        notes.append(f"torch {unlimited[0]} ({unlimited[1]}) would also run here, but its exact torchvision/triton "
                     f"versions are not verified in data/torch_companions.json, so the repair stays at {release}")
    if python:
        notes.append(f"torch {release} has wheels for Python {(data.torch_release(release) or {}).get('python')}, "
                     f"which includes this Python {python}")
    if failing is not None:
        if failing:
            notes.append(f"failing before the repair: {', '.join(failing)}")
        else:
            notes.append("no CUDA-stack check fails on this snapshot: this is an upgrade, not a repair "
                         "(`llmdoctor fix pin` without --repair reproduces what works now)")

    dists, skipped = _distributions(snap, only)
    names = {normalize_name(d.name) for d in dists}
    changed_torch = old is None or data.version(old) != data.version(torch_new)
    pins: list[Pin] = []
    if "torch" not in names:
        pins.append(Pin("torch", torch_new, index=variant, why=why_torch))
    target = _Target(torch_new, variant, comp, why_torch, changed_torch)
    for dist in dists:
        pin = _repaired_pin(dist, target, skipped)
        if pin is not None:
            pins.append(pin)
    pins.sort(key=lambda p: normalize_name(p.name))
    return PinSet("repair", tuple(pins), tuple(notes), torch_new, vrow["cuda"], variant,
                  vrow.get("cudnn"), single_fixes(snap), tuple(skipped), only)


@frozen
class _Target:
    """What the repair moves to: torch's new version and index variant, its companions' row, and why."""

    torch: str
    variant: str
    comp: dict[str, Any]
    why_torch: str
    changed_torch: bool


def _repaired_pin(dist: Distribution, t: _Target, skipped: list[str]) -> Pin | None:
    """The pin of one installed distribution after the repair (None: dropped, with the reason in ``skipped``)."""
    key = normalize_name(dist.name)
    if key == "torch":
        return Pin(dist.name, t.torch, index=t.variant, why=t.why_torch)
    if key in ("torchvision", "torchaudio"):
        return _companion_pin(dist, key, t)
    if key in ("triton", "pytorch-triton"):
        return _triton_pin(dist, key, t)
    if NVIDIA_CUDA_LIB.fullmatch(key):
        skipped.append(f"{dist.name} {dist.version}: dropped; torch {t.torch} requires the exact CUDA "
                       f"libraries it was built with and pip installs them")
        return None
    if key == "xformers":
        return _xformers_pin(dist, t)
    if key in PINS_TORCH and t.changed_torch:
        return Pin(dist.name, None, why=f"{dist.name} {dist.version} -> unpinned: its releases require one "
                                        f"exact torch; pip picks a release that accepts torch {t.comp['patch']} "
                                        f"(check its changelog)")
    if key in BUILD_AGAINST_TORCH:
        return Pin(dist.name, dist.version, after_torch=True,
                   why=f"{dist.name} {dist.version} kept: it builds against the installed torch, so it is "
                       f"installed after torch without build isolation")
    variant_of = local_variant(dist.version)
    if variant_of and variant_of != t.variant:
        return Pin(dist.name, dist.version.split("+", 1)[0], index=t.variant,
                   why=f"{dist.name} {dist.version}: the {variant_of} build is replaced by the "
                       f"{t.variant} build of the same version")
    return Pin(dist.name, dist.version, index=variant_of)


def _companion_pin(dist: Distribution, key: str, t: _Target) -> Pin:
    version = t.comp.get(key)
    if version:
        return Pin(dist.name, f"{version}+{t.variant}", index=t.variant,
                   why=f"{dist.name} {dist.version} -> {version}+{t.variant}: the release built for "
                       f"torch {t.comp['patch']} ({t.comp['source']})")
    return Pin(dist.name, None, index=t.variant,
               why=f"{dist.name} {dist.version} -> unpinned: the release built for torch "
                   f"{t.comp['patch']} is not verified in data/torch_companions.json; pip picks "
                   f"the one that accepts torch {t.torch}")


def _triton_pin(dist: Distribution, key: str, t: _Target) -> Pin:
    version = t.comp.get("triton")
    if version and key == "triton":
        return Pin(dist.name, version, why=f"triton {dist.version} -> {version}: the exact triton "
                                           f"torch {t.comp['patch']} requires ({t.comp['triton_source']})")
    return Pin(dist.name, None, why=f"{dist.name} {dist.version} -> unpinned: torch {t.comp['patch']} "
                                    f"requires one exact triton version and pip installs it")


def _xformers_pin(dist: Distribution, t: _Target) -> Pin:
    version = t.comp.get("xformers")
    if version:
        return Pin(dist.name, version, why=f"xformers {dist.version} -> {version}: the build for torch "
                                           f"{t.comp['patch']} ({t.comp.get('xformers_source')})")
    return Pin(dist.name, None, why=f"xformers {dist.version} -> unpinned: each xformers release "
                                    f"requires one exact torch; pip picks the one built for "
                                    f"torch {t.comp['patch']}")


# --------------------------------------------------------------------------- single fixes


def single_fixes(snap: Snapshot) -> tuple[str, ...]:
    """One-line commands for the common single fixes that apply to this snapshot."""
    out: list[str] = []
    t = snap.torch
    if t is None or not t.installed or t.import_error:
        return ()
    ccs = _gpu_ccs(snap)
    cpu = F.is_cpu_torch(t.version, t.cuda, t.hip)
    if cpu and snap.gpus:
        best = F.best_torch_variant(snap, same_release_as=t.version, arch_cc=ccs,
                                    python=snap.python.version if snap.python else None)
        if best:
            rel, variant = best
            v = data.version(t.version)
            pin = f"torch=={v.base_version}+{variant}" if v is not None and f"{v.major}.{v.minor}" == rel \
                else f"'torch=={rel}.*'"
            out.append(f"CPU-only torch on a GPU host -> the CUDA build for this driver: pip install "
                       f"--force-reinstall {pin} --index-url {data.index_url(variant)}")
    xf = snap.packages.get("xformers") if snap.packages else None
    if xf is not None and t.version and not cpu:
        wanted = _required_torch(xf.requires)
        tv = data.version(t.version)
        xf_variant = local_variant(t.version) or data.variant_for_cuda(t.cuda)
        if wanted is not None and tv is not None and wanted.base_version != tv.base_version and xf_variant:
            index = data.index_url(xf_variant)
            row = companions(f"{tv.major}.{tv.minor}")
            known = row.get("xformers") if row and row["patch"] == tv.base_version else None
            if known:
                cmd = f"pip install --force-reinstall --no-deps 'xformers=={known}' --index-url {index}"
            else:
                # with torch pinned to what is installed, pip's resolver picks the xformers built for it
                cmd = f"pip install 'torch=={t.version}' xformers --index-url {index}"
            out.append(f"xformers {xf.version} was built for torch {wanted} but torch is {t.version} -> the "
                       f"xformers build for this torch: {cmd}")
    tk = snap.toolkit
    if tk is not None and tk.nvcc_version and t.cuda and not cpu:
        if data.major_minor(tk.nvcc_version) != data.major_minor(t.cuda):
            match = [i.path for i in tk.installs if data.major_minor(i.version) == data.major_minor(t.cuda)]
            major = t.cuda.split(".")[0]
            if match:
                out.append(f"nvcc {tk.nvcc_version} does not match torch's CUDA {t.cuda} -> use the matching "
                           f"toolkit already installed: export CUDA_HOME={match[0]} PATH={match[0]}/bin:$PATH")
            out.append(f"nvcc {tk.nvcc_version} does not match torch's CUDA {t.cuda} -> pip install "
                       f"'nvidia-cuda-nvcc-cu{major}=={t.cuda}.*'  (conda: conda install -c nvidia cuda-nvcc={t.cuda})")
    return tuple(out)


def _required_torch(requires: tuple[str, ...]) -> Version | None:
    from packaging.requirements import InvalidRequirement, Requirement

    for text in requires:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if normalize_name(req.name) != "torch":
            continue
        for spec in req.specifier:
            if spec.operator in ("==", "==="):
                try:
                    return Version(spec.version)
                except InvalidVersion:
                    return None
    return None


# --------------------------------------------------------------------------- rendering


def header(snap: Snapshot, pins: PinSet, fmt: str) -> list[str]:
    what = "repair this environment" if pins.mode == "repair" else "reproduce this environment"
    flags = (" --repair" if pins.mode == "repair" else "") + (f" --only {pins.only}" if pins.only != "all" else "")
    lines = [f"Generated by `llmdoctor fix pin{flags} --format {fmt}`: {what}."]
    if snap.meta.created_at:
        lines.append(f"Taken from a snapshot of {snap.meta.created_at}.")
    d = snap.driver
    if d is not None and (d.version or d.cuda_version):
        max_cuda, how = F.driver_max_cuda(snap)
        lines.append(f"Driver: {d.version or 'unknown'} (supports CUDA <= {max_cuda or 'unknown'}; {F.driver_platform(snap)})")
    else:
        lines.append("Driver: unknown")
    if snap.gpus:
        groups: dict[tuple[str, str], int] = {}
        for g in snap.gpus:
            cc, _ = F.gpu_cc(g)
            key = (g.name or "unknown GPU", cc or "?")
            groups[key] = groups.get(key, 0) + 1
        lines.append("GPUs: " + "; ".join(f"{n} x {name} (compute capability {cc})"
                                          for (name, cc), n in sorted(groups.items())))
    else:
        lines.append("GPUs: none" if snap.gpus == () else "GPUs: unknown")
    t = snap.torch
    if t is not None and t.installed and t.import_error:
        lines.append(f"torch (as found): {found_torch(snap) or 'unknown version'}, fails to import")
    elif t is not None and t.installed:
        cudnn = F.cudnn_text(t.cudnn)
        lines.append(f"torch (as found): {t.version} (CUDA {t.cuda or 'none: CPU build'}"
                     + (f", cuDNN {cudnn}" if cudnn else "") + ")")
    if pins.mode == "repair":
        lines.append(f"torch (repaired): {pins.torch_version} (CUDA {pins.torch_cuda}"
                     + (f", cuDNN {pins.cudnn}" if pins.cudnn else "") + ")")
    if snap.python and snap.python.version:
        lines.append(f"Python: {snap.python.version}")
    return lines


CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]")


def one_line(text: str) -> str:
    """Text from the snapshot (GPU names, versions) can hold anything: a comment must stay one line."""
    return CONTROL.sub(" ", text)


def _comment(lines: list[str], prefix: str = "# ") -> list[str]:
    return [prefix + one_line(line) if line else prefix.rstrip() for line in lines]


def _explanations(pins: PinSet) -> list[str]:
    out = list(pins.notes)
    out += list(pins.skipped)
    if pins.single_fixes:
        out.append("Single fixes (one command each):")
        out += [f"  {cmd}" for cmd in pins.single_fixes]
    return out


def render(snap: Snapshot, pins: PinSet, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(fmt)
    return {"requirements": _requirements, "constraints": _constraints, "conda": _conda, "uv": _uv,
            "dockerfile": _dockerfile}[fmt](snap, pins, fmt)


def _pin_lines(pins: PinSet, include_after: bool = False) -> list[str]:
    out = []
    for pin in pins.pins:
        if pin.after_torch and not include_after:
            continue
        if pin.why:
            out.append(f"# {one_line(pin.why)}")
        out.append(pin.requirement())
    return out


def _after_lines(pins: PinSet) -> list[str]:
    after = [p for p in pins.pins if p.after_torch]
    if not after:
        return []
    reqs = " ".join(f"'{p.requirement()}'" for p in after)
    out = []
    for p in after:
        if p.why:
            out.append(p.why)
    out.append(f"{', '.join(p.name for p in after)} compile(s) against torch: after this file, run "
               f"pip install --no-build-isolation {reqs}")
    return out


def _index_lines(pins: PinSet) -> list[str]:
    return [f"--extra-index-url {data.index_url(v)}" for v in pins.indexes]


def _requirements(snap: Snapshot, pins: PinSet, fmt: str) -> str:
    lines = _comment(header(snap, pins, fmt) + ["Install: pip install -r requirements.txt", ""]
                     + _explanations(pins) + _after_lines(pins))
    lines += _index_lines(pins) + _pin_lines(pins)
    return "\n".join(lines) + "\n"


def _constraints(snap: Snapshot, pins: PinSet, fmt: str) -> str:
    lines = _comment(header(snap, pins, fmt) + [
        "Constraints only fix versions; they install nothing: pip install -c constraints.txt <packages>",
        ""] + _explanations(pins))
    lines += _index_lines(pins) + _pin_lines(pins, include_after=True)
    return "\n".join(lines) + "\n"


def _yaml_str(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    import json

    return json.dumps(text)


def _conda(snap: Snapshot, pins: PinSet, fmt: str) -> str:
    py = data.major_minor(snap.python.version if snap.python else None)
    name = (snap.python.conda_env if snap.python and snap.python.conda_env else "llmdoctor-pinned")
    name = re.sub(r"[^A-Za-z0-9._-]", "-", name.rsplit("/", 1)[-1]) or "llmdoctor-pinned"
    lines = _comment(header(snap, pins, fmt) + [
        "Create: conda env create -f environment.yml",
        "conda provides Python and pip; every package comes from pip (pip's names and versions differ "
        "from conda's).", ""] + _explanations(pins) + _after_lines(pins))
    lines += [f"name: {name}", "channels:", "  - conda-forge", "dependencies:"]
    lines.append(f"  - python={py[0]}.{py[1]}" if py else "  - python")
    lines += ["  - pip", "  - pip:"]
    for opt in _index_lines(pins):
        lines.append(f"      - {_yaml_str(opt)}")
    for line in _pin_lines(pins):
        lines.append(f"      # {line[2:]}" if line.startswith("# ") else f"      - {_yaml_str(line)}")
    return "\n".join(lines) + "\n"


def _toml_str(text: str) -> str:
    import json

    return json.dumps(text)  # JSON string escapes are valid TOML basic-string escapes


def _uv(snap: Snapshot, pins: PinSet, fmt: str) -> str:
    py = data.major_minor(snap.python.version if snap.python else None)
    lines = _comment(header(snap, pins, fmt) + [
        "Use: save as pyproject.toml in an empty folder, then: uv sync",
        "PyTorch indexes are `explicit`: only the packages routed to them in [tool.uv.sources] come from "
        "them (no dependency confusion with PyPI).", ""] + _explanations(pins))
    lines += ["[project]", 'name = "llmdoctor-pinned-env"', 'version = "0.0.0"']
    if py:
        lines.append(f'requires-python = "=={py[0]}.{py[1]}.*"')
    lines.append("dependencies = [")
    for pin in pins.pins:
        if pin.why:
            lines.append(f"    # {one_line(pin.why)}")
        lines.append(f"    {_toml_str(pin.requirement())},")
    lines.append("]")
    after = sorted(normalize_name(p.name) for p in pins.pins if p.after_torch)
    if after:
        lines += ["", "[tool.uv]", "# these build against torch: no isolated build environment; install torch first:",
                  "# uv sync --no-install-package " + " --no-install-package ".join(after) + " && uv sync",
                  "no-build-isolation-package = [" + ", ".join(_toml_str(a) for a in after) + "]"]
    routed = [p for p in pins.pins if p.index]
    if routed:
        lines += ["", "[tool.uv.sources]"]
        for pin in routed:
            lines.append(f'{normalize_name(pin.name)} = {{ index = "pytorch-{pin.index}" }}')
        for v in pins.indexes:
            lines += ["", "[[tool.uv.index]]", f'name = "pytorch-{v}"', f'url = "{data.index_url(v)}"',
                      "explicit = true"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- dockerfile


def _mm(version: str | None) -> tuple[int, int]:
    return data.major_minor(version) or (0, 0)


def choose_image(cuda: str | None, cudnn: str | None, python: str | None,
                 driver_max: str | None = None) -> tuple[dict[str, Any] | None, list[str]]:
    """The nvidia/cuda runtime tag for torch's CUDA (and cuDNN major), and why (comment lines).

    nvidia/cuda images declare NVIDIA_REQUIRE_CUDA=cuda>=X.Y, and the NVIDIA container runtime refuses
    to start one on a driver older than that; torch's wheel brings its own CUDA runtime (run through
    minor-version compatibility).  So the image's CUDA is torch's when the driver supports it, else the
    newest image of the same major that the driver supports.
    """
    table = data.load("cuda_images")
    images = table["images"]
    py = data.major_minor(python)
    ubuntu_py = {k: v for k, v in table["ubuntu_python"].items() if k != "source"}
    if cuda is None:
        return None, ["torch is a CPU build: no CUDA base image is needed"]
    found_mm, dmax = data.major_minor(cuda), data.major_minor(driver_max)
    if found_mm is None:
        return None, [f"torch's CUDA {cuda!r} is not a version: no CUDA base image chosen"]
    mm = found_mm
    same_major = [r for r in images if _mm(r["cuda"])[0] == mm[0]]
    if not same_major:
        return None, [f"no nvidia/cuda tag for CUDA {mm[0]}.x is in data/cuda_images.json"]
    ceiling = min(mm, dmax) if dmax is not None and dmax[0] == mm[0] else mm
    fitting = [r for r in same_major if _mm(r["cuda"]) <= ceiling]
    why: list[str] = []
    if fitting:
        top = max(_mm(r["cuda"]) for r in fitting)
        same = [r for r in fitting if _mm(r["cuda"]) == top]
        if top == mm:
            why.append(f"image CUDA {same[0]['cuda']} matches torch's CUDA {cuda}")
        elif dmax is not None and dmax < mm:
            why.append(f"the driver supports CUDA <= {driver_max} and an image with a newer CUDA would not start "
                       f"(NVIDIA_REQUIRE_CUDA), so the image is CUDA {same[0]['cuda']}; torch's wheel brings its own "
                       f"CUDA {cuda} runtime, which this driver runs through minor-version compatibility")
        else:
            why.append(f"no verified nvidia/cuda tag for CUDA {cuda}; CUDA {same[0]['cuda']} is the closest older "
                       f"one of the same major (torch's wheel brings its own CUDA {cuda} runtime)")
    else:
        top = min(_mm(r["cuda"]) for r in same_major)
        same = [r for r in same_major if _mm(r["cuda"]) == top]
        why.append(f"no verified nvidia/cuda tag for CUDA {cuda} or older of the same major; CUDA {same[0]['cuda']} "
                   f"is the closest")
    if dmax is not None and top > dmax:
        why.append(f"warning: image CUDA {same[0]['cuda']} is newer than the driver's CUDA {driver_max}: the NVIDIA "
                   f"container runtime refuses to start it (NVIDIA_REQUIRE_CUDA) until the driver is upgraded")
    want_cudnn = cudnn.split(".")[0] if cudnn else None
    with_cudnn = [r for r in same if want_cudnn and r["cudnn"] == want_cudnn]
    if with_cudnn:
        pool = with_cudnn
        why.append(f"its cuDNN {want_cudnn} is the major of torch's cuDNN {cudnn}")
    else:
        pool = [r for r in same if r["cudnn"] is None] or same
        why.append(f"no such image ships cuDNN {want_cudnn or '?'}: the plain runtime image; torch's wheel installs "
                   f"cuDNN {cudnn or ''} itself (nvidia-cudnn pip package)")

    def score(r: dict[str, Any]) -> tuple[bool, bool, str]:
        match_py = py is not None and data.major_minor(ubuntu_py.get(r["ubuntu"])) == py
        return (not match_py, r["ubuntu"] != "22.04", r["tag"])

    best = sorted(pool, key=score)[0]
    if py is not None and data.major_minor(ubuntu_py.get(best["ubuntu"])) == py:
        why.append(f"Ubuntu {best['ubuntu']} ships Python {ubuntu_py[best['ubuntu']]}, the Python found")
    why.append(f"tag source: {best['source']}")
    return best, why


def _dockerfile(snap: Snapshot, pins: PinSet, fmt: str) -> str:
    pyver = snap.python.version if snap.python else None
    py = data.major_minor(pyver)
    max_cuda, _ = F.driver_max_cuda(snap)
    image, why = choose_image(pins.torch_cuda, pins.cudnn, pyver, max_cuda)
    table = data.load("cuda_images")
    lines = _comment(header(snap, pins, fmt) + [
        "Build: docker build -t pinned-env .   Run: docker run --gpus all pinned-env", ""]
        + why + _explanations(pins))
    if image is None:
        base, ubuntu = "ubuntu:22.04", "22.04"
    else:
        base, ubuntu = f"nvidia/cuda:{image['tag']}", image["ubuntu"]
    default_py = table["ubuntu_python"].get(ubuntu)
    lines.append(f"FROM {base}")
    lines.append("ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1")
    if py is None or f"{py[0]}.{py[1]}" == default_py:
        pybin = "python3"
        lines.append("# the distribution's python3 packages (versions follow the base image)")
        lines.append("# hadolint ignore=DL3008")
        lines.append("RUN apt-get update \\\n    && apt-get install -y --no-install-recommends python3 python3-venv "
                     "python3-dev \\\n    && rm -rf /var/lib/apt/lists/*")
    else:
        pybin = f"python{py[0]}.{py[1]}"
        lines.append(f"# Ubuntu {ubuntu} ships Python {default_py}; Python {py[0]}.{py[1]} comes from the deadsnakes PPA")
        lines.append("# hadolint ignore=DL3008")
        lines.append("RUN apt-get update \\\n    && apt-get install -y --no-install-recommends software-properties-common "
                     "gpg-agent \\\n    && add-apt-repository -y ppa:deadsnakes/ppa \\\n    && apt-get update \\\n"
                     f"    && apt-get install -y --no-install-recommends {pybin} {pybin}-venv {pybin}-dev \\\n"
                     "    && rm -rf /var/lib/apt/lists/*")
    lines.append(f"RUN {pybin} -m venv /opt/venv")
    lines.append('ENV PATH="/opt/venv/bin:$PATH"')
    main = [p for p in pins.pins if not p.after_torch]
    after = [p for p in pins.pins if p.after_torch]
    steps = []
    if main:
        args = [f"--extra-index-url {data.index_url(v)}" for v in pins.indexes]
        args += [f"'{p.requirement()}'" for p in main]
        steps.append("pip install \\\n" + " \\\n".join(f"        {a}" for a in args))
    if after:
        lines.append(f"# {', '.join(p.name for p in after)}: built against the torch installed first, "
                     f"without build isolation")
        steps.append("pip install --no-build-isolation " + " ".join(f"'{p.requirement()}'" for p in after))
    if steps:
        if any(p.version is None for p in pins.pins):
            lines.append("# unpinned packages are deliberate: pip picks the release that matches the pinned torch")
            lines.append("# hadolint ignore=DL3013")
        lines.append("RUN " + " \\\n    && ".join(steps))
    return "\n".join(lines) + "\n"


REPAIRED_CHECKS = ("cuda.driver", "cuda.arch", "torch.build")


def failing_checks(report: Report | None) -> list[str]:
    """The CUDA-stack checks the repair is for that failed (or raised) in ``report``; read, never re-run."""
    if report is None:
        return []
    return [c.id for c in report.checks if c.id in REPAIRED_CHECKS and c.status.value in ("fail", "error")]


def generate(snap: Snapshot, fmt: str = "requirements", only: str = "all", repair_mode: bool = False,
             report: Report | None = None) -> str:
    """The whole artifact as text; ``report`` (the checks' verdicts on ``snap``) names what fails."""
    failing = failing_checks(report)
    pins = repair(snap, only, failing) if repair_mode else reproduce(snap, only, failing)
    return render(snap, pins, fmt)


@fix("pin", "A pinned environment file that reproduces this environment, or (--repair) repairs its CUDA stack",
     options={"format": Setting(str, "requirements", "requirements | constraints | conda | uv | dockerfile",
                                choices=FORMATS),
              "only": Setting(str, "all", "all: every installed distribution; ml: only the ML stack", choices=ONLY),
              "repair": Setting(bool, False, "Choose versions that make the CUDA-stack checks pass on this machine "
                                             "instead of reproducing what is installed.")})
def pin_environment(snapshot: Snapshot, report: Report, format: str, only: str, repair: bool) -> Artifact:
    """A pinned environment file: exact versions of what is installed, each PyTorch build from its index.

    ``--repair`` chooses the torch (and its companions) that run on this driver and cover these GPUs, for the
    checks cuda.driver, cuda.arch and torch.build that failed in the report.  Editable and direct-URL installs
    are written in their path/URL form (or as a comment), never as NAME==VERSION, which pip would fetch from
    PyPI.  The same snapshot always gives the same bytes.
    """
    text = generate(snapshot, format, only, repair, report)
    names = {"requirements": "requirements.txt", "constraints": "constraints.txt", "conda": "environment.yml",
             "uv": "pyproject.toml", "dockerfile": "Dockerfile"}
    return Artifact(text, suggested_name=names.get(format), description="pinned environment")
