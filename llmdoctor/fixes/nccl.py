"""The NCCL fix (``@fix("nccl")``) and the environment ``llmdoctor env`` recommends.

Pure functions of the snapshot.  The changes come from ``facts.nccl_rules`` (the same ``Change`` values
the nccl.* checks give as their remedies), so every command a check suggests is in the fix's output:
``nccl_changes`` / ``nccl_actions`` (what ``llmdoctor fix nccl`` writes) and ``env_actions`` (what
``llmdoctor env`` prints: the NCCL set, the allocator, the device order).  ``fixes.shell.render`` turns
actions into a script for any shell or format.  Nothing here imports ``llmdoctor.checks``.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

from packaging.version import Version

from .. import data
from ..engine import Setting
from ..facts import nccl_rules as rules
from ..facts.nccl_rules import Change
from ..snapshot import Host, Snapshot
from .registry import Artifact, CannotFix, fix
from .shell import FORMATS, Action, canonical, render

_PORTABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _torch_version(snap: Snapshot) -> Version | None:
    t = snap.torch
    if t is None or not t.installed or not t.version:
        return None
    return data.version(t.version)


def _portable_env(snap: Snapshot) -> dict[str, str]:
    """The environment, without names a shell cannot carry (possible in a pasted dump)."""
    return {k: v for k, v in (snap.env or {}).items() if _PORTABLE_NAME.fullmatch(k) and "\x00" not in v}


def _variable_changes(env: Mapping[str, str]) -> list[Change]:
    """Wrong, deprecated and miscased NCCL names: the same changes nccl.env suggests."""
    known, dep, torch_old = rules.variables(), rules.deprecated(), rules.torch_old_names()
    out: list[Change] = []
    for name in sorted(k for k in env if k.startswith("NCCL_") and k not in torch_old):
        value = env[name]
        if name in dep:
            out += rules.deprecated_changes(name, value, dep[name], env)
        elif name not in known:
            near = rules.did_you_mean(name, list(known) + sorted(torch_old))
            out += rules.misspelled_changes(name, value, near, env)
        elif (change := rules.level_case_change(name, value, known[name])) is not None:
            out.append(change)
    return out


def _torch_changes(env: Mapping[str, str], new_names: bool) -> list[Change]:
    """PyTorch's renamed variables (the changes nccl.torch-env suggests)."""
    out: list[Change] = []
    for row in rules.torch_renames():
        old, new = row["old"], row["new"]
        if old in env and new in env and env[old] != env[new]:
            out.append(Change(old, None, f"torch reads {new}"))
        elif old in env and new_names:
            out += rules.torch_rename_changes(old, new, env[old], env)
        elif new in env and old not in env and not new_names:
            out.append(Change(old, env[new], f"this torch reads {old}, not {new}"))
    known = set(data.load("nccl_env")["torch_variables"]["names"])
    for name in sorted(k for k in env if k.startswith("TORCH_NCCL_") and k not in known):
        near = rules.did_you_mean(name, known)
        if near:
            out.append(Change(name, None, f"not a PyTorch variable (misspelled {near}?)"))
            if near not in env:
                out.append(Change(near, env[name], f"what {name} meant to set"))
    return out


def _switch_changes(snap: Snapshot, env: Mapping[str, str]) -> list[Change]:
    """Transports switched off where the hardware would use them, and verbose debug logging."""
    out: list[Change] = []
    ib = snap.host.ib_devices if snap.host else None
    if rules.switch_on(env.get("NCCL_P2P_DISABLE")) and rules.p2p_capable(snap.gpu_links):
        out.append(Change("NCCL_P2P_DISABLE", None, "these GPUs support peer-to-peer; disabling it routes GPU "
                                                    "traffic through host memory"))
    if rules.switch_on(env.get("NCCL_IB_DISABLE")) and ib:
        out.append(Change("NCCL_IB_DISABLE", None, "InfiniBand devices exist; disabling IB forces TCP sockets "
                                                   "between nodes"))
    if rules.switch_on(env.get("NCCL_SHM_DISABLE")) and snap.gpus is not None and len(snap.gpus) > 1:
        out.append(Change("NCCL_SHM_DISABLE", None, "shared memory is NCCL's intra-node path where P2P is not "
                                                    "possible"))
    nvls = env.get("NCCL_NVLS_ENABLE")
    if nvls is not None and rules.parse_int(nvls) == 0 and rules.nvswitch_like(snap.gpus, snap.gpu_links):
        out.append(Change("NCCL_NVLS_ENABLE", None, "NVSwitch-connected GPUs: NVLink SHARP speeds up all-reduce"))
    out.append(rules.DEBUG_WARN)
    return out


def _interface_changes(host: Host | None, env: Mapping[str, str]) -> list[Change]:
    """NCCL_SOCKET_IFNAME / GLOO_SOCKET_IFNAME / NCCL_IB_HCA for this host (what nccl.ifname suggests)."""
    out: list[Change] = []
    for var in ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME"):
        value = env.get(var, "").strip()
        if host is not None and host.interfaces is not None and not _filter_ok(host, var, value):
            if value or (var == "NCCL_SOCKET_IFNAME" and rules.recommended_interface(host)):
                out.append(rules.ifname_change(var, host))
    ib = host.ib_devices if host is not None else None
    hca = env.get("NCCL_IB_HCA", "").strip()
    if ib is not None and (ib or hca) and not rules.hca_ok(hca, ib):
        out.append(rules.hca_change(ib))
    return out


