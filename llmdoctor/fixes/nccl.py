"""The NCCL environment for this machine, and the wider set ``llmdoctor env`` recommends.

Pure functions of the snapshot (the same facts the nccl.* checks judge): they return ``Action``s that
``fixes.shell.render`` turns into a script for any shell or format.
"""

from __future__ import annotations

import re

from ..facts import nccl_rules as N
from ..checks.nccl import _nvswitch_like, _p2p_capable, recommended_interface
from .. import data
from ..snapshot import Snapshot
from .shell import Action


def _torch_version(snap: Snapshot):
    t = snap.torch
    if t is None or not t.installed or not t.version:
        return None
    return data.version(t.version)


def nccl_actions(snap: Snapshot) -> list[Action]:
    """Unset wrong/deprecated/harmful NCCL variables, set their replacements and the recommended ones."""
    # names a shell cannot carry (possible in a pasted dump) are left out: no script could set or unset them
    env = {k: v for k, v in (snap.env or {}).items() if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) and "\x00" not in v}
    known = N.variables()
    dep = N.deprecated()
    torch_old = N.torch_old_names()
    actions: list[Action] = []
    setting: dict[str, Action] = {}

    def put(action: Action, override: bool = False) -> None:
        if action.value is None:
            actions.append(action)
        elif override or action.name not in setting:
            setting[action.name] = action

    # 1. wrong and deprecated NCCL names
    for name in sorted(k for k in env if k.startswith("NCCL_") and k not in torch_old):
        value = env[name]
        if name in dep:
            row = dep[name]
            repl = (row.get("replacement") or "").split(" ")[0] or None
            put(Action(name, None, f"{name} is {row['status']}" + (f"; replaced by {repl}" if repl else "")))
            if row.get("carry_value") and repl and repl not in env:
                put(Action(repl, value, f"replaces {name} (same value)"))
        elif (spec := known.get(name, {}).get("value") or {}).get("type") == "level" and value.strip() not in spec["values"] \
                and value.strip().upper() in spec["values"]:
            put(Action(name, value.strip().upper(), f"NCCL compares levels case-sensitively: {value.strip()!r} is ignored"))
        elif name not in known:
            near = N.did_you_mean(name, list(known))
            put(Action(name, None, f"{name} is not an NCCL variable" + (f" (misspelled {near}?)" if near else "")))
            if near and near not in env:
                put(Action(near, value, f"what {name} meant to set"))
    # 2. PyTorch's renamed variables
    tv = _torch_version(snap)
    first = data.version(N.torch_rename_first())
    new_names = tv is None or tv >= first
    for row in N.torch_renames():
        old, new = row["old"], row["new"]
        if old in env and new_names:
            put(Action(old, None, f"deprecated since torch 2.2; torch reads {new}"))
            if new not in env:
                put(Action(new, env[old], f"the current name of {old}"))
    # 3. transports switched off where the hardware would use them
    if N.switch_on(env.get("NCCL_P2P_DISABLE")) and _p2p_capable(snap):
        put(Action("NCCL_P2P_DISABLE", None, "these GPUs support peer-to-peer; disabling it routes GPU traffic through host memory"))
    ib = snap.host.ib_devices if snap.host else None
    if N.switch_on(env.get("NCCL_IB_DISABLE")) and ib:
        put(Action("NCCL_IB_DISABLE", None, "InfiniBand devices exist; disabling IB forces TCP sockets between nodes"))
    if N.switch_on(env.get("NCCL_SHM_DISABLE")) and snap.gpus is not None and len(snap.gpus) > 1:
        put(Action("NCCL_SHM_DISABLE", None, "shared memory is NCCL's intra-node path where P2P is not possible"))
    if env.get("NCCL_NVLS_ENABLE") is not None and N.parse_int(env["NCCL_NVLS_ENABLE"]) == 0 and _nvswitch_like(snap):
        put(Action("NCCL_NVLS_ENABLE", None, "NVSwitch-connected GPUs: NVLink SHARP speeds up all-reduce"))
    # 4. recommended settings for this machine
    iface = recommended_interface(snap)
    if iface and not _filter_ok(snap, env.get("NCCL_SOCKET_IFNAME")):
        put(Action("NCCL_SOCKET_IFNAME", f"={iface}",
                   f"{iface} carries the default route ('=' means exactly this name, not every name starting with it)"),
            override=True)
    if ib and not _hca_ok(env.get("NCCL_IB_HCA"), ib):
        put(Action("NCCL_IB_HCA", "=" + ",".join(sorted(ib)),
                   "the InfiniBand devices in /sys/class/infiniband ('=' avoids mlx5_1 also matching mlx5_10)"),
            override=True)
    aeh = "TORCH_NCCL_ASYNC_ERROR_HANDLING" if new_names else "NCCL_ASYNC_ERROR_HANDLING"
    if "TORCH_NCCL_ASYNC_ERROR_HANDLING" not in env and "NCCL_ASYNC_ERROR_HANDLING" not in env:
        put(Action(aeh, "1", "abort NCCL communicators and stop the process on errors or timeouts instead of hanging"))
    put(Action("NCCL_DEBUG", "WARN", "print NCCL errors and warnings only (INFO/TRACE are for debugging)"))
    unsets = [a for a in actions if a.value is None]
    unset_names = {a.name for a in unsets}
    sets = [a for a in setting.values() if a.name not in unset_names]
    return unsets + sets


