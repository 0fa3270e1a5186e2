"""Host probe: OS, memory, /dev/shm, ulimits, container, NVIDIA PCI devices, network interfaces.

Paths under /proc and /sys are read relative to ``root`` so tests can point the probe at a fake tree.
"""

from __future__ import annotations

import os
import platform
import re
import socket
from pathlib import Path

from ..snapshot import Host, NetInterface

NVIDIA_PCI_VENDOR = "0x10de"
# PCI class 0x0300 (VGA compatible controller) and 0x0302 (3D controller): the GPUs themselves,
# not their audio or USB functions.
GPU_PCI_CLASSES = ("0x0300", "0x0302")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _os_release(root: Path) -> str | None:
    text = _read(root / "etc/os-release") or _read(root / "usr/lib/os-release")
    if not text:
        return None
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text, re.M)
    return m.group(1) if m else None


def detect_container(root: Path = Path("/"), environ: dict[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    if env.get("KUBERNETES_SERVICE_HOST"):
        return "kubernetes"
    if env.get("APPTAINER_CONTAINER") or env.get("SINGULARITY_CONTAINER") or env.get("APPTAINER_NAME"):
        return "apptainer"
    if (root / "run/.containerenv").exists():
        return "podman"
    if (root / ".dockerenv").exists():
        return "docker"
    cgroup = _read(root / "proc/1/cgroup") or ""
    if "kubepods" in cgroup:
        return "kubernetes"
    if "docker" in cgroup or "containerd" in cgroup:
        return "docker"
    if "libpod" in cgroup:
        return "podman"
    return None


def count_nvidia_pci(root: Path = Path("/")) -> int | None:
    base = root / "sys/bus/pci/devices"
    try:
        devices = list(base.iterdir())
    except OSError:
        return None
    count = 0
    for dev in devices:
        vendor = (_read(dev / "vendor") or "").strip().lower()
        klass = (_read(dev / "class") or "").strip().lower()
        if vendor == NVIDIA_PCI_VENDOR and klass[:6] in GPU_PCI_CLASSES:
            count += 1
    return count


def nvidia_kernel_module(root: Path = Path("/")) -> str | None:
    text = _read(root / "proc/driver/nvidia/version")
    if not text:
        return None
    m = re.search(r"Kernel Module(?:\s+for\s+\S+)?\s+(\d+\.\d+(?:\.\d+)?)", text)
    return m.group(1) if m else None


def default_route_interface(root: Path = Path("/")) -> str | None:
    text = _read(root / "proc/net/route")
    if not text:
        return None
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            return fields[0]
    return None


def _interfaces() -> tuple[NetInterface, ...] | None:
    try:
        import psutil

        addrs = psutil.net_if_addrs()
        stats = psutil.net_if_stats()
    except Exception:
        return None
    result = []
    for name in sorted(addrs):
        addresses = tuple(a.address for a in addrs[name] if a.family in (socket.AF_INET, socket.AF_INET6))
        st = stats.get(name)
        loopback = name == "lo" or any(a.startswith("127.") or a == "::1" for a in addresses)
        result.append(NetInterface(name=name, is_up=st.isup if st else None, is_loopback=loopback,
                                   addresses=addresses))
    return tuple(result)


def _ib_devices(root: Path) -> tuple[str, ...] | None:
    base = root / "sys/class/infiniband"
    if not base.exists():
        return ()
    try:
        return tuple(sorted(p.name for p in base.iterdir()))
    except OSError:
        return None


def _rlimit(name: str) -> tuple[int | None, int | None]:
    try:
        import resource

        soft, hard = resource.getrlimit(getattr(resource, name))

        def conv(v: int) -> int:
            return -1 if v == resource.RLIM_INFINITY else int(v)

        return conv(soft), conv(hard)
    except Exception:
        return None, None


def probe_host(root: Path = Path("/")) -> Host:
    import psutil

    vm = psutil.virtual_memory()
    try:
        swap = psutil.swap_memory().total
    except Exception:
        swap = None
    shm_total = shm_free = None
    try:
        st = os.statvfs(root / "dev/shm")
        shm_total, shm_free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
    except (OSError, AttributeError):
        pass
    memlock = _rlimit("RLIMIT_MEMLOCK")
    nofile = _rlimit("RLIMIT_NOFILE")
    release = platform.release()
    return Host(
        os=platform.system(),
        os_release=_os_release(root),
        kernel=release,
        arch=platform.machine(),
        hostname=socket.gethostname(),
        cpu_count=os.cpu_count(),
        ram_total=int(vm.total),
        ram_available=int(vm.available),
        swap_total=int(swap) if swap is not None else None,
        shm_total=shm_total,
        shm_free=shm_free,
        memlock_soft=memlock[0],
        memlock_hard=memlock[1],
        nofile_soft=nofile[0],
        nofile_hard=nofile[1],
        container=detect_container(root),
        in_wsl="microsoft" in release.lower(),
        nvidia_pci_devices=count_nvidia_pci(root),
        nvidia_kernel_module=nvidia_kernel_module(root),
        interfaces=_interfaces(),
        default_route_interface=default_route_interface(root),
        ib_devices=_ib_devices(root),
    )
