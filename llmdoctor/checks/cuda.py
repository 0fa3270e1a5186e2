"""CUDA stack: driver vs torch's CUDA runtime, arch coverage of the GPUs, nvcc vs torch."""

from __future__ import annotations

from .. import data
from ..engine import Context, check
from ..results import Finding, fail, passed, skip, warn
from ..snapshot import Snapshot
from ..facts import derived as F
from ..facts.known_error_findings import reports_known_errors


def _torch_cuda_or_skip(snap: Snapshot) -> Finding | None:
    t = snap.torch
    assert t is not None
    if not t.installed:
        return skip("torch is not installed in this interpreter: nothing here needs a CUDA runtime "
                    "(use --python PATH to inspect another environment)")
    if t.import_error:
        return skip("torch fails to import (see torch.build), so its CUDA version is unknown")
    if t.hip:
        return skip(f"torch is a ROCm build (HIP {t.hip}); llmdoctor checks NVIDIA CUDA stacks")
    if F.is_cpu_torch(t.version, t.cuda, t.hip):
        return skip(f"torch {t.version or ''} is a CPU-only build: no CUDA runtime to match (see torch.build)")
    return None


def _pip_torch(torch_release: str, variant: str, current: str | None) -> str:
    v = data.version(current)
    same = v is not None and f"{v.major}.{v.minor}" == torch_release
    pin = f"torch=={v.base_version}" if same else f"'torch=={torch_release}.*'"
    return f"pip install --force-reinstall {pin} --index-url {data.index_url(variant)}"


