"""NCCL rules shared by the nccl.* checks and the NCCL fix: pure functions of values and data tables.

- ``Change``: one variable to set or unset; the checks' remedies and ``llmdoctor fix nccl`` / ``llmdoctor
  env`` are built from the same changes, so every command a check suggests is in the fix's output.
- ``recommended_interface``, ``p2p_capable``, ``nvswitch_like``: hardware facts both sides judge by.

- ``match_filter``: NCCL's interface/HCA filter syntax (prefix, ``^`` exclude, ``=`` exact, comma list),
  as implemented by NCCL's ``parseStringList``/``matchIfList`` (src/misc/utils.cc) and documented in
  env.rst (NCCL_SOCKET_IFNAME, NCCL_IB_HCA).
- ``validate``: a variable's value against its row in data/nccl_env.json.
- ``launch``: what the launcher variables say about the job (ranks, nodes).
"""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .. import data
from ..snapshot import Gpu, GpuLink, Host
from . import derived
from ..frozen import frozen

VIRTUAL_PREFIXES = ("docker", "veth", "br-", "virbr", "cni", "flannel", "cali", "vxlan", "tun", "tap", "kube")


# --------------------------------------------------------------------------- data


def variables() -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in data.load("nccl_env")["variables"]}


def deprecated() -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in data.load("nccl_env")["deprecated"]}


def torch_renames() -> list[dict[str, Any]]:
    return list(data.load("nccl_env")["torch_renames"]["renames"])


def torch_rename_first() -> str:
    return str(data.load("nccl_env")["torch_renames"]["first_torch"])


def reads_new_torch_names(version: str | None) -> bool | None:
    """Whether a torch of this version reads the TORCH_NCCL_* names (2.2 and newer); None: unknown version."""
    tv = data.version(version)
    first = data.version(torch_rename_first())
    return None if tv is None or first is None else tv >= first


def torch_old_names() -> set[str]:
    return {r["old"] for r in torch_renames()}


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    hits = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.8)
    return hits[0] if hits else None


# --------------------------------------------------------------------------- filters


@frozen
class Filter:
    exclude: bool
    exact: bool
    entries: tuple[tuple[str, str | None], ...]  # (name or prefix, ":port..." suffix or None)


def parse_filter(value: str) -> Filter:
    """NCCL's filter string: ``[^][=]name[:port],name2...`` (src/misc/utils.cc parseStringList)."""
    text = value.strip()
    exclude = text.startswith("^")
    if exclude:
        text = text[1:]
    exact = text.startswith("=")
    if exact:
        text = text[1:]
    entries = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, port = part.partition(":")
        entries.append((name, port or None))
    return Filter(exclude, exact, tuple(entries))


def entry_matches(name: str, entry: str, exact: bool) -> bool:
    return name == entry if exact else name.startswith(entry)


def match_filter(value: str, names: Iterable[str]) -> list[str]:
    """The names NCCL would select with this filter (without the default lo/docker avoidance)."""
    f = parse_filter(value)
    out = []
    for name in names:
        hit = any(entry_matches(name, e, f.exact) for e, _ in f.entries)
        if hit != f.exclude:
            out.append(name)
    return out


def overbroad_entries(value: str, names: Iterable[str]) -> dict[str, list[str]]:
    """Prefix entries (no ``=``) that also select other names: ``mlx5_1`` -> [mlx5_1, mlx5_10]."""
    f = parse_filter(value)
    if f.exact or f.exclude:
        return {}
    names = list(names)
    out = {}
    for entry, _ in f.entries:
        hits = [n for n in names if n.startswith(entry)]
        if entry in names and len(hits) > 1:
            out[entry] = hits
    return out


def is_virtual(name: str) -> bool:
    return name.startswith(VIRTUAL_PREFIXES)


# --------------------------------------------------------------------------- values


@frozen
class Problem:
    name: str
    value: str
    expected: str
    consequence: str


def parse_int(value: str) -> int | None:  # noqa: C901 - strtoll's forms, one branch each
    """NCCL reads integer parameters with strtoll(value, &end, 0) and rejects trailing characters:
    decimal, 0x hex, 0 octal, leading blanks allowed."""
    text = value.lstrip()
    if text != text.rstrip():
        return None
    if len(text) > 40:  # beyond 64 bits: strtoll saturates at LLONG_MIN/LLONG_MAX
        return (-1 if text.startswith("-") else 1) * (2**63 - 1) if re.fullmatch(r"[+-]?\d+", text) else None
    try:
        return int(text, 0)
    except ValueError:
        if re.fullmatch(r"[+-]?0\d+", text):
            try:
                return int(text, 8)
            except ValueError:
                return None
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        return None


def switch_on(value: str | None) -> bool:
    """A 'define and set to 1' switch: on only when its integer value is exactly 1."""
    return value is not None and parse_int(value) == 1


