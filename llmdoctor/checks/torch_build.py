"""torch itself: does it import, is it a CUDA build on a GPU host, is there only one of it."""

from __future__ import annotations

import re

from .. import data
from ..engine import Context, check
from ..results import fail, passed, skip, warn
from ..snapshot import Snapshot, normalize_name
from ..facts import derived as F
from ..facts.known_error_findings import reports_known_errors


@check("torch.build", "torch imports and is a CUDA build where there is a GPU", needs=("torch",))
@reports_known_errors
def check_torch_build(snap: Snapshot, ctx: Context):
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

    Fix: reinstall torch from the index of a CUDA variant this driver supports, e.g.
    `pip install --force-reinstall torch==2.4.0 --index-url https://download.pytorch.org/whl/cu121`.

    Sources: failure catalog D1, D2, A8; pytorch/pytorch#106565 (conda resolved cpuonly);
    https://pytorch.org/get-started/locally/ (index URLs).
    """
    t = snap.torch
    findings = []
    if not t.installed:
        return skip("torch is not installed in this interpreter (use --python PATH to inspect another environment)")
    dists = [d for d in (snap.packages.distributions if snap.packages else ()) if normalize_name(d.name) == "torch"]
    installs = list(t.installs or ())
    if len(installs) > 1 or len(dists) > 1:
        where = installs if len(installs) > 1 else [f"{d.version} in {d.location}" for d in dists]
        findings.append(warn(f"{max(len(installs), len(dists))} torch installations are visible; the one that "
                             f"imports depends on sys.path order", {"installs": where},
                             remedy="Uninstall the extra copies (pip uninstall torch, repeated; conda remove pytorch) "
                                    "and reinstall one torch."))
    if t.import_error:
        findings.append(fail(f"torch fails to import: {t.import_error}", {"error": t.import_error},
                             remedy=_import_remedy(t.import_error)))
        return findings
    gpu_host = bool(snap.gpus)
    if t.hip:
        findings.append(skip(f"torch {t.version} is a ROCm build (HIP {t.hip}); llmdoctor checks NVIDIA stacks"))
        return findings
    evidence = {"torch": t.version, "torch_cuda": t.cuda, "nvidia_gpus": len(snap.gpus) if snap.gpus is not None else None}
    if F.is_cpu_torch(t.version, t.cuda, t.hip):
        if snap.gpus is None:
            if snap.host is not None and snap.host.nvidia_pci_devices:
                gpu_host = True
            else:
                findings.append(skip(f"torch {t.version} is a CPU-only build; whether this host has an NVIDIA GPU is "
                                     f"unknown ({snap.unknown_reason('gpus')})", evidence))
                return findings
        if gpu_host:
            best = F.best_torch_variant(snap, same_release_as=t.version,
                                        arch_cc=[c for c in (F.gpu_cc(g)[0] for g in snap.gpus or ()) if c])
            remedy = "Reinstall torch from a CUDA index (https://pytorch.org/get-started/locally/)."
            if best:
                rel, variant = best
                v = data.version(t.version)
                pin = f"torch=={v.base_version}" if v and f"{v.major}.{v.minor}" == rel else f"'torch=={rel}.*'"
                remedy = (f"Reinstall the CUDA build: pip install --force-reinstall {pin} --index-url "
                          f"{data.index_url(variant)} (conda: drop the cpuonly package)")
                release = data.torch_release(t.version)
                if release is not None and release["torch"] != rel:
                    # this driver is too old for every CUDA build of the installed release: say what keeps it
                    name = sorted(release["variants"], key=lambda n: data.version(release["variants"][n]["cuda"]))[0]
                    need = F.driver_need(release["variants"][name]["cuda"], F.driver_platform(snap))
                    remedy += (f"; or, to keep torch {release['torch']}, upgrade the driver to ≥ {need.floor or need.exact} "
                               f"and install its {name} build from {data.index_url(name)}")
            findings.append(fail(f"torch {t.version} is a CPU-only build on a host with an NVIDIA GPU: "
                                 f"torch.cuda.is_available() is False and everything runs on the CPU",
                                 evidence, remedy=remedy, fix="pin --repair"))
        else:
            findings.append(passed(f"torch {t.version} is a CPU-only build, and this host has no NVIDIA GPU", evidence))
        return findings
    if snap.gpus == ():
        findings.append(warn(f"torch {t.version} is a CUDA {t.cuda} build but this host has no NVIDIA GPU: "
                             f"it will run on the CPU only, and GPU-only packages (vLLM, bitsandbytes) will fail",
                             evidence, remedy="Run on a GPU host (or pass the GPUs into the container: docker run "
                                              "--gpus all); for CPU work install the CPU build: pip install torch "
                                              "--index-url https://download.pytorch.org/whl/cpu"))
        return findings
    if gpu_host and t.cuda_available is False:
        error = t.cuda_error or next((w for w in t.warnings if "CUDA" in w), None)
        if F.found_version_in_errors(snap) is not None:
            findings.append(warn(f"torch {t.version} is a CUDA {t.cuda} build, but it cannot use the GPUs because the "
                                 f"driver is too old for it (see cuda.driver)", {**evidence, "error": error},
                                 remedy="Fix the driver mismatch reported by cuda.driver."))
            return findings
        findings.append(fail(f"torch {t.version} cannot use the GPUs: torch.cuda.is_available() is False"
                             + (f" ({error.strip().splitlines()[0][:200]})" if error else ""),
                             {**evidence, "error": error}, remedy="See cuda.driver and gpu.visible for the cause."))
        return findings
    findings.append(passed(f"torch {t.version} is a CUDA {t.cuda} build" + (
        f" and sees {t.device_count} GPU(s)" if t.cuda_available else ""), evidence))
    return findings


def _import_remedy(error: str) -> str:
    m = re.search(r"(lib[\w.+-]+\.so[\w.]*)", error)
    if m:
        return (f"A shared library is missing or incompatible ({m.group(1)}): reinstall torch with its CUDA "
                f"dependencies (pip install --force-reinstall torch), and remove stale CUDA paths from LD_LIBRARY_PATH.")
    if "undefined symbol" in error:
        return ("torch and a library it loads disagree (undefined symbol): reinstall torch in a clean "
                "environment and remove system CUDA paths from LD_LIBRARY_PATH.")
    return "Reinstall torch: pip install --force-reinstall torch (use the index URL of your CUDA variant)."