@check("cuda.driver", "NVIDIA driver supports torch's CUDA runtime", needs=("torch",))
@reports_known_errors
def check_driver_supports_runtime(snap: Snapshot, ctx: Context):
    """Does the NVIDIA driver support the CUDA runtime torch was built with?

    torch wheels bundle their CUDA runtime (`torch.version.cuda`, the `+cuXYZ` in the version) but use
    the system's driver (libcuda).  A driver older than that runtime makes CUDA initialisation fail:
    "The NVIDIA driver on your system is too old (found version 11040)", `torch.cuda.is_available()`
    returns False, or "CUDA driver version is insufficient for CUDA runtime version" (error 35).

    Rules (NVIDIA's tables, data/cuda_drivers.json):
    - a driver at least the toolkit's own driver (e.g. CUDA 12.1 -> 530.30.02) is fine;
    - from CUDA 11 on, minor-version compatibility lets any driver of the same CUDA major family run
      the runtime: 11.1-11.8 need >= 450.80.02, 12.x >= 525.60.13, 13.x >= R580 (580.65.06).  A driver
      reporting CUDA 11.2 with torch cu113 is therefore fine (PTX JIT of newer PTX may not be);
    - before CUDA 11 there is no minor-version compatibility: CUDA 10.2 needs >= 440.33.
    A driver whose CUDA major is older than torch's always fails.

    Fix: upgrade the driver, or install the torch build for an older CUDA that this driver supports,
    e.g. `pip install torch==2.4.0 --index-url https://download.pytorch.org/whl/cu118`.

    Sources: NVIDIA CUDA Toolkit release notes, Table 3 (toolkit -> driver);
    https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html;
    pytorch/pytorch#77528 (minor-version compatibility in practice); failure catalog A1, A3.
    """
    found = F.found_version_in_errors(snap)
    why_not = _torch_cuda_or_skip(snap)
    if why_not is not None and found is None:
        return why_not
    t = snap.torch
    runtime = t.cuda if t and t.cuda else None
    platform = F.driver_platform(snap)
    max_cuda, how = F.driver_max_cuda(snap)
    driver = snap.driver.version if snap.driver else None

    if found is not None and driver is None:
        # torch itself said so (live warning or pasted error): the driver is too old for its runtime
        max_cuda, how = found[0], "from torch's error ('found version')"
        evidence = {"driver_max_cuda": found[0], "error": found[1][:300]}
        if runtime:
            evidence["torch_cuda"] = runtime
        if driver:
            evidence["driver"] = driver
        best = F.best_torch_variant(snap, same_release_as=t.version if t else None)
        return fail(
            f"torch could not initialise CUDA: the driver supports CUDA ≤ {found[0]}"
            + (f", but torch {t.version} needs CUDA {runtime}" if runtime and t and t.version else ""),
            evidence,
            remedy=_driver_remedy(runtime, platform, best, t.version if t else None),
            fix="pin --repair",
        )

    if snap.driver is None or (driver is None and max_cuda is None):
        if snap.gpus == ():
            return skip("no NVIDIA driver or GPU on this host: nothing for torch's CUDA runtime to run on")
        return skip(snap.unknown_reason("driver"))
    assert runtime is not None
    ok = F.driver_supports(driver, max_cuda, runtime, platform)
    need = F.driver_need(runtime, platform)
    evidence = {"driver": driver, "driver_max_cuda": max_cuda, "driver_max_cuda_source": how,
                "torch": t.version, "torch_cuda": runtime, "platform": platform,
                "toolkit_driver": need.exact, "minor_compat_floor": need.floor}
    if ok is None:
        return skip(f"no driver table row for CUDA {runtime}; cannot judge driver {driver}", evidence)
    label = f"Driver {driver}" if driver else "The driver"
    if ok:
        mm, mx = data.major_minor(runtime), data.major_minor(max_cuda)
        dv = data.version(driver)
        if (mx is not None and mm is not None and mx < mm) or (
                dv is not None and need.exact and dv < data.version(need.exact)):
            return passed(
                f"{label} (CUDA {max_cuda or '?'}) runs torch's CUDA {runtime} runtime through minor-version "
                f"compatibility (driver ≥ {need.floor}); JIT of PTX newer than the driver can still fail",
                evidence)
        return passed(f"{label} supports CUDA {max_cuda or '≥ ' + runtime}, enough for torch's CUDA {runtime}", evidence)
    best = F.best_torch_variant(snap, same_release_as=t.version)
    if found is not None:
        evidence["error"] = found[1][:300]
    return fail(
        f"{label} supports CUDA ≤ {max_cuda or '?'}, but torch {t.version} needs CUDA {runtime}: "
        f"torch.cuda.is_available() will be False",
        evidence,
        remedy=_driver_remedy(runtime, platform, best, t.version),
        fix="pin --repair",
    )


def _driver_remedy(runtime: str | None, platform: str, best: tuple[str, str] | None, current: str | None) -> str:
    parts = []
    if runtime:
        need = F.driver_need(runtime, platform)
        if need.exact or need.floor:
            floor = f" (≥ {need.floor} is enough through minor-version compatibility)" if need.floor and need.floor != need.exact else ""
            parts.append(f"Upgrade the NVIDIA driver to ≥ {need.exact or need.floor}{floor}")
    if best is not None:
        rel, variant = best
        parts.append(f"install torch built for {variant}, which this driver supports: {_pip_torch(rel, variant, current)}")
    if not parts:
        return "Upgrade the NVIDIA driver, or install a torch build for an older CUDA."
    return ", or ".join(parts) + "."