def _filter_ok(host: Host, var: str, value: str) -> bool:
    """Whether the user's filter already selects only interfaces that are up, have an address and are real."""
    if not value:
        return False
    names = [i.name for i in host.interfaces or ()]
    if var == "GLOO_SOCKET_IFNAME":
        hits = [p.strip() for p in value.split(",") if p.strip()]
        if any(h not in names for h in hits):
            return False
    else:
        hits = rules.match_filter(value, names)
    return bool(hits) and all(rules.usable_interface(host, h) for h in hits)


def nccl_changes(snap: Snapshot) -> list[Change]:
    """Every change for this machine: the nccl.* checks' remedies, then the recommended settings."""
    env = _portable_env(snap)
    torch = snap.torch
    new_names = rules.reads_new_torch_names(torch.version if torch is not None and torch.installed else None) \
        is not False
    changes = _variable_changes(env) + _torch_changes(env, new_names)
    # recommend from the environment as these repairs leave it (a misspelled NCCL_SOCKET_IFNAM=eth0 is set
    # as NCCL_SOCKET_IFNAME=eth0, as nccl.env says, and then judged like any filter)
    env = _applied(env, changes)
    changes += _switch_changes(snap, env) + _interface_changes(snap.host, env)
    if "TORCH_NCCL_ASYNC_ERROR_HANDLING" not in env and "NCCL_ASYNC_ERROR_HANDLING" not in env:
        name = "TORCH_NCCL_ASYNC_ERROR_HANDLING" if new_names else "NCCL_ASYNC_ERROR_HANDLING"
        changes.append(Change(name, "1", "abort NCCL communicators and stop the process on errors or timeouts "
                                         "instead of hanging"))
    return _merge(changes)


def _applied(env: Mapping[str, str], changes: Iterable[Change]) -> dict[str, str]:
    out = dict(env)
    for change in changes:
        if change.value is None:
            out.pop(change.name, None)
        else:
            out[change.name] = change.value
    return out


def _merge(changes: Iterable[Change]) -> list[Change]:
    """One change per name (a later one wins); unsets first, then sets, each in first-seen order."""
    last: dict[str, Change] = {}
    for change in changes:
        last.pop(change.name, None)
        last[change.name] = change
    return [c for c in last.values() if c.value is None] + [c for c in last.values() if c.value is not None]


def nccl_actions(snap: Snapshot) -> list[Action]:
    """``nccl_changes`` as shell actions (what ``llmdoctor fix nccl`` renders)."""
    return [Action(c.name, c.value, c.why) for c in nccl_changes(snap)]


HEADERS = {
    "sh": "NCCL environment for this machine, written by `llmdoctor fix nccl`. Source it: . FILE",
    "fish": "NCCL environment for this machine, written by `llmdoctor fix nccl -f fish`. Source it: source FILE",
    "powershell": "NCCL environment for this machine, written by `llmdoctor fix nccl -f powershell`. Run it: . FILE",
    "dotenv": "NCCL environment for this machine, written by `llmdoctor fix nccl -f dotenv`. "
              "Use it: docker run --env-file FILE ..., or docker compose env_file: FILE",
    "k8s": "NCCL environment for this machine, written by `llmdoctor fix nccl -f k8s`. "
           "Paste the env: list into a container of your pod spec (spec.containers[].env)",
    "docker": "",  # only -e NAME=VALUE tokens: docker run $(llmdoctor fix nccl -f docker) IMAGE
}


@fix("nccl", "NCCL exports for this machine: interfaces, IB devices, replacements for wrong names, sane debug level",
     options={"format": Setting(str, "sh", "shell or file format of the script", choices=FORMATS)})
def fix_nccl(snapshot: Snapshot, report: object, format: str = "sh") -> Artifact:
    """An NCCL environment for this machine, in the shell or format asked for.

    It unsets what the nccl.* checks found wrong (misspelled, removed or renamed names, transports
    switched off where the hardware would use them, verbose debug logging), sets the replacements,
    and recommends NCCL_SOCKET_IFNAME (the interface with the default route, `=name`), NCCL_IB_HCA (the
    InfiniBand devices, `=name,...`), TORCH_NCCL_ASYNC_ERROR_HANDLING=1 and NCCL_DEBUG=WARN.

    Formats: sh/bash/zsh (`. FILE`), fish (`source FILE`), powershell (`. FILE`), dotenv
    (`docker run --env-file FILE`), docker (`docker run $(llmdoctor fix nccl -f docker) IMAGE`: only
    `-e NAME=VALUE` words), k8s (an `env:` list for a container spec).

    Sources: https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html;
    https://docs.docker.com/reference/cli/docker/container/run/#env;
    https://kubernetes.io/docs/tasks/inject-data-application/define-environment-variable-container/.
    """
    fmt = canonical(format)
    try:
        text = render(nccl_actions(snapshot), fmt, header=HEADERS.get(fmt, ""))
    except ValueError as exc:
        raise CannotFix(str(exc)) from None
    suffix = {"sh": "sh", "fish": "fish", "powershell": "ps1", "dotenv": "env", "docker": "args", "k8s": "yaml"}[fmt]
    return Artifact(text, suggested_name=f"nccl.{suffix}", description=HEADERS.get(fmt) or
                    "docker run arguments: docker run $(llmdoctor fix nccl -f docker) IMAGE")


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
    since_v = data.version(since)
    if since_v is not None and tv < since_v:
        return None
    # PYTORCH_ALLOC_CONF exists from 2.9, but its expandable_segments is ignored for CUDA until the fix
    generic = table["expandable_ignored_in_generic"]["fixed"]
    variables = table["variables"]
    generic_v = data.version(generic)
    name = variables["generic"] if generic_v is not None and tv >= generic_v else variables["legacy"]
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