def _list_tokens(value: str, per_function: bool) -> list[str]:
    """Tokens of a comma list (with ``^`` and, since 2.24, ``func:list;func:list`` groups)."""
    tokens = []
    for group in value.split(";") if per_function else [value]:
        group = group.strip()
        if per_function and ":" in group:
            group = group.split(":", 1)[1]
        group = group.strip()
        if group.startswith("^"):
            group = group[1:]
        tokens += [t.strip() for t in group.split(",") if t.strip()]
    return tokens


def validate(name: str, value: str, row: Mapping[str, Any]) -> Problem | None:
    spec = row.get("value")
    if not spec:
        return None
    kind = spec["type"]
    if kind == "switch":
        n = parse_int(value)
        if n not in (0, 1):
            return Problem(name, value, "1 to switch it on (0 or unset for off)",
                           "only the integer value 1 switches it on, so this value leaves it off")
        return None
    if kind == "int":
        n = parse_int(value)
        lo, hi = spec.get("min"), spec.get("max")
        rng = ("an integer" + (f" ≥ {lo}" if lo is not None and hi is None else "")
               + (f" from {lo} to {hi}" if lo is not None and hi is not None else "")
               + (f" ≤ {hi}" if hi is not None and lo is None else ""))
        if n is None:
            return Problem(name, value, rng, "NCCL cannot parse it and falls back to its default")
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            return Problem(name, value, rng, "it is outside the documented range")
        return None
    if kind == "enum":
        allowed = spec["values"]
        cs = spec.get("case_sensitive", True)
        ok = value.strip() in allowed if cs else value.strip().upper() in [a.upper() for a in allowed]
        if not ok:
            return Problem(name, value, "one of " + ", ".join(allowed),
                           "NCCL does not recognise it (ignored or an init error, depending on the variable)")
        return None
    if kind == "level":
        allowed = spec["values"]
        v = value.strip()
        if v in allowed:
            return None
        if re.fullmatch(r"\d+", v):
            return None  # legacy integers 0-4 (>4 = SYS)
        hint = ""
        if v.upper() in allowed:
            hint = f" (levels are case-sensitive: write {v.upper()})"
        return Problem(name, value, "one of " + ", ".join(allowed) + " (case-sensitive) or a legacy integer 0-4" + hint,
                       "NCCL silently ignores an unrecognised level and auto-selects")
    if kind == "list":
        allowed = {a.upper(): a for a in spec["values"]}
        bad = [t for t in _list_tokens(value, spec.get("per_function", False)) if t.upper() not in allowed]
        if bad:
            return Problem(name, value, "a comma-separated list of " + ", ".join(spec["values"])
                           + (" (a leading ^ excludes)" if spec.get("exclude_prefix") else ""),
                           f"unknown item(s) {', '.join(bad)}"
                           + (" (since NCCL 2.24 an unexpected token fails init)" if name in ("NCCL_ALGO", "NCCL_PROTO") else ""))
        return None
    return None


# --------------------------------------------------------------------------- launch


@frozen
class Launch:
    world_size: int | None
    local_world_size: int | None
    nodes: int | None  # known node count
    master_addr: str | None

    @property
    def multi_node(self) -> bool | None:
        if self.nodes is not None:
            return self.nodes > 1
        if self.world_size is not None and self.local_world_size is not None and self.local_world_size > 0:
            return self.world_size > self.local_world_size
        return None


def _int(env: Mapping[str, str], name: str) -> int | None:
    v = env.get(name)
    if v is None:
        return None
    v = v.strip()
    return int(v) if re.fullmatch(r"\d+", v) else None


def launch(env: Mapping[str, str]) -> Launch:
    nodes = _int(env, "SLURM_JOB_NUM_NODES") or _int(env, "SLURM_NNODES")
    if nodes is None and _int(env, "NNODES") is not None:
        nodes = _int(env, "NNODES")
    return Launch(world_size=_int(env, "WORLD_SIZE"), local_world_size=_int(env, "LOCAL_WORLD_SIZE"),
                  nodes=nodes, master_addr=env.get("MASTER_ADDR"))


def ib_names(devices: Iterable[str]) -> list[str]:
    return sorted(devices)


# --------------------------------------------------------------------------- changes (remedies as data)


@frozen
class Change:
    """Set (``value`` a string) or unset (``value`` None) one variable, and why."""

    name: str
    value: str | None
    why: str = ""

    @property
    def command(self) -> str:
        """The POSIX shell line a user copies."""
        if self.value is None:
            return f"unset {self.name}"
        return f"export {self.name}={shlex.quote(self.value)}"


def commands(changes: Iterable[Change]) -> list[str]:
    return [c.command for c in changes]


def deprecated_changes(name: str, value: str, row: Mapping[str, Any], env: Mapping[str, str]) -> list[Change]:
    """A removed or renamed NCCL variable: unset it; carry its value to the replacement when that means the same."""
    replacement = (row.get("replacement") or "").split(" ")[0] or None
    out = [Change(name, None, f"{name} is {row['status']}" + (f"; replaced by {replacement}" if replacement else ""))]
    if row.get("carry_value") and replacement and replacement not in env:
        out.append(Change(replacement, value, f"replaces {name} (same value)"))
    return out


