"""CUDA stack: driver vs torch's CUDA runtime, arch coverage of the GPUs, nvcc vs torch."""

from __future__ import annotations

from typing import Any

from .. import data
from ..engine import check
from ..facts.derived import (
    arch_covers,
    best_torch_for,
    driver_need,
    driver_supports,
    found_version,
    gpu_cc,
    gpu_label,
    installed_in,
    is_cpu_torch,
    max_cuda_of,
    platform_of,
    public_source,
    sm,
    why_unknown,
)
from ..results import (
    Finding,
    Remedy,
    Status,
    fail,
    not_applicable,
    passed,
    unknown,
    warn,
)
from ..snapshot import (
    Driver,
    Gpu,
    Host,
    Meta,
    Packages,
    ProbeResult,
    Python,
    Toolkit,
    Torch,
    normalize_name,
)
from ..facts.arch_limits import arch_limit_findings

PIN_REPAIR = "llmdoctor fix pin --repair"


def cuda_is_moot(torch: Torch) -> Finding | None:
    """Why torch's CUDA cannot be judged here (no torch, a CPU or ROCm build, an import failure), or None."""
    if not torch.installed:
        return not_applicable("torch is not installed in this interpreter: nothing here needs a CUDA runtime "
                              "(use --python PATH to inspect another environment)")
    if torch.import_error:
        return unknown("torch fails to import (see torch.build), so its CUDA version is unknown")
    if torch.hip:
        return not_applicable(f"torch is a ROCm build (HIP {torch.hip}); llmdoctor checks NVIDIA CUDA stacks")
    if is_cpu_torch(torch.version, torch.cuda, torch.hip):
        return not_applicable(f"torch {torch.version or ''} is a CPU-only build: no CUDA runtime to match "
                              f"(see torch.build)")
    return None


def python_version(python: Python | None) -> str | None:
    return python.version if python is not None else None


def pip_torch_command(torch_release: str, variant: str, current: str | None) -> str:
    """The pip line that installs ``torch_release`` (the installed patch when it is that release) for ``variant``."""
    v = data.version(current)
    same = v is not None and f"{v.major}.{v.minor}" == torch_release
    pin = f"torch=={v.base_version}" if same and v is not None else f"'torch=={torch_release}.*'"
    return f"pip install --force-reinstall {pin} --index-url {data.index_url(variant)}"


# --------------------------------------------------------------------------- cuda.driver


