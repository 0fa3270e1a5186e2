"""The accumulator the format parsers fill, and its conversion to a Snapshot.

Several formats may describe the same fact; the first one to set it wins (parsers run in order of
reliability).  Facts nobody set stay unknown (None), so the checks that need them skip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..redact import redact_env, redact_value
from ..snapshot import (Distribution, Driver, Gpu, GpuLink, GpuProcess, Host, Meta, NetInterface, Packages, Python,
                        Snapshot, Toolkit, Torch, freeze_mapping, normalize_name)
from ..data import major_minor_text
from ._text import cuda_from_tag

MAX_ERRORS = 60
MAX_ERROR_CHARS = 1500
MAX_GPUS = 1024  # GPU indices and counts a dump states: more is not a host, it is a hostile or broken paste
MAX_NUMBER = 2**63  # a number beyond a 64-bit counter is not a fact a tool printed: left unknown
UNSET = object()


@dataclass
class Facts:
    understood: list[str] = field(default_factory=list)
    host: dict[str, Any] = field(default_factory=dict)
    python: dict[str, Any] = field(default_factory=dict)
    driver: dict[str, Any] = field(default_factory=dict)
    torch: dict[str, Any] = field(default_factory=dict)
    toolkit: dict[str, Any] = field(default_factory=dict)
    gpus: dict[int, dict[str, Any]] = field(default_factory=dict)
    gpu_count: int | None = None
    no_gpu: bool = False  # the dump says there is no NVIDIA GPU/driver
    links: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    packages: dict[str, dict[str, Any]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    env_seen: bool = False
    errors: list[str] = field(default_factory=list)
    provenance: dict[str, str] = field(default_factory=dict)  # fact -> where it was read (error text, NCCL log)
    nccl_hosts: list[str] = field(default_factory=list)  # host names NCCL's log lines carry
    packages_complete: bool = False  # a full listing (pip list / pip freeze / conda list, not cut) was parsed

    # -- recording ------------------------------------------------------------------
    def saw(self, fmt: str) -> None:
        if fmt not in self.understood:
            self.understood.append(fmt)

    @staticmethod
    def put(part: dict[str, Any], key: str, value: Any) -> None:
        """Set ``part[key]`` unless already known; None values are ignored (unknown)."""
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not abs(value) < MAX_NUMBER:
            return  # 10**5000 digits, inf, nan: not a fact
        if value is not None and key not in part:
            part[key] = value

    def gpu(self, index: int | None) -> dict[str, Any]:
        """GPU ``index``'s facts; an index no host has (None, negative, >= MAX_GPUS) gets a scratch dict."""
        if index is None or not 0 <= index < MAX_GPUS:
            return {}
        return self.gpus.setdefault(index, {})

    def set_gpu_count(self, n: int | None) -> None:
        if n is not None and 0 < n <= MAX_GPUS and (self.gpu_count is None or n > self.gpu_count):
            self.gpu_count = n

    def add_package(self, name: str, version: str | None, installer: str | None = None,
                    location: str | None = None, requires: tuple[str, ...] = ()) -> None:
        if not name or not version:
            return
        key = normalize_name(name)
        if key == "pytorch":  # conda's name for torch
            key, name = "torch", "torch"
        if key not in self.packages:
            self.packages[key] = {"name": name, "version": version, "installer": installer,
                                  "location": location, "requires": tuple(requires)}

    def add_env(self, name: str, value: str) -> None:
        self.env_seen = True
        self.env.setdefault(name, redact_env(name, value))

    def add_error(self, text: str) -> None:
        text = " ".join(text.split())
        if not text:
            return
        text = redact_value(text[:MAX_ERROR_CHARS])
        if text in self.errors or len(self.errors) >= MAX_ERRORS:
            return
        # keep the longer of two texts where one contains the other
        for i, old in enumerate(self.errors):
            if text in old:
                return
            if old in text:
                self.errors[i] = text
                return
        self.errors.append(text)

    @property
    def anything(self) -> bool:
        return bool(self.understood or self.errors)

    # -- conversion -------------------------------------------------------------------
    def to_snapshot(self, name: str, version: str | None, created_at: str | None) -> Snapshot:
        return Snapshot(
            meta=Meta(created_at=created_at, llmdoctor_version=version, source="dump", source_detail=name,
                      understood=tuple(self.understood),
                      provenance=freeze_mapping(self.provenance) if self.provenance else None),
            host=_host(self.host),
            python=Python(**self.python) if self.python else None,
            driver=Driver(**self.driver) if self.driver.get("version") or self.driver.get("cuda_version") else None,
            gpus=self._gpus(),
            gpu_links=tuple(GpuLink(a=a, b=b, **v) for (a, b), v in sorted(self.links.items())) or None,
            torch=self._torch(),
            toolkit=Toolkit(**self.toolkit) if self.toolkit.get("nvcc_version") else None,
            packages=Packages(interpreter=None, distributions=tuple(
                Distribution(name=p["name"], version=p["version"], location=p["location"],
                             requires=p["requires"], installer=p["installer"])
                for p in self.packages.values()), complete=self.packages_complete) if self.packages else None,
            env=freeze_mapping(self.env) if self.env_seen else None,
            errors=tuple(self.errors),
        )

    def _gpus(self) -> tuple[Gpu, ...] | None:
        if self.gpus or self.gpu_count:
            count = max([self.gpu_count or 0] + [i + 1 for i in self.gpus])
            out = []
            for i in range(count):
                g = dict(self.gpus.get(i, {}))
                procs = g.pop("processes", None)
                out.append(Gpu(index=i, processes=tuple(GpuProcess(**p) for p in procs) if procs is not None else None, **g))
            return tuple(out)
        if self.no_gpu:
            return ()
        return None

    def _torch(self) -> Torch | None:
        t = dict(self.torch)
        if t.get("installed") is False:
            return Torch(installed=False)
        version = t.get("version")
        pip = self.packages.get("torch")
        if version is None and pip is not None:
            version = pip["version"]
        if version is None:
            if t.get("cuda") and self.provenance.get("torch.cuda"):
                # an error message stated torch's CUDA ("...used to compile PyTorch (11.3)"), not its version
                return Torch(installed=True, cuda=t["cuda"], nccl=t.get("nccl"))
            return None
        if "cuda" not in t:
            tagged, cuda = cuda_from_tag(version)
            if tagged:
                t["cuda"] = cuda
            elif pip is not None and pip.get("cuda_build") is not None:
                t["cuda"] = pip["cuda_build"] or None
            elif "cpuonly" in self.packages:  # conda's cpuonly pins the CPU build of pytorch
                t["cuda"] = None
            else:
                runtime = next((p["version"] for k, p in self.packages.items()
                                if k.startswith("nvidia-cuda-runtime-cu")), None)
                if runtime:
                    t["cuda"] = major_minor_text(runtime, anywhere=True)
                else:
                    return None  # a CUDA or a CPU build? unknown, so no torch facts at all
        t["version"] = version
        t.pop("installed", None)
        if "arch_list" in t:
            t["arch_list"] = tuple(t["arch_list"])
        if "warnings" in t:
            t["warnings"] = tuple(t["warnings"])
        return Torch(installed=True, **t)


def _host(h: dict[str, Any]) -> Host | None:
    if not h:
        return None
    h = dict(h)
    if isinstance(h.get("interfaces"), dict):
        h["interfaces"] = tuple(NetInterface(name=n, addresses=(a,) if a else ())
                                for n, a in h["interfaces"].items())
    for key in ("ib_devices", "nccl_transports"):
        if isinstance(h.get(key), list):
            h[key] = tuple(h[key])
    return Host(**h)