def _filter_ok(snap: Snapshot, value: str | None) -> bool:
    """Whether the user's NCCL_SOCKET_IFNAME already selects a real interface that is up with an address."""
    if not value or snap.host is None or not snap.host.interfaces:
        return False
    by_name = {i.name: i for i in snap.host.interfaces}
    hits = N.match_filter(value, list(by_name))
    return any(by_name[h].addresses and by_name[h].is_up is not False and not by_name[h].is_loopback
               and not N.is_virtual(h) for h in hits)


def _hca_ok(value: str | None, devices) -> bool:
    if not value:
        return False
    return bool(N.match_filter(value, list(devices))) and not N.overbroad_entries(value, list(devices))


def allocator_action(snap: Snapshot) -> Action | None:
    """PYTORCH_(CUDA_)ALLOC_CONF=expandable_segments:True where the installed torch honours it."""
    env = snap.env or {}
    if "PYTORCH_CUDA_ALLOC_CONF" in env or "PYTORCH_ALLOC_CONF" in env:
        return None
    t = snap.torch
    tv = _torch_version(snap)
    if tv is None or t is None or not t.cuda or (snap.driver and snap.driver.platform == "windows"):
        return None
    table = data.load("alloc_conf")  # the facts memory.alloc-conf checks against
    since = next(o["since"] for o in table["options"] if o["key"] == "expandable_segments")
    if since and tv < data.version(since):
        return None
    # PYTORCH_ALLOC_CONF exists from 2.9, but its expandable_segments is ignored for CUDA until the fix
    generic = table["expandable_ignored_in_generic"]["fixed"]
    variables = table["variables"]
    name = variables["generic"] if tv >= data.version(generic) else variables["legacy"]
    return Action(name, "expandable_segments:True",
                  "lets the caching allocator grow segments instead of fragmenting memory (fewer out-of-memory errors)")


def env_actions(snap: Snapshot) -> list[Action]:
    """What ``llmdoctor env`` prints: the NCCL set (on hosts with NVIDIA GPUs), the allocator, device order."""
    actions: list[Action] = []
    if snap.gpus is None or len(snap.gpus) > 0:
        actions += nccl_actions(snap)
    alloc = allocator_action(snap)
    if alloc:
        actions.append(alloc)
    if "CUDA_DEVICE_ORDER" not in (snap.env or {}):
        actions.append(Action("CUDA_DEVICE_ORDER", "PCI_BUS_ID",
                              "number GPUs as nvidia-smi does (CUDA's default puts the fastest first)"))
    return actions