@check("cuda.driver", "NVIDIA driver supports torch's CUDA runtime", known_errors=True)
def check_driver_supports_runtime(torch: Torch, driver: Driver | None, gpus: tuple[Gpu, ...] | None,
                                  host: Host | None, python: Python | None, errors: tuple[str, ...],
                                  probes: tuple[ProbeResult, ...], meta: Meta) -> Finding:
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
    e.g. `pip install torch==2.4.0 --index-url https://download.pytorch.org/whl/cu118`
    (`llmdoctor fix pin --repair` writes the whole consistent set).

    Sources: NVIDIA CUDA Toolkit release notes, Table 3 (toolkit -> driver),
    https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/;
    https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html;
    pytorch/pytorch#77528 (minor-version compatibility in practice).
    """
    found = found_version(errors, torch)
    moot = cuda_is_moot(torch)
    if moot is not None and found is None:
        return moot
    if found is not None and (driver is None or driver.version is None):
        return torch_says_the_driver_is_too_old(torch, found, driver, host, python)
    max_cuda, how = max_cuda_of(driver, host)
    if driver is None or (driver.version is None and max_cuda is None):
        if gpus == ():
            return not_applicable("no NVIDIA driver or GPU on this host: nothing for torch's CUDA runtime to run on")
        return unknown(why_unknown("driver", probes, meta))
    if moot is not None or torch.cuda is None:
        return moot or unknown("torch's CUDA version is unknown")
    return driver_against_runtime(torch, torch.cuda, driver, max_cuda, how, host, python, found)


def torch_says_the_driver_is_too_old(torch: Torch, found: tuple[str, str], driver: Driver | None,
                                     host: Host | None, python: Python | None) -> Finding:
    """torch itself said so (a live warning or a pasted error): the driver is too old for its runtime."""
    runtime = torch.cuda
    evidence: dict[str, Any] = {"driver_max_cuda": found[0], "error": found[1][:300]}
    if runtime:
        evidence["torch_cuda"] = runtime
    best = best_torch_for(driver, host=host, python=python_version(python), same_release_as=torch.version)
    return fail(
        f"torch could not initialise CUDA: the driver supports CUDA ≤ {found[0]}"
        + (f", but torch {torch.version} needs CUDA {runtime}" if runtime and torch.version else ""),
        evidence, remedy=driver_remedy(runtime, platform_of(driver, host), best, torch.version))


def driver_against_runtime(torch: Torch, runtime: str, driver: Driver, max_cuda: str | None, how: str,
                           host: Host | None, python: Python | None, found: tuple[str, str] | None) -> Finding:
    platform = platform_of(driver, host)
    ok = driver_supports(driver.version, max_cuda, runtime, platform)
    need = driver_need(runtime, platform)
    evidence: dict[str, Any] = {
        "driver": driver.version, "driver_max_cuda": max_cuda, "driver_max_cuda_source": how,
        "torch": torch.version, "torch_cuda": runtime, "platform": platform,
        "toolkit_driver": need.exact, "minor_compat_floor": need.floor}
    if ok is None:
        return unknown(f"no driver table row for CUDA {runtime}; cannot judge driver {driver.version}", evidence)
    label = f"Driver {driver.version}" if driver.version else "The driver"
    if ok:
        return driver_is_enough(label, driver.version, max_cuda, runtime, need.exact, need.floor, evidence)
    best = best_torch_for(driver, host=host, python=python_version(python), same_release_as=torch.version)
    if found is not None:
        evidence["error"] = found[1][:300]
    if max_cuda:
        message = f"{label} supports CUDA ≤ {max_cuda}, but torch {torch.version} needs CUDA {runtime}"
    else:  # a driver older than any row of NVIDIA's tables: its maximum CUDA is not known, only that it is too old
        message = (f"{label} is older than {need.floor or need.exact}, the oldest driver that runs CUDA {runtime} "
                   f"(torch {torch.version}'s runtime); the highest CUDA it supports is not in NVIDIA's tables")
    return fail(f"{message}: torch.cuda.is_available() will be False",
                evidence, remedy=driver_remedy(runtime, platform, best, torch.version))


def driver_is_enough(label: str, driver: str | None, max_cuda: str | None, runtime: str, exact: str | None,
                     floor: str | None, evidence: dict[str, Any]) -> Finding:
    mm, mx = data.major_minor(runtime), data.major_minor(max_cuda)
    dv, exact_v = data.version(driver), data.version(exact)
    through_minor_compat = (mx is not None and mm is not None and mx < mm) or (
        dv is not None and exact_v is not None and dv < exact_v)
    supports = f"CUDA {max_cuda}" if max_cuda else f"CUDA ≥ {runtime}"
    if through_minor_compat:
        return passed(f"{label} ({supports}) runs torch's CUDA {runtime} runtime through minor-version "
                      f"compatibility (driver ≥ {floor}); JIT of PTX newer than the driver can still fail", evidence)
    return passed(f"{label} supports {supports}, enough for torch's CUDA {runtime}", evidence)


def driver_remedy(runtime: str | None, platform: str, best: tuple[str, str] | None, current: str | None) -> Remedy:
    """Upgrade the driver, or install the torch build this driver runs (the pip line, and fix pin)."""
    parts, commands = [], []
    if runtime:
        need = driver_need(runtime, platform)
        if need.exact or need.floor:
            floor = (f" (≥ {need.floor} is enough through minor-version compatibility)"
                     if need.floor and need.floor != need.exact else "")
            parts.append(f"Upgrade the NVIDIA driver to ≥ {need.exact or need.floor}{floor}")
    if best is not None:
        rel, variant = best
        parts.append(f"install torch {rel} built for {variant}, which this driver supports")
        commands.append(pip_torch_command(rel, variant, current))
    if not parts:
        return Remedy("Upgrade the NVIDIA driver, or install a torch build for an older CUDA.",
                      commands=(PIN_REPAIR,), fix="pin")
    return Remedy(", or ".join(parts) + ".", commands=(*commands, PIN_REPAIR), fix="pin")


# --------------------------------------------------------------------------- cuda.arch


@check("cuda.arch", "torch (and GPU packages) have kernels for these GPUs", known_errors=True)
def check_arch_covered(gpus: tuple[Gpu, ...], torch: Torch, packages: Packages | None, driver: Driver | None,
                       host: Host | None, python: Python | None, meta: Meta | None = None) -> list[Finding]:
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

    Sources: NVIDIA CUDA Blackwell compatibility guide,
    https://docs.nvidia.com/cuda/blackwell-compatibility-guide/ (binary compatibility rule);
    PyTorch 2.7 release blog, https://pytorch.org/blog/pytorch-2-7/; pytorch/pytorch
    .ci/manywheel/build_cuda.sh and RELEASE.md (arch lists, data/torch_wheels.json).
    """
    if not gpus:
        return [not_applicable("no NVIDIA GPU on this host")]
    machine = Machine(driver, host, python)
    moot = cuda_is_moot(torch)
    findings: list[Finding] = []
    arch_list, source = (None, "") if moot is not None else torch_arch_list(torch)
    if moot is None and arch_list is None:
        findings.extend(gpus_below_the_toolkit_minimum(gpus, torch, machine) or [
            unknown(f"torch {torch.version}'s arch list is unknown (not probed, not in the wheel table)")])
    for gpu in gpus:
        findings.extend(gpu_has_kernels(gpu, torch, packages, arch_list, source, machine))
    findings.extend(extension_limits(packages, gpus, meta, findings))
    if packages is None:
        findings.append(unknown("the installed packages are unknown, so the minimum compute capability of GPU "
                                "packages (vLLM, FlashAttention, bitsandbytes, Triton) was not checked"))
    if moot is not None and not any(f.status in (Status.FAIL, Status.WARN) for f in findings):
        return [moot] + [f for f in findings if f.status is not Status.UNKNOWN]
    return findings