@check("cuda.arch", "torch (and GPU packages) have kernels for these GPUs", needs=("gpus", "torch"))
@reports_known_errors
def check_arch_covered(snap: Snapshot, ctx: Context):
    """Does torch's compiled arch list cover every GPU's compute capability?

    A torch wheel contains machine code (SASS, `sm_XY`) for a list of architectures and sometimes PTX
    (`compute_XY`) that the driver can JIT-compile for newer GPUs.  SASS runs on GPUs of the same major
    version and an equal or higher minor (sm_86 code runs on an sm_89 RTX 4090); arch-specific targets
    (sm_90a) only on their own architecture.  A GPU covered by neither gets "CUDA error: no kernel image
    is available for execution on the device" and the warning "sm_120 is not compatible with the current
    PyTorch installation".  The first official wheels with Blackwell (sm_100, sm_120) are torch 2.7 for
    CUDA 12.8 (cu128); cu126 and older never have them.  CUDA 12.8+ builds dropped Maxwell and Pascal.

    The check also applies the minimum compute capability of installed GPU packages: vLLM and Triton
    (torch.compile) need 7.0, FlashAttention-2 needs 8.0 (Ampere), bitsandbytes 6.0
    (data/package_min_cc.json).

    Fix: install a torch build whose arch list covers the GPU (the remedy names the variant and its
    index URL), or use a GPU the packages support.

    Sources: CUDA Blackwell compatibility guide (binary compatibility rule); PyTorch 2.7 release blog;
    pytorch .ci/manywheel/build_cuda.sh and RELEASE.md (arch lists, data/torch_wheels.json);
    failure catalog B1-B4, C4.
    """
    if not snap.gpus:
        return skip("no NVIDIA GPU on this host")
    why_not = _torch_cuda_or_skip(snap)
    t = snap.torch
    findings: list[Finding] = []
    arch_list: list[str] | None = None
    source = ""
    if why_not is None:
        if t.arch_list:
            arch_list, source = list(t.arch_list), "torch.cuda.get_arch_list()"
        else:
            arch_list = data.torch_arch_list(t.version, t.cuda)
            source = "official wheel table (data/torch_wheels.json)" if arch_list else ""
        if arch_list is None:
            findings.extend(_below_toolkit_minimum(snap) or [
                skip(f"torch {t.version}'s arch list is unknown (not probed, not in the wheel table)")])
    for gpu in snap.gpus:
        cc, cc_source = F.gpu_cc(gpu)
        label = F.gpu_label(gpu)
        if cc is None:
            findings.append(skip(f"compute capability of {label} is unknown", subject=label))
            continue
        if arch_list is not None:
            findings.append(_torch_covers(snap, gpu, label, cc, cc_source, arch_list, source))
        findings.extend(_package_minimums(snap, label, cc))
    if why_not is not None and not any(f.status.value in ("fail", "warn") for f in findings):
        return [why_not] + [f for f in findings if f.status.value != "skip"]
    return findings


def _below_toolkit_minimum(snap: Snapshot) -> list[Finding]:
    """GPUs older than anything torch's CUDA can compile for: no kernels, whatever the arch list (CC 1.2 + CUDA 10)."""
    t = snap.torch
    row = data.cuda_min_cc(t.cuda)
    if row is None:
        return []
    out = []
    for gpu in snap.gpus or ():
        cc, cc_source = F.gpu_cc(gpu)
        if cc and data.major_minor(cc) < data.major_minor(row["min_cc"]):
            label = F.gpu_label(gpu)
            out.append(fail(f"{label} has compute capability {cc}, but CUDA {t.cuda} (torch {t.version}) cannot build "
                            f"kernels below {row['min_cc']}: torch has no kernels for this GPU",
                            {"compute_capability": cc, "compute_capability_source": cc_source, "torch": t.version,
                             "torch_cuda": t.cuda, "cuda_min_cc": row["min_cc"], "source": row["source"]},
                            remedy=_arch_remedy(snap, cc), subject=label))
    return out


