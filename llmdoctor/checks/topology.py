"""GPU-to-GPU topology: NVLink, PCIe switches, CPU sockets, peer-to-peer support."""

from __future__ import annotations

import re
from collections import Counter

from .. import data
from ..engine import Context, check
from ..results import passed, skip, warn
from ..snapshot import Snapshot
from ..facts import derived as F
from ..facts.known_error_findings import reports_known_errors

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


def _pcie_only_row(name: str | None) -> dict | None:
    if not name:
        return None
    for row in data.load("gpu_interconnect")["pcie_only"]:
        if re.search(row["pattern"], name):
            return row
    return None


def _misreport_driver(snap: Snapshot) -> dict | None:
    version = snap.driver.version if snap.driver else None
    if not version:
        return None
    branch = version.split(".")[0]
    for row in data.load("gpu_interconnect")["p2p_misreport_drivers"]:
        if row["branch"] == branch:
            return row
    return None


@check("gpu.topology", "GPUs can talk to each other directly (NVLink / PCIe peer-to-peer)", needs=("gpus",))
@reports_known_errors
def check_topology(snap: Snapshot, ctx: Context):
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
    skip.  PASS otherwise, with a per-pair summary.

    Sources: NVML nvmlDeviceGetTopologyCommonAncestor / nvmlDeviceGetP2PStatus; NVIDIA/nccl docs
    troubleshooting (PCI ACS, gpu_troubleshooting.rst); reference_facts.md 6h #2, #9; vllm-project/vllm
    issue #5458 (driver 545/555 P2P misreport, ACS); data/gpu_interconnect.json.
    """
    gpus = snap.gpus
    if not gpus:
        return skip("no NVIDIA GPU on this host")
    if len(gpus) < 2:
        return passed(f"{len(gpus)} GPU: no GPU-to-GPU traffic", {"gpus": len(gpus)})
    names = Counter(g.name or "?" for g in gpus)
    desc = ", ".join(f"{n}× {name}" for name, n in names.items())
    misreport = _misreport_driver(snap)
    links = snap.gpu_links
    if not links:
        rows = [_pcie_only_row(g.name) for g in gpus]
        if all(rows):
            ev = {"gpus": desc, "note": rows[0]["note"], "driver": snap.driver.version if snap.driver else None}
            msg = (f"{desc}: PCIe-only GPUs without NVLink, so multi-GPU NCCL depends on PCIe peer-to-peer, which the input "
                   "cannot confirm (no topology)")
            if misreport:
                msg += f"; driver {snap.driver.version} (branch {misreport['branch']}) is reported to misreport P2P support"
                ev["driver_source"] = misreport["source"]
            return warn(msg, ev, remedy="Run `nvidia-smi topo -m` and `nvidia-smi topo -p2p r` (or `llmdoctor check` on the "
                                        "machine). " + NO_P2P_SETTINGS)
        return skip(snap.unknown_reason("gpu_links") if links is None else "no GPU-pair topology reported",
                    {"gpus": desc})
    levels = Counter(l.level or "unknown" for l in links)
    p2p_yes = [l for l in links if l.p2p_read or l.level == "NVLINK"]
    p2p_no = [l for l in links if l.p2p_read is False and l.level != "NVLINK"]
    summary = {LEVEL_WORDS.get(k, k): v for k, v in levels.items()}
    ev = {"gpus": desc, "pairs": len(links), "links": summary, "p2p_pairs": len(p2p_yes), "no_p2p_pairs": len(p2p_no)}
    findings = []
    if not p2p_yes and p2p_no:
        findings.append(warn(f"{desc}: no GPU pair supports peer-to-peer (links through "
                             f"{', '.join(sorted(summary))}): NCCL moves all GPU-to-GPU data through host memory",
                             ev, remedy=NO_P2P_SETTINGS))
    pcie_p2p = [l for l in links if l.p2p_read and l.level != "NVLINK"]
    if misreport and pcie_p2p:
        findings.append(warn(f"driver {snap.driver.version} (branch {misreport['branch']}) is reported to misreport PCIe P2P "
                             f"support, and {len(pcie_p2p)} pair(s) here use P2P over PCIe: multi-GPU jobs may hang",
                             {**ev, "source": misreport["source"]},
                             remedy="Update the driver; meanwhile, if NCCL or vLLM hangs at init, try NCCL_P2P_DISABLE=1 "
                                    "(vLLM: --disable-custom-all-reduce) and check PCIe ACS."))
    if findings:
        return findings
    cross = [l for l in links if l.level == "SYSTEM"]
    if levels.get("NVLINK") == len(links):
        return passed(f"{desc}: every GPU pair is connected by NVLink", ev)
    msg = f"{desc}: {len(p2p_yes)} of {len(links)} GPU pairs support peer-to-peer"
    if cross:
        msg += f"; {len(cross)} pair(s) cross CPU sockets" + (" without P2P" if all(l in p2p_no for l in cross) else "")
    unknown = [l for l in links if l.p2p_read is None and l.level != "NVLINK"]
    if unknown and not p2p_yes:
        return skip(f"{desc}: P2P support of the GPU pairs is unknown", ev)
    return passed(msg, ev)


def label(snap: Snapshot, index: int) -> str:
    for g in snap.gpus or ():
        if g.index == index:
            return F.gpu_label(g)
    return f"GPU {index}"
