"""torch itself: does it import, is it a CUDA build on a GPU host, is there only one of it."""

from __future__ import annotations

import re
from typing import Any

from packaging.version import Version

from .. import data
from ..engine import check
from ..facts.derived import (
    best_torch_for,
    driver_need,
    found_version,
    gpu_cc,
    is_cpu_torch,
    platform_of,
    why_unknown,
)
from ..results import Finding, Remedy, fail, not_applicable, passed, unknown, warn
from ..snapshot import (
    Driver,
    Gpu,
    Host,
    Meta,
    Packages,
    ProbeResult,
    Python,
    Torch,
    normalize_name,
)

PIN_REPAIR = "llmdoctor fix pin --repair"
GET_STARTED = "https://pytorch.org/get-started/locally/"


@check("torch.build", "torch imports and is a CUDA build where there is a GPU", known_errors=True)
def check_torch_build(torch: Torch, gpus: tuple[Gpu, ...] | None, host: Host | None, packages: Packages | None,
                      driver: Driver | None, python: Python | None, errors: tuple[str, ...],
                      probes: tuple[ProbeResult, ...], meta: Meta) -> Finding | list[Finding]:
    """Is the installed torch usable on this machine?

    - torch fails to import (missing shared libraries, a half-finished upgrade, ABI errors): fail, with
      the verbatim error.
    - A CPU-only torch (`+cpu`, or `torch.version.cuda` is None; conda's `cpuonly`; the default Windows
      wheel) on a host with an NVIDIA GPU: fail.  "Torch not compiled with CUDA enabled";
      `torch.cuda.is_available()` is False.
    - A CUDA build that cannot initialise CUDA on a GPU host: fail with torch's own error.
    - A CUDA build on a host without an NVIDIA GPU: warn (it runs on CPU only; vLLM says "No CUDA GPUs
      are available").
    - Two torch packages visible in one environment (pip and conda, user site and venv): warn; which
      one imports depends on sys.path order.
    When neither NVML nor torch says whether the host has an NVIDIA GPU, the verdict is unknown.

    Fix: reinstall torch from the index of a CUDA variant this driver supports, e.g.
    `pip install --force-reinstall torch==2.4.0 --index-url https://download.pytorch.org/whl/cu121`
    (`llmdoctor fix pin --repair` writes the whole consistent set).

    Sources: pytorch/pytorch#106565 (conda resolved cpuonly); https://pytorch.org/get-started/locally/
    (index URLs); pytorch/pytorch torch/cuda/__init__.py ("Torch not compiled with CUDA enabled").
    """
    if not torch.installed:
        return not_applicable("torch is not installed in this interpreter "
                              "(use --python PATH to inspect another environment)")
    findings = several_installs(torch, packages)
    if torch.import_error:
        return [*findings, fail(f"torch fails to import: {torch.import_error}", {"error": torch.import_error},
                                remedy=import_remedy(torch.import_error))]
    if torch.hip:
        return [*findings, not_applicable(f"torch {torch.version} is a ROCm build (HIP {torch.hip}); "
                                          f"llmdoctor checks NVIDIA stacks")]
    host_gpus = HostGpus(gpus, host, why_unknown("gpus", probes, meta))
    if is_cpu_torch(torch.version, torch.cuda, torch.hip):
        return [*findings, cpu_torch(torch, host_gpus, driver, host, python)]
    return [*findings, cuda_torch(torch, host_gpus, errors)]


class HostGpus:
    """Whether the host has NVIDIA GPUs: NVML's list, else the PCI bus; None when neither was read."""

    def __init__(self, gpus: tuple[Gpu, ...] | None, host: Host | None, reason: str) -> None:
        pci = host.nvidia_pci_devices if host is not None else None
        self.gpus = gpus
        self.present: bool | None = bool(gpus) or bool(pci) if gpus is not None or pci else None
        self.count = len(gpus) if gpus is not None else pci
        self.reason = reason

    def ccs(self) -> list[str]:
        return [c for c in (gpu_cc(g)[0] for g in self.gpus or ()) if c]


def several_installs(torch: Torch, packages: Packages | None) -> list[Finding]:
    dists = [d for d in (packages.distributions if packages else ()) if normalize_name(d.name) == "torch"]
    installs = list(torch.installs or ())
    if len(installs) <= 1 and len(dists) <= 1:
        return []
    where = installs if len(installs) > 1 else [f"{d.version} in {d.location}" for d in dists]
    return [warn(f"{max(len(installs), len(dists))} torch installations are visible; the one that "
                 f"imports depends on sys.path order", {"installs": where},
                 remedy="Uninstall the extra copies (repeat until none is left) and reinstall one torch.",
                 commands=("pip uninstall -y torch", "conda remove pytorch"))]


