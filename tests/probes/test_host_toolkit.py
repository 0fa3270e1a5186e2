"""Host and toolkit probes on fake /proc, /sys and CUDA trees (and once on this machine)."""

import os
import stat

import pytest

from llmdoctor.probes import host, toolkit
from llmdoctor.probes.env import probe_env


def _write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_nvidia_gpus_on_the_pci_bus_are_counted_without_their_audio_functions(tmp_path):
    _write(tmp_path, "sys/bus/pci/devices/0000:18:00.0/vendor", "0x10de\n")
    _write(tmp_path, "sys/bus/pci/devices/0000:18:00.0/class", "0x030200\n")
    _write(tmp_path, "sys/bus/pci/devices/0000:18:00.1/vendor", "0x10de\n")
    _write(tmp_path, "sys/bus/pci/devices/0000:18:00.1/class", "0x040300\n")  # HDMI audio
    _write(tmp_path, "sys/bus/pci/devices/0000:00:02.0/vendor", "0x8086\n")
    _write(tmp_path, "sys/bus/pci/devices/0000:00:02.0/class", "0x030000\n")
    assert host.count_nvidia_pci(tmp_path) == 1


def test_kernel_module_version(tmp_path):
    _write(tmp_path, "proc/driver/nvidia/version",
           "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\nGCC version:  gcc version 12.3.0\n")
    assert host.nvidia_kernel_module(tmp_path) == "535.104.05"
    _write(tmp_path / "b", "proc/driver/nvidia/version",
           "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.124.06  Release Build\n")
    assert host.nvidia_kernel_module(tmp_path / "b") == "570.124.06"


@pytest.mark.parametrize("files, env, expected", [
    ({".dockerenv": ""}, {}, "docker"),
    ({"run/.containerenv": ""}, {}, "podman"),
    ({}, {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, "kubernetes"),
    ({}, {"APPTAINER_CONTAINER": "/x.sif"}, "apptainer"),
    ({"proc/1/cgroup": "0::/kubepods/burstable/pod1/abc\n"}, {}, "kubernetes"),
    ({"proc/1/cgroup": "0::/init.scope\n"}, {}, None),
])
def test_container_detection(tmp_path, files, env, expected):
    for rel, text in files.items():
        _write(tmp_path, rel, text)
    assert host.detect_container(tmp_path, env) == expected


def test_default_route_interface(tmp_path):
    _write(tmp_path, "proc/net/route",
           "Iface\tDestination\tGateway\tFlags\n"
           "docker0\t000011AC\t00000000\t0001\n"
           "ens5\t00000000\t0100000A\t0003\n")
    assert host.default_route_interface(tmp_path) == "ens5"


def test_this_machine():
    h = host.probe_host()
    assert h.cpu_count and h.ram_total and h.shm_total is not None
    assert h.interfaces and any(i.is_loopback for i in h.interfaces)


linux = pytest.mark.skipif(not os.path.exists("/proc/meminfo"), reason="Linux /proc")


@linux
def test_interfaces_and_memory_on_this_machine_are_what_psutil_reports():
    """getifaddrs(3) and /proc/meminfo read directly give psutil's answers (psutil is the oracle)."""
    from pathlib import Path

    import psutil

    assert host._linux_interfaces() == host._psutil_interfaces()
    total, available, swap = host._meminfo(Path("/"))
    assert total == psutil.virtual_memory().total and swap == psutil.swap_memory().total
    assert available is not None and abs(available - psutil.virtual_memory().available) < 256 * 2**20


def test_memory_is_read_from_the_probed_root(tmp_path):
    _write(tmp_path, "proc/meminfo", "MemTotal:       16318452 kB\nMemFree:  1000 kB\n"
                                     "MemAvailable:   12000000 kB\nSwapTotal:  2097148 kB\n")
    h = host.probe_host(tmp_path)
    assert (h.ram_total, h.ram_available, h.swap_total) == (16318452 * 1024, 12000000 * 1024, 2097148 * 1024)


@linux
def test_the_host_probe_does_not_import_psutil_on_linux():
    import subprocess
    import sys

    code = ("import sys; from llmdoctor.probes import host; h = host.probe_host(); "
            "print(bool(h.ram_total and h.interfaces), 'psutil' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.split() == ["True", "False"]


@pytest.mark.parametrize("text, version", [
    ("nvcc: NVIDIA (R) Cuda compiler driver\nCuda compilation tools, release 12.1, V12.1.105\nBuild cuda_12.1.r12.1/compiler.32688072_0\n", "12.1"),
    ("Cuda compilation tools, release 11.5, V11.5.119", "11.5"),
    ("garbage", None),
])
def test_nvcc_version_parsing(text, version):
    assert toolkit.parse_nvcc_version(text) == version


def _fake_nvcc(root, release):
    nvcc = _write(root, "bin/nvcc", f"#!/bin/sh\necho 'Cuda compilation tools, release {release}, V{release}.1'\n")
    nvcc.chmod(nvcc.stat().st_mode | stat.S_IEXEC)
    return nvcc


def test_nvcc_found_like_cpp_extension_does(tmp_path):
    home = tmp_path / "cuda-12.4"
    _fake_nvcc(home, "12.4")
    _write(home, "version.json", '{"cuda": {"name": "CUDA SDK", "version": "12.4.131"}}')
    other = tmp_path / "cuda-11.8"
    _fake_nvcc(other, "11.8")
    _write(other, "version.txt", "CUDA Version 11.8.89\n")
    tk = toolkit.probe_toolkit(environ={"CUDA_HOME": str(home), "PATH": str(other / "bin")}, search=str(tmp_path))
    assert (tk.nvcc_path, tk.nvcc_version, tk.nvcc_source) == (str(home / "bin" / "nvcc"), "12.4", "CUDA_HOME")
    assert [(i.path.rsplit("/", 1)[1], i.version) for i in tk.installs] == [("cuda-11.8", "11.8"), ("cuda-12.4", "12.4")]
    tk = toolkit.probe_toolkit(environ={"PATH": str(other / "bin")}, search=str(tmp_path / "none"))
    assert (tk.nvcc_version, tk.nvcc_source) == ("11.8", "PATH")


def test_env_is_allow_listed_and_redacted():
    env = probe_env({"NCCL_DEBUG": "WARN", "HOME": "/root", "HF_TOKEN": "hf_secret", "AWS_SECRET_ACCESS_KEY": "x",
                     "CUDA_VISIBLE_DEVICES": "0,1", "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
                     "NCCL_IB_AUTH_KEY": "abc"})
    assert env == {"CUDA_VISIBLE_DEVICES": "0,1", "HF_TOKEN": "<redacted>", "NCCL_DEBUG": "WARN",
                   "NCCL_IB_AUTH_KEY": "<redacted>", "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}
