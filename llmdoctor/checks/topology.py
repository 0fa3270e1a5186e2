"""GPU-to-GPU topology: NVLink, PCIe switches, CPU sockets, peer-to-peer support."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from .. import data
from ..engine import check
from ..facts.derived import gpu_label, public_source, why_unknown
from ..results import Finding, fail, not_applicable, passed, unknown, warn
from ..snapshot import Driver, Gpu, GpuLink, Host, Meta, ProbeResult

# NVML topology levels (nvmlGpuTopologyLevel_t) in words, and nvidia-smi topo -m's names for them.
LEVEL_WORDS = {
    "NVLINK": "NVLink",
    "INTERNAL": "the same board",
    "SINGLE": "one PCIe switch (PIX)",
    "MULTIPLE": "several PCIe switches (PXB)",
    "HOSTBRIDGE": "a PCIe host bridge (PHB)",
    "NODE": "host bridges within one CPU socket / NUMA node (NODE)",
    "SYSTEM": "the interconnect between CPU sockets (SYS)",
}

NO_P2P_SETTINGS = (
    "NCCL detects this itself and uses shared memory (SHM) through host RAM: keep NCCL_SHM_DISABLE unset, give it "
    "a large /dev/shm (see nccl.shm), and set no NCCL_P2P_LEVEL. If jobs hang although NVML reports P2P (ACS/IOMMU "
    "on, or a driver that misreports P2P), NCCL_P2P_DISABLE=1 is the workaround; on bare metal disable PCIe ACS "
    "(NCCL troubleshooting guide) and check with `nvidia-smi topo -p2p r`.")
TOPOLOGY_COMMANDS = ("nvidia-smi topo -m", "nvidia-smi topo -p2p r")


def pcie_only_row(name: str | None) -> dict[str, Any] | None:
    """The data row of a GPU model known to have no NVLink (GeForce, PCIe cards), if ``name`` is one."""
    if not name:
        return None
    for row in data.load("gpu_interconnect")["pcie_only"]:
        if re.search(row["pattern"], name):
            return dict(row)
    return None


def misreporting_driver(driver: Driver | None) -> dict[str, Any] | None:
    """The data row of a driver branch reported to misreport P2P support, if ``driver`` is one."""
    version = driver.version if driver else None
    if not version:
        return None
    branch = version.split(".")[0]
    for row in data.load("gpu_interconnect")["p2p_misreport_drivers"]:
        if row["branch"] == branch:
            return dict(row)
    return None


@check("gpu.topology", "GPUs can talk to each other directly (NVLink / PCIe peer-to-peer)", known_errors=True)
def check_topology(gpus: tuple[Gpu, ...] | None, gpu_links: tuple[GpuLink, ...] | None, driver: Driver | None,
                   probes: tuple[ProbeResult, ...], meta: Meta, host: Host | None = None) -> Finding | list[Finding]:
    """How are the GPUs connected, and can they copy to each other directly (peer-to-peer)?

    For each GPU pair NVML reports the link (NVLink, one PCIe switch, several switches, a host bridge,
    within one CPU socket, or across sockets) and whether P2P reads are supported.  NCCL uses P2P over
    NVLink or PCIe when it can; without it, every intra-node transfer goes through host memory (the
    SHM transport), which is several times slower and needs a large /dev/shm.  Consumer GPUs (GeForce
    RTX 40/50) and PCIe cards without NVLink depend on PCIe P2P, which ACS/IOMMU settings block; driver
    branches 545 and 555 have been reported to misreport P2P support, making NCCL or vLLM's custom
    all-reduce hang.

    Verdicts: WARN when a multi-GPU host has no P2P between any pair (with the settings that then make
    sense), and when P2P over PCIe is reported by a driver known to misreport it.  Without topology in
    the input (a pasted dump), WARN when all GPUs are PCIe-only models (P2P cannot be confirmed), else
    unknown.  PASS otherwise (a single GPU has no GPU-to-GPU traffic), with a per-pair summary.

    Sources: NVML nvmlDeviceGetTopologyCommonAncestor / nvmlDeviceGetP2PStatus
    (https://docs.nvidia.com/deploy/nvml-api/); NVIDIA/nccl docs troubleshooting (PCI ACS,
    https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/troubleshooting.html);
    vllm-project/vllm#5458 (driver 545/555 P2P misreport, ACS); data/gpu_interconnect.json.

    A pasted ``lspci -vvv`` whose ACSCtl lines show SrcValid+/ReqRedir+ (host.pci_acs_enabled, read from the
    text) is a FAIL: ACS redirects peer-to-peer through the root complex, so NCCL hangs or crawls
    (NVIDIA/nccl#606, NVIDIA/nccl#304; NCCL troubleshooting guide, "PCI Access Control Services").
    """
    if host is not None and host.pci_acs_enabled:
        return acs_enabled(gpus, meta)
    if gpus is None:
        return unknown(why_unknown("gpus", probes, meta))
    if not gpus:
        return not_applicable("no NVIDIA GPU on this host")
    if len(gpus) < 2:
        return passed(f"{len(gpus)} GPU: no GPU-to-GPU traffic", {"gpus": len(gpus)})
    names = Counter(g.name or "?" for g in gpus)
    desc = ", ".join(f"{n}× {name}" for name, n in names.items())
    misreport = misreporting_driver(driver)
    if not gpu_links:
        return without_topology(gpus, desc, driver, misreport, gpu_links, probes, meta)
    return from_topology(gpu_links, desc, driver, misreport)


def acs_enabled(gpus: tuple[Gpu, ...] | None, meta: Meta) -> Finding:
    """PCIe ACS is on for a bridge (read from lspci's ACSCtl lines): GPU peer-to-peer goes through the root complex."""
    origin = (meta.provenance or {}).get("host.pci_acs_enabled", "the input")
    return fail("PCIe ACS (Access Control Services) is enabled on a PCIe bridge (lspci ACSCtl: SrcValid+ / ReqRedir+): "
                "GPU peer-to-peer traffic is redirected through the CPU root complex, so NCCL hangs or runs slowly",
                {"pci_acs_enabled": True, "from": origin, "gpus": len(gpus) if gpus is not None else None,
                 "source": "https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/troubleshooting.html"},
                remedy="On bare metal disable ACS in the BIOS (or with setpci on each bridge); in a VM keep ACS and "
                       "use NCCL_P2P_DISABLE=1. Check with `sudo lspci -vvv | grep ACSCtl` (all SrcValid-).",
                commands=("sudo lspci -vvv | grep ACSCtl", "nvidia-smi topo -p2p r", "export NCCL_P2P_DISABLE=1"))


def without_topology(gpus: tuple[Gpu, ...], desc: str, driver: Driver | None, misreport: dict[str, Any] | None,
                     gpu_links: tuple[GpuLink, ...] | None, probes: tuple[ProbeResult, ...], meta: Meta) -> Finding:
    """No GPU-pair topology was read: PCIe-only models still tell that P2P cannot be confirmed."""
    rows = [pcie_only_row(g.name) for g in gpus]
    first = rows[0]
    if first is None or not all(rows):
        return unknown(why_unknown("gpu_links", probes, meta) if gpu_links is None else "no GPU-pair topology reported",
                       {"gpus": desc})
    evidence = {"gpus": desc, "note": first["note"], "driver": driver.version if driver else None}
    msg = (f"{desc}: PCIe-only GPUs without NVLink, so multi-GPU NCCL depends on PCIe peer-to-peer, which the input "
           "cannot confirm (no topology)")
    if misreport and driver is not None:
        msg += f"; driver {driver.version} (branch {misreport['branch']}) is reported to misreport P2P support"
        evidence["driver_source"] = public_source(misreport["source"])
    return warn(msg, evidence, remedy="Read the topology on the machine (or run `llmdoctor check` there). "
                + NO_P2P_SETTINGS, commands=TOPOLOGY_COMMANDS)


def from_topology(links: tuple[GpuLink, ...], desc: str, driver: Driver | None,
                  misreport: dict[str, Any] | None) -> Finding | list[Finding]:
    levels = Counter(link.level or "unknown" for link in links)
    p2p_yes = [link for link in links if link.p2p_read or link.level == "NVLINK"]
    p2p_no = [link for link in links if link.p2p_read is False and link.level != "NVLINK"]
    summary = {LEVEL_WORDS.get(k, k): v for k, v in levels.items()}
    evidence = {"gpus": desc, "pairs": len(links), "links": summary, "p2p_pairs": len(p2p_yes),
                "no_p2p_pairs": len(p2p_no)}
    findings = []
    if not p2p_yes and p2p_no:
        findings.append(warn(f"{desc}: no GPU pair supports peer-to-peer (links through "
                             f"{', '.join(sorted(summary))}): NCCL moves all GPU-to-GPU data through host memory",
                             evidence, remedy=NO_P2P_SETTINGS, commands=("nvidia-smi topo -p2p r",)))
    pcie_p2p = [link for link in links if link.p2p_read and link.level != "NVLINK"]
    if misreport and pcie_p2p and driver is not None:
        findings.append(warn(f"driver {driver.version} (branch {misreport['branch']}) is reported to misreport PCIe "
                             f"P2P support, and {len(pcie_p2p)} pair(s) here use P2P over PCIe: multi-GPU jobs may hang",
                             {**evidence, "source": public_source(misreport["source"])},
                             remedy="Update the driver; meanwhile, if NCCL or vLLM hangs at init, disable P2P "
                                    "(vLLM: --disable-custom-all-reduce) and check PCIe ACS.",
                             commands=("export NCCL_P2P_DISABLE=1",)))
    if findings:
        return findings
    if levels.get("NVLINK") == len(links):
        return passed(f"{desc}: every GPU pair is connected by NVLink", evidence)
    undecided = [link for link in links if link.p2p_read is None and link.level != "NVLINK"]
    if undecided and not p2p_yes:
        return unknown(f"{desc}: P2P support of the GPU pairs is unknown", evidence)
    msg = f"{desc}: {len(p2p_yes)} of {len(links)} GPU pairs support peer-to-peer"
    cross = [link for link in links if link.level == "SYSTEM"]
    if cross:
        msg += f"; {len(cross)} pair(s) cross CPU sockets" + (" without P2P" if all(c in p2p_no for c in cross) else "")
    return passed(msg, evidence)


def label(gpus: tuple[Gpu, ...] | None, index: int) -> str:
    """'GPU 3 (NVIDIA H100 80GB HBM3)' for the GPU with that index, 'GPU 3' when it is not listed."""
    for gpu in gpus or ():
        if gpu.index == index:
            return gpu_label(gpu)
    return f"GPU {index}"