def extension_limits(packages: Packages | None, gpus: tuple[Gpu, ...], meta: Meta | None,
                     found: list[Finding]) -> list[Finding]:
    """Extension-level limits (facts/arch_limits.py: vLLM, FlashAttention-2/3, xformers, DeepSpeed ops ...) not
    already reported by package_minimums; a vLLM collect_env dump means vLLM is in use."""
    reported = {(f.subject, normalize_name(str(f.evidence.get("package", "")))) for f in found}
    return [f for f in arch_limit_findings(packages, gpus, meta)
            if (f.subject, normalize_name(str(f.evidence.get("package", "")))) not in reported]


class Machine:
    """What a remedy needs to choose a torch build: the driver, the host's OS, the Python version."""

    def __init__(self, driver: Driver | None, host: Host | None, python: Python | None) -> None:
        self.driver, self.host, self.python = driver, host, python_version(python)

    def best_torch(self, gpu_ccs: list[str], any_python: bool = False) -> tuple[str, str] | None:
        python = None if any_python else self.python
        return best_torch_for(self.driver, host=self.host, python=python, gpu_ccs=gpu_ccs)


def torch_arch_list(torch: Torch) -> tuple[list[str] | None, str]:
    """torch's arch list and where it came from: the probe, else the official wheel table."""
    if torch.arch_list:
        return list(torch.arch_list), "torch.cuda.get_arch_list()"
    arch_list = data.torch_arch_list(torch.version, torch.cuda)
    return arch_list, "official wheel table (data/torch_wheels.json)" if arch_list else ""


def gpu_has_kernels(gpu: Gpu, torch: Torch, packages: Packages | None, arch_list: list[str] | None, source: str,
                    machine: Machine) -> list[Finding]:
    cc, cc_source = gpu_cc(gpu)
    label = gpu_label(gpu)
    if cc is None:
        return [unknown(f"compute capability of {label} is unknown", subject=label)]
    out = []
    if arch_list is not None:
        out.append(torch_covers(torch, label, cc, cc_source, arch_list, source, machine))
    return out + package_minimums(packages, label, cc)


