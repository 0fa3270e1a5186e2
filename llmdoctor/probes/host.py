"""Host probe: OS, memory, /dev/shm, ulimits, container, NVIDIA PCI devices, network interfaces.

Paths under /proc and /sys are read relative to ``root`` so tests can point the probe at a fake tree.
"""

from __future__ import annotations

import os
import platform
import re
import socket
import sys
from pathlib import Path
from typing import Any

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
    """Every network interface with its IPv4/IPv6 addresses and whether it is running.

    On Linux from getifaddrs(3) itself (what psutil's ``net_if_addrs`` reads; ``is_up`` is IFF_RUNNING, as
    psutil's ``net_if_stats().isup``), without importing psutil (a sixth of a warm run's start-up);
    elsewhere, or if that call fails, through psutil.
    """
    found = _linux_interfaces() if sys.platform.startswith("linux") else None
    return found if found is not None else _psutil_interfaces()


def _psutil_interfaces() -> tuple[NetInterface, ...] | None:
    try:
        import psutil

        addrs = psutil.net_if_addrs()
        stats = psutil.net_if_stats()
    except Exception:
        return None
    found = {name: ([a.address for a in addrs[name] if a.family in (socket.AF_INET, socket.AF_INET6)],
                    stats[name].isup if name in stats else None) for name in addrs}
    return _as_interfaces(found)


def _as_interfaces(found: dict[str, tuple[list[str], bool | None]]) -> tuple[NetInterface, ...]:
    result = []
    for name in sorted(found):
        addresses, is_up = tuple(found[name][0]), found[name][1]
        loopback = name == "lo" or any(a.startswith("127.") or a == "::1" for a in addresses)
        result.append(NetInterface(name=name, is_up=is_up, is_loopback=loopback, addresses=addresses))
    return tuple(result)


_IFF_RUNNING = 0x40


def _linux_interfaces() -> tuple[NetInterface, ...] | None:
    """getifaddrs(3) through ctypes: (name, flags, address) of every entry; None if the call fails."""
    import ctypes

    class Ifaddrs(ctypes.Structure):
        pass

    Ifaddrs._fields_ = [("ifa_next", ctypes.POINTER(Ifaddrs)), ("ifa_name", ctypes.c_char_p),
                        ("ifa_flags", ctypes.c_uint), ("ifa_addr", ctypes.c_void_p), ("ifa_netmask", ctypes.c_void_p),
                        ("ifa_ifu", ctypes.c_void_p), ("ifa_data", ctypes.c_void_p)]
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        getifaddrs, freeifaddrs = libc.getifaddrs, libc.freeifaddrs
    except (OSError, AttributeError):
        return None
    getifaddrs.argtypes = [ctypes.POINTER(ctypes.POINTER(Ifaddrs))]
    freeifaddrs.argtypes = [ctypes.POINTER(Ifaddrs)]
    head = ctypes.POINTER(Ifaddrs)()
    if getifaddrs(ctypes.byref(head)) != 0:
        return None
    found: dict[str, tuple[list[str], bool | None]] = {}
    try:
        node = head
        while node:
            entry = node.contents
            name = (entry.ifa_name or b"").decode(errors="replace")
            addresses, _ = found.setdefault(name, ([], bool(entry.ifa_flags & _IFF_RUNNING)))
            address = _sockaddr_text(ctypes, entry.ifa_addr, name) if entry.ifa_addr else None
            if address:
                addresses.append(address)
            node = entry.ifa_next
    finally:
        freeifaddrs(head)
    for name, (addresses, up) in found.items():  # psutil lists a name's IPv4 addresses before its IPv6 ones
        found[name] = (sorted(addresses, key=lambda a: ":" in a), up)
    return _as_interfaces(found)


def _sockaddr_text(ctypes: Any, pointer: int, name: str) -> str | None:
    """The numeric text of an AF_INET/AF_INET6 sockaddr (IPv6 link-local with its %scope, as psutil writes it)."""
    family = ctypes.c_ushort.from_address(pointer).value
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, ctypes.string_at(pointer + 4, 4))
    if family == socket.AF_INET6:
        packed = ctypes.string_at(pointer + 8, 16)
        scope = ctypes.c_uint32.from_address(pointer + 24).value
        text = socket.inet_ntop(socket.AF_INET6, packed)
        return f"{text}%{name}" if scope else text
    return None


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


def _meminfo(root: Path) -> tuple[int | None, int | None, int | None]:
    """(total, available, swap total) in bytes, from /proc/meminfo as psutil reads them on Linux
    (available: MemAvailable); through psutil where there is no such file."""
    text = _read(root / "proc/meminfo")
    if text:
        kib = {k: int(v.split()[0]) * 1024 for k, _, v in (line.partition(":") for line in text.splitlines())
               if v.split() and v.split()[0].isdigit()}
        if "MemTotal" in kib and "MemAvailable" in kib:
            return kib["MemTotal"], kib["MemAvailable"], kib.get("SwapTotal")
    try:
        import psutil

        vm = psutil.virtual_memory()
    except Exception:
        return None, None, None
    try:
        swap: int | None = int(psutil.swap_memory().total)
    except Exception:
        swap = None
    return int(vm.total), int(vm.available), swap


def probe_host(root: Path = Path("/")) -> Host:
    ram_total, ram_available, swap = _meminfo(root)
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
        ram_total=ram_total,
        ram_available=ram_available,
        swap_total=swap,
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