def cpu_torch(torch: Torch, host_gpus: HostGpus, driver: Driver | None, host: Host | None,
              python: Python | None) -> Finding:
    evidence = {"torch": torch.version, "torch_cuda": torch.cuda, "nvidia_gpus": host_gpus.count}
    if host_gpus.present is None:
        return unknown(f"torch {torch.version} is a CPU-only build; whether this host has an NVIDIA GPU is "
                       f"unknown ({host_gpus.reason})", evidence)
    if not host_gpus.present:
        return passed(f"torch {torch.version} is a CPU-only build, and this host has no NVIDIA GPU", evidence)
    best = best_torch_for(driver, host=host, python=python.version if python else None,
                          gpu_ccs=host_gpus.ccs(), same_release_as=torch.version)
    return fail(f"torch {torch.version} is a CPU-only build on a host with an NVIDIA GPU: "
                f"torch.cuda.is_available() is False and everything runs on the CPU",
                evidence, remedy=cuda_build_remedy(torch.version, best, platform_of(driver, host)))


def cuda_build_remedy(current: str | None, best: tuple[str, str] | None, platform: str) -> Remedy:
    if best is None:
        return Remedy("Reinstall torch from a CUDA index.", commands=(PIN_REPAIR,), fix="pin", links=(GET_STARTED,))
    rel, variant = best
    v = data.version(current)
    pin = f"torch=={v.base_version}" if v and f"{v.major}.{v.minor}" == rel else f"'torch=={rel}.*'"
    text = f"Reinstall the CUDA build of torch {rel} for {variant} (conda: drop the cpuonly package)"
    commands = [f"pip install --force-reinstall {pin} --index-url {data.index_url(variant)}"]
    release = data.torch_release(current)
    if release is not None and release["torch"] != rel:
        # this driver is too old for every CUDA build of the installed release: say what keeps it
        name = min(release["variants"], key=lambda n: data.version(release["variants"][n]["cuda"]) or Version("0"))
        need = driver_need(release["variants"][name]["cuda"], platform)
        text += (f"; or, to keep torch {release['torch']}, upgrade the driver to ≥ {need.floor or need.exact} "
                 f"and install its {name} build")
        commands.append(f"pip install --force-reinstall 'torch=={release['torch']}.*' "
                        f"--index-url {data.index_url(name)}")
    return Remedy(text + ".", commands=(*commands, PIN_REPAIR), fix="pin", links=(GET_STARTED,))


def cuda_torch(torch: Torch, host_gpus: HostGpus, errors: tuple[str, ...]) -> Finding:
    evidence: dict[str, Any] = {"torch": torch.version, "torch_cuda": torch.cuda}
    if torch.cuda_available and torch.device_count:
        # torch itself initialised CUDA and counted the GPUs: the verdict rests on torch alone
        return passed(f"torch {torch.version} is a CUDA {torch.cuda} build and sees {torch.device_count} GPU(s)",
                      {**evidence, "torch_device_count": torch.device_count})
    evidence["nvidia_gpus"] = host_gpus.count
    if host_gpus.present is None:
        return unknown(f"torch {torch.version} is a CUDA {torch.cuda} build; whether this host has an NVIDIA GPU "
                       f"for it is unknown ({host_gpus.reason})", evidence)
    if not host_gpus.present:
        return warn(f"torch {torch.version} is a CUDA {torch.cuda} build but this host has no NVIDIA GPU: "
                    f"it will run on the CPU only, and GPU-only packages (vLLM, bitsandbytes) will fail",
                    evidence, remedy="Run on a GPU host (in a container, pass the GPUs in with --gpus all); for CPU "
                                     "work install the CPU build.",
                    commands=("pip install torch --index-url https://download.pytorch.org/whl/cpu",))
    if torch.cuda_available is False:
        return cannot_use_the_gpus(torch, errors, evidence)
    return passed(f"torch {torch.version} is a CUDA {torch.cuda} build, on a host with {host_gpus.count} NVIDIA "
                  f"GPU(s)", evidence)


def cannot_use_the_gpus(torch: Torch, errors: tuple[str, ...], evidence: dict[str, Any]) -> Finding:
    error = torch.cuda_error or next((w for w in torch.warnings if "CUDA" in w), None)
    if found_version(errors, torch) is not None:
        return warn(f"torch {torch.version} is a CUDA {torch.cuda} build, but it cannot use the GPUs because the "
                    f"driver is too old for it (see cuda.driver)", {**evidence, "error": error},
                    remedy="Fix the driver mismatch reported by cuda.driver.")
    return fail(f"torch {torch.version} cannot use the GPUs: torch.cuda.is_available() is False"
                + (f" ({error.strip().splitlines()[0][:200]})" if error else ""),
                {**evidence, "error": error}, remedy="See cuda.driver and gpu.visible for the cause.")


def import_remedy(error: str) -> Remedy:
    m = re.search(r"(lib[\w.+-]+\.so[\w.]*)", error)
    reinstall = "pip install --force-reinstall torch"
    if m:
        return Remedy(f"A shared library is missing or incompatible ({m.group(1)}): reinstall torch with its CUDA "
                      f"dependencies, and remove stale CUDA paths from LD_LIBRARY_PATH.", commands=(reinstall,))
    if "undefined symbol" in error:
        return Remedy("torch and a library it loads disagree (undefined symbol): reinstall torch in a clean "
                      "environment and remove system CUDA paths from LD_LIBRARY_PATH.", commands=(reinstall,))
    return Remedy("Reinstall torch (use the index URL of your CUDA variant).", commands=(reinstall,))