def gpus_below_the_toolkit_minimum(gpus: tuple[Gpu, ...], torch: Torch, machine: Machine) -> list[Finding]:
    """GPUs older than anything torch's CUDA can compile for: no kernels, whatever the arch list (CC 1.2 + CUDA 10)."""
    row = data.cuda_min_cc(torch.cuda)
    if row is None:
        return []
    out = []
    for gpu in gpus:
        cc, cc_source = gpu_cc(gpu)
        gpu_mm, min_mm = data.major_minor(cc), data.major_minor(row["min_cc"])
        if cc and gpu_mm is not None and min_mm is not None and gpu_mm < min_mm:
            label = gpu_label(gpu)
            out.append(fail(f"{label} has compute capability {cc}, but CUDA {torch.cuda} (torch {torch.version}) "
                            f"cannot build kernels below {row['min_cc']}: torch has no kernels for this GPU",
                            {"compute_capability": cc, "compute_capability_source": cc_source,
                             "torch": torch.version, "torch_cuda": torch.cuda, "cuda_min_cc": row["min_cc"],
                             "source": public_source(row["source"])},
                            remedy=arch_remedy(cc, machine), subject=label))
    return out


def torch_covers(torch: Torch, label: str, cc: str, cc_source: str, arch_list: list[str], source: str,
                 machine: Machine) -> Finding:
    kind, entry = arch_covers(arch_list, cc)
    evidence = {"compute_capability": cc, "compute_capability_source": cc_source, "torch": torch.version,
                "arch_list": arch_list, "arch_list_source": source}
    if kind == "sass":
        return passed(f"{label} ({sm(cc)}) runs torch's {entry} kernels", evidence, subject=label)
    if kind == "ptx":
        return warn(f"{label} ({sm(cc)}) has no native kernels in torch {torch.version}; it relies on JIT "
                    f"compilation of {entry} PTX (slow first run, needs a driver that supports that PTX)",
                    evidence, remedy=arch_remedy(cc, machine), subject=label)
    return fail(f"{label} is {sm(cc)}, which torch {torch.version} was not built for (it has "
                f"{' '.join(arch_list) or 'no CUDA kernels'}): CUDA calls will fail with "
                f"'no kernel image is available for execution on the device'",
                evidence, remedy=arch_remedy(cc, machine), subject=label)


def arch_remedy(cc: str, machine: Machine) -> Remedy:
    """The torch build that has kernels for ``cc`` and runs on this driver (or what to upgrade first)."""
    covering = machine.best_torch([cc])
    first = first_release_covering(cc)
    if covering is not None:
        rel, variant = covering
        since = f"torch ≥ {first[0]} built for {first[1]} or newer covers {sm(cc)}; " if first else ""
        return Remedy(f"{since}install torch {rel} for {variant}, which this driver supports.",
                      commands=(pip_torch_command(rel, variant, None), PIN_REPAIR), fix="pin")
    any_python = machine.best_torch([cc], any_python=True)
    if any_python is not None and machine.python:
        rel, variant = any_python
        span = (data.torch_release(rel) or {}).get("python") or "newer"
        return Remedy(f"The torch builds with kernels for {sm(cc)} have no wheels for Python {machine.python}: use "
                      f"a Python that torch {rel} supports ({span}), then install its {variant} build.",
                      commands=(pip_torch_command(rel, variant, None),))
    if first is not None:
        rel, variant = first
        return Remedy(f"torch ≥ {rel} built for {variant} covers {sm(cc)}, but this driver is too old for it: "
                      f"upgrade the driver first (see cuda.driver), then install it.",
                      commands=(f"pip install --upgrade torch --index-url {data.index_url(variant)}",))
    return Remedy(f"No official torch build supports compute capability {cc} (the oldest arch in any wheel is "
                  f"{sm(oldest_wheel_arch())}): use a newer GPU, or build torch from source with "
                  f"TORCH_CUDA_ARCH_LIST={cc} and a CUDA toolkit that still supports it.")


def oldest_wheel_arch() -> str:
    entries = [e for _, _, r in data.torch_variants() for e in (r.get("arch") or [])]
    oldest = min(entries, key=lambda e: data.major_minor(e) or (99, 9))
    return str(oldest).split("+")[0]


def first_release_covering(cc: str) -> tuple[str, str] | None:
    """(torch release, variant) of the first official wheel with SASS kernels for ``cc``."""
    for release, name, row in data.torch_variants(newest_first=False):
        if row.get("arch") and arch_covers(data.arch_entries_to_list(row["arch"]), cc)[0] == "sass":
            return release["torch"], name
    return None


