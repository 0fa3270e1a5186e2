"""Package facts for the packages.* checks: requirement evaluation for the TARGET interpreter,
local version tags, error-text patterns.  Pure functions of the snapshot and data/packages.json."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from .. import data
from ..snapshot import Distribution, Driver, Gpu, Host, Packages, Python, Torch, normalize_name
from ..frozen import frozen

MARKER_VARS = ("python_version", "python_full_version", "implementation_name", "platform_python_implementation",
               "sys_platform", "platform_system", "os_name", "platform_machine", "platform_release",
               "implementation_version", "platform_version", "extra")


@frozen
class View:
    """The snapshot parts the packages.* checks read (each check builds it from its own parameters)."""

    packages: Packages | None
    torch: Torch | None = None
    python: Python | None = None
    host: Host | None = None
    driver: Driver | None = None
    gpus: tuple[Gpu, ...] | None = None
    errors: tuple[str, ...] = ()


def table(name: str) -> Any:
    return data.load("packages")[name]


def dists(snap: View) -> tuple[Distribution, ...]:
    return snap.packages.distributions if snap.packages is not None else ()


def by_name(snap: View) -> dict[str, list[Distribution]]:
    out: dict[str, list[Distribution]] = {}
    for d in dists(snap):
        out.setdefault(normalize_name(d.name), []).append(d)
    return out


def parse_version(text: str | None) -> Version | None:
    if not text:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


def variant_of(tag: str | None) -> tuple[str, int | None] | None:
    """('cu', 121) | ('cpu', None) | ('rocm', None) for a local tag that names a torch variant."""
    if not tag:
        return None
    m = re.match(r"cu(\d{2,3})(?![\d])", tag)
    if m:
        return "cu", int(m.group(1))
    if tag.startswith("cpu"):
        return "cpu", None
    if tag.startswith("rocm"):
        return "rocm", None
    return None


def pypi_variant(snap: View, key: str, version: str | None) -> tuple[str, int | None] | None:
    """('cu', None) for an untagged torch/torchvision/torchaudio on Linux x86_64 (PyPI's CUDA builds)."""
    row = table("pypi_default_variant")
    if not version or "+" in version or key not in row["packages"]:
        return None
    env = marker_env(snap)
    if env.get("platform_system") == row["platform_system"] and env.get("platform_machine") == row["platform_machine"]:
        return "cu", None
    return None


def cuda_major(n: int | None) -> int | None:
    if n is None:
        return None
    return n // 10 if n < 1000 else n // 100


# --------------------------------------------------------------------------- markers for the target


def marker_env(snap: View) -> dict[str, str]:
    """The PEP 508 environment of the TARGET interpreter, from the snapshot (keys we cannot know are absent)."""
    env: dict[str, str] = {"extra": ""}
    py = snap.python
    if py is not None and py.version:
        parts = py.version.split(".")
        env["python_version"] = ".".join(parts[:2])
        env["python_full_version"] = py.version
        env["implementation_version"] = py.version
    if py is not None and py.implementation:
        impl = py.implementation.lower()
        env["implementation_name"] = impl
        env["platform_python_implementation"] = {"cpython": "CPython", "pypy": "PyPy"}.get(impl, py.implementation)
    host = snap.host
    system = host.os if host is not None and host.os else None
    if system is None and snap.driver is not None and snap.driver.platform:
        system = {"linux": "Linux", "windows": "Windows"}.get(snap.driver.platform)
    if system:
        env["platform_system"] = system
        env["sys_platform"] = {"Linux": "linux", "Windows": "win32", "Darwin": "darwin"}.get(system, system.lower())
        env["os_name"] = "nt" if system == "Windows" else "posix"
    if host is not None and host.arch:
        env["platform_machine"] = host.arch
    if host is not None and host.kernel:
        env["platform_release"] = host.kernel
    return env


def _marker_vars(marker: Marker) -> set[str]:
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, (list, tuple)):
            for n in node:
                walk(n)
        elif type(node).__name__ == "Variable":
            names.add(str(node.value))

    walk(getattr(marker, "_markers", []))
    if not names:  # private layout changed: fall back to the text
        names = {v for v in MARKER_VARS if re.search(rf"\b{v}\b", str(marker))}
    return names


@frozen
class Req:
    dist: Distribution
    text: str
    req: Requirement | None  # None: not a valid PEP 508 string
    applies: bool | None  # None: its marker needs a fact the snapshot lacks


@functools.lru_cache(maxsize=8192)
def _parse(text: str) -> Requirement | None:
    """One PEP 508 string parsed once per run (several checks walk the same requirements)."""
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


_ONLY_EXTRA = re.compile(r";[^;]*\bextra\s*==")


def _optional_extra(text: str) -> bool:
    """Whether a requirement string belongs to an optional extra (``...; extra == "dev"``), read off the text.

    Nine in ten Requires-Dist lines are extras; pip check ignores them, and so do we, without paying
    for a PEP 508 parse of each (a marker with ``or`` may apply without the extra: it is parsed).
    """
    return _ONLY_EXTRA.search(text) is not None and " or " not in text.split(";", 1)[1]