def _torch_covers(snap, gpu, label, cc, cc_source, arch_list, source) -> Finding:
    t = snap.torch
    kind, entry = F.arch_covers(arch_list, cc)
    evidence = {"compute_capability": cc, "compute_capability_source": cc_source, "torch": t.version,
                "arch_list": arch_list, "arch_list_source": source}
    if kind == "sass":
        return passed(f"{label} ({F.sm(cc)}) runs torch's {entry} kernels", evidence, subject=label)
    if kind == "ptx":
        return warn(f"{label} ({F.sm(cc)}) has no native kernels in torch {t.version}; it relies on JIT "
                    f"compilation of {entry} PTX (slow first run, needs a driver that supports that PTX)",
                    evidence, remedy=_arch_remedy(snap, cc), subject=label)
    return fail(f"{label} is {F.sm(cc)}, which torch {t.version} was not built for (it has "
                f"{' '.join(arch_list) or 'no CUDA kernels'}): CUDA calls will fail with "
                f"'no kernel image is available for execution on the device'",
                evidence, remedy=_arch_remedy(snap, cc), fix="pin --repair", subject=label)


def _arch_remedy(snap: Snapshot, cc: str) -> str:
    covering = F.best_torch_variant(snap, arch_cc=[cc])
    if covering is not None:
        rel, variant = covering
        first = _first_release_covering(cc)
        since = f"torch ≥ {first[0]} built for {first[1]} or newer covers {F.sm(cc)}; " if first else ""
        return f"{since}install one this driver supports: {_pip_torch(rel, variant, None)}"
    first = _first_release_covering(cc)
    if first is not None:
        rel, variant = first
        return (f"torch ≥ {rel} built for {variant} covers {F.sm(cc)}, but this driver is too old for it: "
                f"upgrade the driver first (see cuda.driver), then: pip install --upgrade torch --index-url "
                f"{data.index_url(variant)}")
    oldest = min((e for _, _, r in data.torch_variants() for e in (r.get("arch") or [])),
                 key=lambda e: data.major_minor(e) or (99, 9))
    return (f"No official torch build supports compute capability {cc} (the oldest arch in any wheel is "
            f"{F.sm(oldest.split('+')[0])}): use a newer GPU, or build torch from source with "
            f"TORCH_CUDA_ARCH_LIST={cc} and a CUDA toolkit that still supports it.")


def _first_release_covering(cc: str) -> tuple[str, str] | None:
    best = None
    for release, name, row in data.torch_variants(newest_first=False):
        if row.get("arch") and F.arch_covers(data.arch_entries_to_list(row["arch"]), cc)[0] == "sass":
            best = (release["torch"], name)
            break
    return best


def _package_minimums(snap: Snapshot, label: str, cc: str) -> list[Finding]:
    out = []
    t = data.major_minor(cc)
    for row in data.package_min_cc():
        if row["package"] == "torch":
            continue
        version = F.installed(snap, row["package"])
        if version is None:
            continue
        if t < data.major_minor(row["min_cc"]):
            make = warn if row["package"] == "triton" else fail
            out.append(make(
                f"{label} has compute capability {cc}, below the {row['min_cc']} that {row['package']} "
                f"{version} needs: {row['note']}",
                {"package": row["package"], "version": version, "min_cc": row["min_cc"], "source": row["source"]},
                remedy=(f"Use a GPU with compute capability ≥ {row['min_cc']}, or uninstall {row['package']} "
                        f"and use a code path without it" + (" (torch.compile's default backend needs Triton; "
                                                               "run eagerly instead)" if row["package"] == "triton" else "")),
                subject=label))
    return out


# Packages that compile CUDA code with nvcc at install or run time (JIT op builders, source builds).
JIT_PACKAGES = ("deepspeed", "apex", "mamba-ssm", "causal-conv1d", "torch-scatter", "ninja")