def package_minimums(packages: Packages | None, label: str, cc: str) -> list[Finding]:
    """Installed GPU packages (vLLM, FlashAttention, ...) whose minimum compute capability this GPU is below."""
    out = []
    gpu_mm = data.major_minor(cc)
    for row in data.package_min_cc():
        version = installed_in(packages, row["package"]) if row["package"] != "torch" else None
        min_mm = data.major_minor(row["min_cc"])
        if version is None or gpu_mm is None or min_mm is None or gpu_mm >= min_mm:
            continue
        make = warn if row["package"] == "triton" else fail
        out.append(make(
            f"{label} has compute capability {cc}, below the {row['min_cc']} that {row['package']} "
            f"{version} needs: {row['note']}",
            {"package": row["package"], "version": version, "min_cc": row["min_cc"],
             "source": public_source(row["source"])},
            remedy=(f"Use a GPU with compute capability ≥ {row['min_cc']}, or uninstall {row['package']} "
                    f"and use a code path without it" + (" (torch.compile's default backend needs Triton; "
                                                           "run eagerly instead)" if row["package"] == "triton" else "")),
            subject=label))
    return out


# --------------------------------------------------------------------------- cuda.toolkit

# Packages that compile CUDA code with nvcc at install or run time (JIT op builders, source builds).
JIT_PACKAGES = ("deepspeed", "apex", "mamba-ssm", "causal-conv1d", "torch-scatter", "ninja")


@check("cuda.toolkit", "nvcc matches torch's CUDA (for building extensions)", known_errors=True)
def check_nvcc_matches_torch(torch: Torch, toolkit: Toolkit, packages: Packages | None,
                             driver: Driver | None, host: Host | None) -> Finding | list[Finding]:
    """Does the CUDA toolkit (nvcc) match the CUDA version torch was built with?

    torch's runtime is bundled in the wheel, so nvcc does not matter for running models.  It matters
    when something compiles CUDA code against torch: DeepSpeed's JIT op builder, flash-attn or xformers
    built from source, custom kernels via torch.utils.cpp_extension.  torch then raises "The detected
    CUDA version (11.5) mismatches the version that was used to compile PyTorch (12.1)" on a major
    mismatch, and only warns on a minor one.  nvcc is found like cpp_extension does: CUDA_HOME,
    CUDA_PATH, PATH, /usr/local/cuda.

    Verdicts: different major -> fail when a JIT-compiling package is installed (deepspeed, apex, ninja,
    ...), warn otherwise; different minor -> warn; no nvcc -> not applicable unless a JIT-compiling
    package needs one (then warn).  Note that collect_env's "CUDA runtime version" is this nvcc, not
    torch's runtime.

    Fix: install the toolkit matching torch's CUDA and point CUDA_HOME at it: conda's nvidia channel
    (`conda install -c nvidia cuda-nvcc=12.1`), pip (`pip install 'nvidia-cuda-nvcc-cu12==12.1.*'`; pip
    wheels exist for CUDA 11.7-11.8 and 12.x only), or NVIDIA's installers
    (https://developer.nvidia.com/cuda-toolkit-archive); or use the torch build for your nvcc.

    Sources: pytorch/pytorch torch/utils/cpp_extension.py (CUDA_MISMATCH_MESSAGE, CUDA_MISMATCH_WARN);
    microsoft/DeepSpeed#924 and PR #1139 (minor mismatch accepted); https://pypi.org/project/nvidia-cuda-nvcc-cu12/.
    """
    moot = cuda_is_moot(torch)
    if moot is not None or torch.cuda is None:
        return moot or unknown("torch's CUDA version is unknown")
    jit = [p for p in JIT_PACKAGES if installed_in(packages, p)]
    evidence = {"torch_cuda": torch.cuda, "nvcc": toolkit.nvcc_path, "nvcc_version": toolkit.nvcc_version,
                "found_via": toolkit.nvcc_source, "jit_packages": jit}
    if toolkit.nvcc_path is None:
        return no_nvcc(torch.cuda, jit, packages, evidence)
    if toolkit.nvcc_version is None:
        return unknown(f"{toolkit.nvcc_path} did not report its version, so whether it matches torch's CUDA "
                       f"{torch.cuda} is unknown", evidence)
    return [nvcc_against_torch(toolkit.nvcc_version, torch.cuda, jit, evidence),
            *nvcc_against_driver(toolkit.nvcc_version, driver, host, evidence)]