def requirements(dist: Distribution, env: dict[str, str]) -> list[Req]:
    """The distribution's own requirements (no extras, like pip check) for the target environment."""
    out = []
    for text in dist.requires:
        if _optional_extra(text):
            continue
        req = _parse(text)
        if req is None:
            out.append(Req(dist, text, None, None))
            continue
        applies: bool | None = True
        if req.marker is not None:
            needed = _marker_vars(req.marker)
            if "extra" in needed and re.search(r"\bextra\s*==", str(req.marker)) and " or " not in str(req.marker):
                applies = False  # an optional extra: pip check ignores these too
            elif needed - set(env):
                applies = None
            else:
                try:
                    applies = req.marker.evaluate(env)
                except Exception:  # noqa: BLE001 - a marker packaging cannot evaluate
                    applies = None
        out.append(Req(dist, text, req, applies))
    return out


def contains(req: Requirement, version: str) -> bool | None:
    """Whether ``version`` satisfies ``req`` (pre-releases allowed, like pip check); None if not PEP 440."""
    if parse_version(version) is None:
        return None
    return req.specifier.contains(version, prereleases=True)


def torch_dist(snap: View) -> Distribution | None:
    found = by_name(snap).get("torch")
    return found[0] if found else None


def torch_version(snap: View) -> str | None:
    """The torch that imports (probe), else the torch distribution's version."""
    t = snap.torch
    if t is not None and t.installed and t.version and not t.import_error:
        return t.version
    d = torch_dist(snap)
    if d is not None:
        return d.version
    if t is not None and t.version:
        return t.version
    return None


def requires_torch(dist: Distribution, env: dict[str, str]) -> list[Req]:
    return [r for r in requirements(dist, env) if r.req is not None and normalize_name(r.req.name) == "torch"
            and r.applies is not False]


# --------------------------------------------------------------------------- error texts


def all_texts(snap: View) -> list[tuple[str, str]]:
    """(where, text): dump/probe error texts and everything the extension imports said."""
    out = [("error", t) for t in error_texts(snap)]
    if len(snap.errors) > 1:
        # a dump parser may hand over a multi-line warning line by line: also look at them together
        out.append(("error", "\n".join(snap.errors)))
    t = snap.torch
    if t is not None and t.extensions:
        for e in t.extensions:
            if e.error:
                out.append((e.name, e.error))
            out += [(e.name, w) for w in e.warnings]
    return out


def error_texts(snap: View) -> list[str]:
    """Error and warning texts seen: the torch probe's, and any from a dump."""
    texts = list(snap.errors)
    t = snap.torch
    if t is not None:
        texts += [x for x in (t.import_error, t.cuda_error) if x]
        texts += list(t.warnings)
    return texts


def pattern(pid: str) -> dict[str, Any]:
    for row in table("error_patterns")["rows"]:
        if row["id"] == pid:
            return dict(row)
    raise KeyError(pid)


def match(pid: str, text: str) -> re.Match[str] | None:
    return re.search(pattern(pid)["pattern"], text, re.IGNORECASE | re.DOTALL)


def explain(text: str) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The first error pattern that matches ``text``: (row, named groups)."""
    for row in table("error_patterns")["rows"]:
        m = re.search(row["pattern"], text, re.IGNORECASE | re.DOTALL)
        if m:
            return row, {k: v for k, v in m.groupdict().items() if v is not None}
    return None


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def fmt(template: str, groups: Mapping[str, str]) -> str:
    return template.format_map(_Missing(groups))


def remedy_for(row: Mapping[str, Any], groups: Mapping[str, str]) -> tuple[str, list[str]]:
    """(text, commands) of an error pattern's fix; a command whose placeholder is unknown is left out."""
    commands = []
    for template in row.get("commands", ()):
        keys = re.findall(r"\{(\w+)\}", template)
        if all(groups.get(k) for k in keys):
            commands.append(template.format_map(dict(groups)))
    return fmt(row["fix"], groups), commands


def is_library(module: str) -> bool:
    """A shared library pip wheels or the system ship (libcudnn*, libcublas*, torch's libc10/libtorch*), not an
    extension module of a Python package."""
    prefixes = [row["prefix"] for row in table("shared_libraries")["rows"]] + ["libc10", "libtorch", "libcuda"]
    return module not in table("extension_packages")["map"] and module.startswith(tuple(prefixes))


def distribution_for(module: str, cuda_major: int | None = None) -> str | None:
    """The distribution to reinstall for a module the torch probe imported, or for a shared library named in an
    error: ``flash_attn_2_cuda`` -> flash-attn, ``libcudnn_cnn_train`` -> nvidia-cudnn-cu12.  None when no
    distribution is known to ship it (a system library): never a library name as a pip requirement."""
    known = table("extension_packages")["map"].get(module)
    if known:
        return str(known)
    if module.startswith("lib"):
        for row in table("shared_libraries")["rows"]:
            if module.startswith(row["prefix"]):
                return str(row["wheel"]).format(cuda=cuda_major) if cuda_major else None
        return None
    return module if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", module) else None


def first_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.strip().split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def gpu_host(snap: View) -> bool | None:
    if snap.gpus:
        return True
    if snap.host is not None and snap.host.nvidia_pci_devices:
        return True
    if snap.gpus == ():
        return False
    return None


def names(items: Iterable[Distribution]) -> list[str]:
    return [f"{d.name} {d.version}" for d in items]