def misspelled_changes(name: str, value: str, near: str | None, env: Mapping[str, str]) -> list[Change]:
    """A name NCCL never reads: unset it, and set what it meant to set."""
    out = [Change(name, None, f"{name} is not an NCCL variable" + (f" (misspelled {near}?)" if near else ""))]
    if near and near not in env:
        out.append(Change(near, value, f"what {name} meant to set"))
    return out


def level_case_change(name: str, value: str, row: Mapping[str, Any]) -> Change | None:
    """A topology level written in the wrong case ("nvl"): NCCL ignores it; the upper-case one is read."""
    spec = row.get("value") or {}
    if spec.get("type") != "level":
        return None
    text = value.strip()
    if text in spec["values"] or text.upper() not in spec["values"]:
        return None
    return Change(name, text.upper(), f"NCCL compares levels case-sensitively: {text!r} is ignored")


def torch_rename_changes(old: str, new: str, value: str, env: Mapping[str, str]) -> list[Change]:
    out = [Change(old, None, f"deprecated since torch 2.2; torch reads {new}")]
    if new not in env:
        out.append(Change(new, value, f"the current name of {old}"))
    return out


# --------------------------------------------------------------------------- hardware facts


def usable_interface(host: Host, name: str) -> bool:
    """Up, with an address, and neither loopback nor a container/virtual interface."""
    for i in host.interfaces or ():
        if i.name == name:
            return bool(i.addresses) and i.is_up is not False and not i.is_loopback and not is_virtual(i.name)
    return False


def recommended_interface(host: Host | None) -> str | None:
    """The interface carrying the default route, unless it is loopback/virtual; else the only real one up."""
    if host is None or not host.interfaces:
        return None
    real = [i.name for i in host.interfaces if usable_interface(host, i.name)]
    if host.default_route_interface in real:
        return host.default_route_interface
    return real[0] if len(real) == 1 else None


def ifname_change(var: str, host: Host | None) -> Change:
    """What to do about an interface filter that selects nothing usable: name the right interface, or unset it."""
    best = recommended_interface(host)
    if best is None:
        return Change(var, None, "let NCCL choose (or set it to an interface from `ip -o link`)")
    exact = "=" if var == "NCCL_SOCKET_IFNAME" else ""
    return Change(var, f"{exact}{best}",
                  f"{best} carries the default route ('=' means exactly this name, not every name starting with it)"
                  if exact else f"{best} carries the default route")


def hca_change(devices: Iterable[str]) -> Change:
    """NCCL_IB_HCA for the IB devices present, with ``=`` (exact names); unset when there is none."""
    names = sorted(devices)
    if not names:
        return Change("NCCL_IB_HCA", None, "this host has no InfiniBand device: NCCL_IB_HCA selects nothing")
    return Change("NCCL_IB_HCA", "=" + ",".join(names),
                  "the InfiniBand devices in /sys/class/infiniband ('=' avoids mlx5_1 also matching mlx5_10)")


def hca_ok(value: str | None, devices: Iterable[str]) -> bool:
    """Whether an NCCL_IB_HCA filter selects some of these devices, each entry exactly one."""
    names = list(devices)
    return bool(value) and bool(match_filter(value or "", names)) and not overbroad_entries(value or "", names)


def p2p_capable(gpu_links: tuple[GpuLink, ...] | None) -> bool | None:
    """Whether some GPU pair supports peer-to-peer (None: the topology is unknown)."""
    if gpu_links is None:
        return None
    return any(link.p2p_read or link.level == "NVLINK" for link in gpu_links)


def nvswitch_like(gpus: tuple[Gpu, ...] | None, gpu_links: tuple[GpuLink, ...] | None) -> bool | None:
    """NVLink SHARP needs NVSwitch-connected Hopper or newer (heuristic: >= 4 GPUs, all pairs NVLink, CC >= 9.0)."""
    if gpus is None or gpu_links is None:
        return None
    if len(gpus) < 4 or not gpu_links:
        return False
    ccs = [data.cc_tuple(derived.gpu_cc(g)[0]) for g in gpus]
    return all(link.level == "NVLINK" for link in gpu_links) and all(c is not None and c >= (9, 0) for c in ccs)


def verbose_debug(env: Mapping[str, str]) -> list[str]:
    """The NCCL_DEBUG / NCCL_DEBUG_SUBSYS settings that turn on verbose logging ("NCCL_DEBUG=INFO")."""
    level = (env.get("NCCL_DEBUG") or "").strip().upper()
    subsys = (env.get("NCCL_DEBUG_SUBSYS") or "").strip().upper()
    out = []
    if level in ("INFO", "TRACE"):
        out.append(f"NCCL_DEBUG={env['NCCL_DEBUG']}")
    if not subsys.startswith("^") and "ALL" in [s.strip() for s in subsys.split(",")]:
        out.append(f"NCCL_DEBUG_SUBSYS={env['NCCL_DEBUG_SUBSYS']}")
    return out


DEBUG_WARN = Change("NCCL_DEBUG", "WARN", "print NCCL errors and warnings only (INFO/TRACE are for debugging)")