def no_nvcc(cuda: str, jit: list[str], packages: Packages | None, evidence: dict[str, Any]) -> Finding:
    if jit:
        return warn(f"No nvcc found, but {', '.join(jit)} will compile CUDA code and needs the CUDA {cuda} toolkit",
                    evidence, remedy=toolkit_remedy(cuda))
    if packages is None:
        return unknown("No nvcc found; whether an installed package compiles CUDA code (and needs one) is "
                       "unknown: the installed packages were not read", evidence)
    return not_applicable("No nvcc installed, and no installed package compiles CUDA code: torch brings its own "
                          "CUDA runtime", evidence)


def nvcc_against_torch(nvcc: str, cuda: str, jit: list[str], evidence: dict[str, Any]) -> Finding:
    nv, tc = data.major_minor(nvcc), data.major_minor(cuda)
    if nv is None or tc is None:
        return unknown(f"cannot compare nvcc {nvcc} with torch's CUDA {cuda}", evidence)
    if nv[0] != tc[0]:
        make = fail if jit else warn
        consequence = (f"{', '.join(jit)} will fail to build its CUDA code" if jit else
                       "building CUDA extensions against torch will fail")
        return make(f"nvcc is CUDA {nvcc} but torch was built with CUDA {cuda}: {consequence} "
                    f"('The detected CUDA version mismatches the version that was used to compile PyTorch')",
                    evidence, remedy=toolkit_remedy(cuda))
    if nv != tc:
        return warn(f"nvcc is CUDA {nvcc}, torch was built with CUDA {cuda}: extensions build "
                    f"with a minor-version mismatch warning (usually harmless)", evidence, remedy=toolkit_remedy(cuda))
    return passed(f"nvcc {nvcc} matches torch's CUDA {cuda}", evidence)


def nvcc_against_driver(nvcc: str, driver: Driver | None, host: Host | None,
                        evidence: dict[str, Any]) -> list[Finding]:
    """Code nvcc compiles must load on this driver: a toolkit newer than the driver's CUDA fails at load."""
    if driver is None:
        return [unknown(f"whether the driver can load code nvcc {nvcc} compiles is unknown (driver not read)",
                        evidence)]
    max_cuda, _ = max_cuda_of(driver, host)
    mx, nv = data.major_minor(max_cuda), data.major_minor(nvcc)
    if mx is None or nv is None or mx >= nv:
        return []
    return [warn(f"nvcc {nvcc} is newer than the driver's CUDA {max_cuda}: code it compiles "
                 f"may fail to load ('unsupported toolchain' / 'no kernel image')",
                 {**evidence, "driver_max_cuda": max_cuda},
                 remedy=f"Upgrade the driver, or compile with a toolkit ≤ CUDA {max_cuda}.")]


def toolkit_remedy(cuda: str) -> Remedy:
    """Install the CUDA ``cuda`` toolkit from a source that has it (data/nvcc_packages.json): real packages only."""
    table = data.load("nvcc_packages")
    cuda_mm = data.major_minor(cuda)
    commands = []
    conda = table["conda"]
    if cuda_mm is not None and cuda_mm >= (data.major_minor(conda["cuda_from"]) or (99, 0)):
        commands.append(f"conda install -c {conda['channel']} {conda['package']}={cuda}")
    for row in table["rows"]:
        low, high = data.major_minor(row["cuda_from"]), data.major_minor(row["cuda_to"])
        if cuda_mm is not None and low is not None and high is not None and low <= cuda_mm <= high:
            commands.append(f"pip install '{row['pip']}=={cuda}.*'")
    where = "" if commands else f" from NVIDIA's installers ({table['installers']['url']})"
    return Remedy(f"Install the CUDA {cuda} toolkit{where} and point CUDA_HOME at it, or use the torch build "
                  f"for your nvcc.", commands=tuple(commands), links=(table["installers"]["url"],))
