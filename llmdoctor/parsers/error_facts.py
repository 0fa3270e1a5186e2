"""Facts that error messages and log lines state, recorded with their provenance ("the error text").

"The detected CUDA version (10.1) mismatches the version that was used to compile PyTorch (11.3)" states
nvcc 10.1 and torch's CUDA 11.3; "found version 11040" the driver's maximum CUDA (11.4); NCCL's INFO/WARN
lines its version, the interfaces and InfiniBand devices it found, the transports it used and the host
names; ``lspci -vvv`` ACSCtl lines whether PCIe ACS redirects peer-to-peer traffic.  The owning checks then
decide from these facts as from any other.  Only what a line states is recorded; nothing is guessed.
"""

from __future__ import annotations

import re
from typing import Callable

from .. import data
from ._accumulator import Facts
from ._text import whole

NAME = "error_facts"
FROM_ERROR = "the error text"
FROM_NCCL = "NCCL's log"
FROM_LSPCI = "lspci -vvv"

_CUDA_MISMATCH = re.compile(r"The detected CUDA version \((\d+\.\d+)\) mismatches the version that was used to "
                            r"compile\s*PyTorch \((\d+\.\d+)\)")
_CUDA_MISMATCH2 = re.compile(r"Installed CUDA version (\d+\.\d+) does not match the version torch was compiled "
                             r"with (\d+\.\d+)")
_FOUND_VERSION = re.compile(r"\bfound version (\d{4,5})\b(?![.,]\d)")
_CUDA_DRIVER_VERSION = re.compile(r"NCCL INFO cudaDriverVersion (\d{4,5})\b")
_NCCL_VERSION = re.compile(r"NCCL version (\d+\.\d+\.\d+)")
_BOOTSTRAP = re.compile(r"NCCL INFO Bootstrap\s*: Using ([\w.:-]+?):([0-9a-f.:%\w]+)<")
_NET_SOCKET = re.compile(r"NET/Socket : Using ((?:\[\d+\][\w.-]+:[^\s<]+<\d+>\s*)+)")
_NET_IB = re.compile(r"NET/IB : Using ((?:\[\d+\][\w.-]+:\d+/\w+\s*)+)")
_NO_IB = re.compile(r"NET/IB : No device found")
_IFNAME = re.compile(r"NCCL INFO (NCCL_[A-Z_]+) set by environment to (\S+?)\.?$")
_VIA = re.compile(r"\bvia (P2P/IPC|P2P/CUMEM|P2P/direct pointer|P2P|SHM|NET/IB|NET/Socket|NET/\w+|CollNet)")
_HOST = re.compile(r"^\s*(?:\[[^\]]*\]:?\s*)?([A-Za-z][\w.-]*):\d+:\d+ \[\d+\] (?:NCCL|\S+ NCCL)")
_ACS = re.compile(r"ACSCtl:\s*SrcValid([+-]).*?ReqRedir([+-])\s*CmpltRedir([+-])")


def _mark(facts: Facts, key: str, source: str) -> None:
    facts.provenance.setdefault(key, source)


def _put(facts: Facts, part: str, key: str, value: object, source: str) -> None:
    target = getattr(facts, part)
    if value is None or key in target:
        return
    facts.put(target, key, value)
    _mark(facts, f"{'toolkit' if part == 'toolkit' else part}.{key}", source)


def _cuda_mismatch(line: str, facts: Facts) -> None:
    m = _CUDA_MISMATCH.search(line) or _CUDA_MISMATCH2.search(line)
    if m:
        _put(facts, "toolkit", "nvcc_version", m.group(1), FROM_ERROR)
        _put(facts, "torch", "cuda", m.group(2), FROM_ERROR)


def _driver_cuda(line: str, facts: Facts) -> None:
    m = _FOUND_VERSION.search(line)
    source = FROM_ERROR
    if m is None:
        m = _CUDA_DRIVER_VERSION.search(line)
        source = FROM_NCCL
    if m:
        v = whole(m.group(1))
        if v is None:
            return
        _put(facts, "driver", "cuda_version", data.cuda_version_text(v), source)


def _nccl_version(line: str, facts: Facts) -> None:
    m = _NCCL_VERSION.search(line)
    if m and "NCCL" in line:
        _put(facts, "torch", "nccl", m.group(1), FROM_NCCL)


def _add_interface(facts: Facts, name: str, address: str) -> None:
    known = facts.host.setdefault("interfaces", {})
    if name not in known:
        known[name] = address
        _mark(facts, "host.interfaces", FROM_NCCL)


def _interfaces(line: str, facts: Facts) -> None:
    m = _BOOTSTRAP.search(line)
    if m:
        _add_interface(facts, m.group(1), m.group(2))
    m = _NET_SOCKET.search(line)
    if m:
        for name, addr in re.findall(r"\[\d+\]([\w.-]+):([^\s<]+)<", m.group(1)):
            _add_interface(facts, name, addr)


def _ib(line: str, facts: Facts) -> None:
    m = _NET_IB.search(line)
    if m:
        devices = facts.host.setdefault("ib_devices", [])
        for dev in re.findall(r"\[\d+\]([\w.-]+):\d+/", m.group(1)):
            if dev not in devices:
                devices.append(dev)
        _mark(facts, "host.ib_devices", FROM_NCCL)
    elif _NO_IB.search(line) and "ib_devices" not in facts.host:
        facts.host["ib_devices"] = []
        _mark(facts, "host.ib_devices", FROM_NCCL)


def _nccl_env(line: str, facts: Facts) -> None:
    m = _IFNAME.search(line)
    if m:
        facts.add_env(m.group(1), m.group(2))
        _mark(facts, f"env.{m.group(1)}", FROM_NCCL)


def _transports(line: str, facts: Facts) -> None:
    if "NCCL INFO" not in line:
        return
    for t in _VIA.findall(line):
        seen = facts.host.setdefault("nccl_transports", [])
        if t not in seen:
            seen.append(t)
            _mark(facts, "host.nccl_transports", FROM_NCCL)


def _hostname(line: str, facts: Facts) -> None:
    m = _HOST.match(line)
    if m and not m.group(1).isdigit():
        hosts = facts.nccl_hosts
        if m.group(1) not in hosts:
            hosts.append(m.group(1))
        if "hostname" not in facts.host:
            facts.host["hostname"] = m.group(1)
            _mark(facts, "host.hostname", FROM_NCCL)


def _acs(line: str, facts: Facts) -> None:
    m = _ACS.search(line)
    if not m:
        return
    enabled = "+" in (m.group(1), m.group(2), m.group(3))
    if enabled or "pci_acs_enabled" not in facts.host:
        facts.host["pci_acs_enabled"] = enabled or facts.host.get("pci_acs_enabled", False)
        _mark(facts, "host.pci_acs_enabled", FROM_LSPCI)


RULES: tuple[Callable[[str, Facts], None], ...] = (
    _cuda_mismatch, _driver_cuda, _nccl_version, _interfaces, _ib, _nccl_env, _transports, _hostname, _acs)


def parse(lines: list[str], facts: Facts) -> None:
    before = len(facts.provenance)
    for line in lines:
        for rule in RULES:
            rule(line, facts)
    if len(facts.provenance) > before:
        facts.saw(NAME)