@check("cuda.toolkit", "nvcc matches torch's CUDA (for building extensions)", needs=("torch", "toolkit"))
@reports_known_errors
def check_nvcc_matches_torch(snap: Snapshot, ctx: Context):
    """Does the CUDA toolkit (nvcc) match the CUDA version torch was built with?

    torch's runtime is bundled in the wheel, so nvcc does not matter for running models.  It matters
    when something compiles CUDA code against torch: DeepSpeed's JIT op builder, flash-attn or xformers
    built from source, custom kernels via torch.utils.cpp_extension.  torch then raises "The detected
    CUDA version (11.5) mismatches the version that was used to compile PyTorch (12.1)" on a major
    mismatch, and only warns on a minor one.  nvcc is found like cpp_extension does: CUDA_HOME,
    CUDA_PATH, PATH, /usr/local/cuda.

    Verdicts: different major -> fail when a JIT-compiling package is installed (deepspeed, apex, ninja,
    ...), warn otherwise; different minor -> warn; no nvcc -> pass unless a JIT-compiling package needs one.
    Note that collect_env's "CUDA runtime version" is this nvcc, not torch's runtime.

    Fix: install the toolkit matching torch's CUDA (conda install -c nvidia cuda-nvcc=12.1, or
    pip install nvidia-cuda-nvcc-cu12==12.1.*) and point CUDA_HOME at it, or use torch built for your nvcc.

    Sources: torch/utils/cpp_extension.py (CUDA_MISMATCH_MESSAGE, CUDA_MISMATCH_WARN);
    microsoft/DeepSpeed#924 and PR #1139 (minor mismatch accepted); failure catalog F1-F3.
    """
    why_not = _torch_cuda_or_skip(snap)
    if why_not is not None:
        return why_not
    t, tk = snap.torch, snap.toolkit
    jit = [p for p in JIT_PACKAGES if F.installed(snap, p)]
    evidence = {"torch_cuda": t.cuda, "nvcc": tk.nvcc_path, "nvcc_version": tk.nvcc_version,
                "found_via": tk.nvcc_source, "jit_packages": jit}
    remedy = (f"Install the CUDA {t.cuda} toolkit and point CUDA_HOME at it, e.g. "
              f"conda install -c nvidia cuda-nvcc={t.cuda} or pip install 'nvidia-cuda-nvcc-cu{t.cuda.split('.')[0]}=={t.cuda}.*'; "
              f"or use the torch build for your nvcc")
    if tk.nvcc_path is None:
        if jit:
            return warn(f"No nvcc found, but {', '.join(jit)} will compile CUDA code and needs the CUDA {t.cuda} toolkit",
                        evidence, remedy=remedy)
        return passed("No nvcc installed; torch brings its own CUDA runtime, and nothing here compiles CUDA code", evidence)
    if tk.nvcc_version is None:
        return warn(f"{tk.nvcc_path} did not report its version", evidence)
    nv, tc = data.major_minor(tk.nvcc_version), data.major_minor(t.cuda)
    findings = []
    if nv[0] != tc[0]:
        make = fail if jit else warn
        consequence = (f"{', '.join(jit)} will fail to build its CUDA code" if jit else
                       "building CUDA extensions against torch will fail")
        findings.append(make(f"nvcc is CUDA {tk.nvcc_version} but torch was built with CUDA {t.cuda}: {consequence} "
                             f"('The detected CUDA version mismatches the version that was used to compile PyTorch')",
                             evidence, remedy=remedy))
    elif nv != tc:
        findings.append(warn(f"nvcc is CUDA {tk.nvcc_version}, torch was built with CUDA {t.cuda}: extensions build "
                             f"with a minor-version mismatch warning (usually harmless)", evidence, remedy=remedy))
    else:
        findings.append(passed(f"nvcc {tk.nvcc_version} matches torch's CUDA {t.cuda}", evidence))
    max_cuda, _ = F.driver_max_cuda(snap)
    if max_cuda and data.major_minor(max_cuda) < nv:
        findings.append(warn(f"nvcc {tk.nvcc_version} is newer than the driver's CUDA {max_cuda}: code it compiles "
                             f"may fail to load ('unsupported toolchain' / 'no kernel image')",
                             {**evidence, "driver_max_cuda": max_cuda},
                             remedy=f"Upgrade the driver, or compile with a toolkit ≤ CUDA {max_cuda}"))
    return findings
