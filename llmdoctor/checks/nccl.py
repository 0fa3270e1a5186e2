"""NCCL: its environment variables, interfaces, performance switches, /dev/shm and version."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Mapping

from .. import data
from ..engine import Context, Setting, check
from ..facts import derived
from ..facts import nccl_rules as rules
from ..facts.nccl_rules import Change
from ..results import Finding, fail, not_applicable, passed, unknown, warn
from ..snapshot import Distribution, Gpu, GpuLink, Host, NetInterface, Packages, Torch
from ..units import format_bytes
from ..frozen import frozen

FIX = "nccl"
NCCL_ENV_DOCS = "https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html"
TORCH_NCCL_DOCS = "https://pytorch.org/docs/stable/torch_nccl_environment_variables.html"
NCCL_TROUBLESHOOTING = "https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/troubleshooting.html"


def _nccl_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("NCCL_")}


def _change_finding(message: str, evidence: Mapping[str, Any], changes: list[Change], subject: str,
                    text: str = "") -> Finding:
    """A warning whose remedy is these variable changes (the commands `llmdoctor fix nccl` writes too)."""
    words = text or "; ".join(c.command for c in changes)
    return warn(message, evidence, remedy=words, commands=rules.commands(changes), fix=FIX, subject=subject,
                links=[NCCL_ENV_DOCS])


# --------------------------------------------------------------------------- nccl.env


@check("nccl.env", "NCCL variables are known, current, and have valid values", known_errors=True)
def check_nccl_env(env: Mapping[str, str]) -> Finding | list[Finding]:
    """Is every NCCL_* variable set a documented NCCL variable with a value NCCL accepts?

    NCCL reads its variables silently: a misspelled name (NCCL_SOCKET_IFNAM) is never read, a removed
    one (NCCL_IB_GDR_LEVEL, renamed NCCL_NET_GDR_LEVEL in 2.4.0; NCCL_LL_THRESHOLD and
    NCCL_TREE_THRESHOLD, removed in 2.5) does nothing, and a bad value is ignored or falls back to the
    default: NCCL_P2P_LEVEL is compared case-sensitively ("nvl" is ignored, use "NVL"), switches such as
    NCCL_P2P_DISABLE count only when their integer value is exactly 1, and since 2.24 an unknown
    NCCL_ALGO/NCCL_PROTO token fails init.

    Verdicts: WARN for an unknown name (with a did-you-mean), a deprecated or removed name (with the
    replacement), or a value outside the documented form (naming the expected form).  PyTorch's own
    variables that look like NCCL's (NCCL_ASYNC_ERROR_HANDLING, ...) are left to nccl.torch-env.

    Fix: `llmdoctor fix nccl` writes a script that unsets the wrong names and sets the replacements.

    Sources: NVIDIA/nccl docs/userguide/source/env.rst (NCCL 2.30.7, 113 variables;
    https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html); NVIDIA/nccl src/graph/paths.cc
    ncclGetLevel (case-sensitive levels).
    """
    nccl = _nccl_env(env)
    findings = [f for name in sorted(nccl) if (f := _judge_variable(name, nccl[name], env)) is not None]
    findings += _cross_variable_limits(nccl)
    if findings:
        return findings
    if not nccl:
        return passed("no NCCL_* variable is set (NCCL chooses everything itself)")
    return passed(f"{len(nccl)} NCCL variable(s) set, all documented with valid values: {', '.join(sorted(nccl))}",
                  {"variables": sorted(nccl)})


def _judge_variable(name: str, value: str, env: Mapping[str, str]) -> Finding | None:
    if name in rules.torch_old_names():
        return None  # PyTorch's names: nccl.torch-env
    deprecated = rules.deprecated().get(name)
    if deprecated is not None:
        return _deprecated_finding(name, value, deprecated, env)
    row = rules.variables().get(name)
    if row is None:
        return _unknown_name_finding(name, value, env)
    return _invalid_value_finding(name, value, row)


def _deprecated_finding(name: str, value: str, row: Mapping[str, Any], env: Mapping[str, str]) -> Finding:
    replacement = row.get("replacement")
    return _change_finding(f"{name} is {row['status']}" + (f"; use {replacement}" if replacement else "; remove it"),
                           {"variable": name, "value": value, "source": row["source"]},
                           rules.deprecated_changes(name, value, row, env), name)


def _unknown_name_finding(name: str, value: str, env: Mapping[str, str]) -> Finding:
    near = rules.did_you_mean(name, list(rules.variables()) + sorted(rules.torch_old_names()))
    return _change_finding(f"{name} is not an NCCL variable" + (f" (did you mean {near}?)" if near else "")
                           + ": NCCL never reads it", {"variable": name, "value": value, "did_you_mean": near},
                           rules.misspelled_changes(name, value, near, env), name)


def _invalid_value_finding(name: str, value: str, row: Mapping[str, Any]) -> Finding | None:
    problem = rules.validate(name, value, row)
    if problem is None:
        return None
    message = f"{name}={value!r} is not valid: expected {problem.expected}; {problem.consequence}"
    evidence = {"variable": name, "value": value, "expected": problem.expected}
    change = rules.level_case_change(name, value, row)
    if change is not None:
        return _change_finding(message, evidence, [change], name)
    return warn(message, evidence, remedy=f"Set {name} to {problem.expected}, or unset it.", subject=name,
                links=[NCCL_ENV_DOCS])


def _cross_variable_limits(nccl: Mapping[str, str]) -> list[Finding]:
    findings = []
    threads, socks = nccl.get("NCCL_SOCKET_NTHREADS"), nccl.get("NCCL_NSOCKS_PERTHREAD")
    ti = rules.parse_int(threads) if threads is not None else None
    si = rules.parse_int(socks) if socks is not None else None
    if ti is not None and si is not None and ti * si > 64:
        findings.append(warn(f"NCCL_SOCKET_NTHREADS × NCCL_NSOCKS_PERTHREAD = {ti * si} exceeds NCCL's limit of 64",
                             {"NCCL_SOCKET_NTHREADS": threads, "NCCL_NSOCKS_PERTHREAD": socks},
                             remedy="Lower one of them so that the product is at most 64.", links=[NCCL_ENV_DOCS]))
    if rules.switch_on(nccl.get("NCCL_P2P_DISABLE")) and "NCCL_P2P_LEVEL" in nccl:
        findings.append(warn("NCCL_P2P_DISABLE=1 and NCCL_P2P_LEVEL are both set: NCCL_P2P_DISABLE wins, so "
                             "NCCL_P2P_LEVEL has no effect", {"NCCL_P2P_DISABLE": nccl["NCCL_P2P_DISABLE"],
                                                               "NCCL_P2P_LEVEL": nccl["NCCL_P2P_LEVEL"]},
                             remedy="Keep one of them (NVIDIA/nccl src/graph/paths.cc: the disable switch takes "
                                    "precedence).", subject="NCCL_P2P_LEVEL", links=[NCCL_ENV_DOCS]))
    return findings


# --------------------------------------------------------------------------- nccl.torch-env


@check("nccl.torch-env", "PyTorch's NCCL variables use the names this torch reads")
def check_torch_nccl_env(env: Mapping[str, str], torch: Torch | None) -> Finding | list[Finding]:
    """Do PyTorch's ProcessGroupNCCL variables use the names the installed torch reads?

    PyTorch 2.2 renamed its NCCL-related variables to TORCH_NCCL_* (NCCL_BLOCKING_WAIT ->
    TORCH_NCCL_BLOCKING_WAIT, NCCL_ASYNC_ERROR_HANDLING -> TORCH_NCCL_ASYNC_ERROR_HANDLING,
    NCCL_DESYNC_DEBUG, NCCL_ENABLE_TIMING, ...).  From 2.2 the old names still work but print a
    deprecation warning; before 2.2 the new names are not read at all.  These are not NCCL variables:
    NCCL itself never reads them.

    Verdicts: WARN for an old name on torch >= 2.2 (use the new one), for a new name on torch < 2.2
    (ignored there), for both names set to different values, and for a value torch does not accept
    (TORCH_NCCL_ASYNC_ERROR_HANDLING takes 0-3; boolean flags 0/1).  UNKNOWN when a TORCH_NCCL_* name
    is set and the torch version is unknown (whether it is read depends on it).

    Sources: pytorch/pytorch#114077 (first in 2.2.0) and pytorch/pytorch#114880 (deprecation warning);
    torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp; c10/util/env.h check_env (booleans "0"/"1");
    https://pytorch.org/docs/stable/torch_nccl_environment_variables.html.
    """
    names = sorted(k for k in env if k.startswith("TORCH_NCCL_") or k in rules.torch_old_names())
    if not names:
        return passed("no PyTorch NCCL variable is set")
    if torch is not None and not torch.installed:
        return not_applicable(f"torch is not installed here: nothing reads {', '.join(names)}")
    version = torch.version if torch is not None and torch.version else None
    findings: list[Finding] = []
    for row in rules.torch_renames():
        findings += _judge_rename(row, env, version)
    findings += _invalid_int_values(env)
    findings += _misspelled_torch_names(env)
    if findings:
        return findings
    if version is None:
        return unknown(f"{', '.join(names)} set; which names torch reads depends on its version, which is unknown",
                       {"variables": names})
    return passed(f"torch {version} reads {', '.join(names)} under these names", {"variables": names})


@frozen
class _Rename:
    old: str
    new: str
    old_value: str | None
    new_value: str | None
    torch: str | None

    @property
    def new_names(self) -> bool | None:
        """Whether this torch reads the TORCH_NCCL_* names (None: torch unknown)."""
        return rules.reads_new_torch_names(self.torch)

    @property
    def evidence(self) -> dict[str, Any]:
        ev: dict[str, Any] = {"old": self.old, "new": self.new, "torch": self.torch}
        ev.update({k: v for k, v in ((self.old, self.old_value), (self.new, self.new_value)) if v is not None})
        return ev


def _judge_rename(row: Mapping[str, Any], env: Mapping[str, str], torch: str | None) -> list[Finding]:
    r = _Rename(row["old"], row["new"], env.get(row["old"]), env.get(row["new"]), torch)
    conflict = _rename_conflict(r)
    if conflict is not None:
        return [conflict]
    findings = [f for f in (_old_name(r, env), _new_name(r)) if f is not None]
    value, used = (r.new_value, r.new) if r.new_value is not None else (r.old_value, r.old)
    if value is not None and value.strip() not in row["values"]:
        findings.append(warn(f"{used}={value!r} is not valid: expected one of {', '.join(row['values'])}",
                             {**r.evidence, "expected": row["values"]},
                             remedy=f"Set {used} to one of {', '.join(row['values'])}.", subject=used,
                             links=[TORCH_NCCL_DOCS]))
    return findings


def _rename_conflict(r: _Rename) -> Finding | None:
    if r.old_value is None or r.new_value is None or r.old_value == r.new_value:
        return None
    reads = r.old if r.new_names is False else r.new
    return _change_finding(f"{r.old}={r.old_value} and {r.new}={r.new_value} are both set with different values; "
                           f"torch reads {reads}" + (" (if it is 2.2 or newer; its version is unknown)"
                                                      if r.new_names is None else ""),
                           r.evidence, [Change(r.old, None, f"torch reads {r.new}")], r.old)


def _old_name(r: _Rename, env: Mapping[str, str]) -> Finding | None:
    if r.old_value is None or r.new_value is not None or r.new_names is False:
        return None
    changes = rules.torch_rename_changes(r.old, r.new, r.old_value, env)
    if r.new_names is None:
        return _change_finding(f"{r.old} is PyTorch's pre-2.2 name; torch ≥ 2.2 reads {r.new} (and warns about "
                               f"{r.old}); the installed torch is unknown", r.evidence, changes, r.old,
                               text="On torch ≥ 2.2, use the new name.")
    return _change_finding(f"{r.old} is deprecated since torch 2.2 (torch {r.torch} warns and reads {r.new})",
                           r.evidence, changes, r.old)


def _new_name(r: _Rename) -> Finding | None:
    if r.new_value is None or r.old_value is not None:
        return None
    if r.new_names is None:
        return unknown(f"{r.new} is set; torch reads it from 2.2 on, and the installed torch's version is unknown",
                       r.evidence, subject=r.new)
    if r.new_names is False:
        return _change_finding(f"{r.new} is not read by torch {r.torch} (the TORCH_NCCL_* names arrived in 2.2); "
                               f"this torch reads {r.old}", r.evidence, [Change(r.old, r.new_value, f"torch {r.torch} "
                                                                                 f"reads {r.old}, not {r.new}")],
                               r.new, text=f"Set {r.old} as well (or upgrade torch to ≥ 2.2).")
    return None


def _invalid_int_values(env: Mapping[str, str]) -> list[Finding]:
    renamed = {r["new"] for r in rules.torch_renames()}
    findings = []
    for name, spec in data.load("nccl_env")["torch_variables"]["int_values"].items():
        value = env.get(name)
        m = re.fullmatch(r"int>=(\d+)", spec) if isinstance(spec, str) else None
        if value is None or name in renamed or m is None:
            continue
        if not (re.fullmatch(r"\d+", value.strip()) and int(value) >= int(m.group(1))):
            findings.append(warn(f"{name}={value!r} is not valid: expected an integer ≥ {m.group(1)}",
                                 {name: value}, remedy=f"Set {name} to an integer ≥ {m.group(1)}.", subject=name,
                                 links=[TORCH_NCCL_DOCS]))
    return findings


def _misspelled_torch_names(env: Mapping[str, str]) -> list[Finding]:
    known = set(data.load("nccl_env")["torch_variables"]["names"])
    findings = []
    for name in sorted(k for k in env if k.startswith("TORCH_NCCL_") and k not in known):
        near = rules.did_you_mean(name, known)
        if near:
            changes = [Change(name, None, f"not a PyTorch variable (misspelled {near}?)")]
            if near not in env:
                changes.append(Change(near, env[name], f"what {name} meant to set"))
            findings.append(_change_finding(f"{name} is not a PyTorch NCCL variable (did you mean {near}?)",
                                            {"variable": name, "did_you_mean": near}, changes, name))
    return findings


# --------------------------------------------------------------------------- nccl.ifname

IFACE_VARS = ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME", "NCCL_IB_HCA")


@check("nccl.ifname", "NCCL_SOCKET_IFNAME / NCCL_IB_HCA / GLOO_SOCKET_IFNAME select interfaces that exist", known_errors=True)
def check_ifname(host: Host, env: Mapping[str, str]) -> Finding | list[Finding]:
    """Do the interface filters select real interfaces on this host?

    NCCL_SOCKET_IFNAME (and NCCL_IB_HCA for InfiniBand devices) is a comma-separated list of name
    prefixes: `eth` selects eth0, eth1...; a leading `^` excludes; a leading `=` means exact names
    (`=eth0`).  A prefix matches more than intended: `mlx5_1` also selects mlx5_10..mlx5_19.  When the
    filter matches nothing, NCCL stops at init with "Bootstrap : no socket interface found"
    (ncclInvalidUsage; through PyTorch "unhandled system error").  GLOO_SOCKET_IFNAME (gloo, used by
    torch.distributed for CPU collectives and barriers) takes exact names.

    Verdicts: FAIL when a filter matches no interface (or no IB device), or only interfaces that are
    down or have no address; WARN when it matches only loopback or container/virtual interfaces
    (docker*, veth*, ...) unless the launcher variables show a single-node job (other nodes cannot reach
    them), when it also selects interfaces that are down, and when an IB HCA entry without `=` also
    selects other devices.  UNKNOWN when a filter is set and the interfaces (or IB devices) were not read.

    Fix: `llmdoctor fix nccl` sets NCCL_SOCKET_IFNAME to the interface that carries the default route
    (`=name`), and NCCL_IB_HCA to the IB devices with `=` (or unsets it on a host without any).

    Sources: NVIDIA/nccl env.rst (NCCL_SOCKET_IFNAME, NCCL_IB_HCA;
    https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html); NVIDIA/nccl src/misc/utils.cc
    matchIfList; src/bootstrap.cc ("no socket interface found"); PyTorch distributed docs
    (GLOO_SOCKET_IFNAME, https://pytorch.org/docs/stable/distributed.html).
    """
    wanted = [n for n in IFACE_VARS if env.get(n, "").strip()]
    if not wanted:
        return passed("no interface filter is set: NCCL picks interfaces itself (ib* first, lo and docker* last)")
    multi_node = rules.launch(env).multi_node
    return [_judge_hca(env[var].strip(), host) if var == "NCCL_IB_HCA"
            else _judge_socket_filter(var, env[var].strip(), host, multi_node) for var in wanted]


def _judge_hca(value: str, host: Host) -> Finding:
    var = "NCCL_IB_HCA"
    if host.ib_devices is None:
        return unknown(f"{var} is set, but the InfiniBand devices of this host were not read", subject=var)
    devices = list(host.ib_devices)
    hits = rules.match_filter(value, devices)
    ev = {var: value, "ib_devices": devices, "selected": hits}
    change = rules.hca_change(devices)
    if not hits:
        message = (f"{var}={value} matches none of the InfiniBand devices here ({', '.join(devices) or 'none'}): "
                   "NCCL cannot use InfiniBand")
        return fail(message, ev, remedy=change.command, commands=[change.command], fix=FIX, subject=var,
                    links=[NCCL_ENV_DOCS])
    broad = rules.overbroad_entries(value, devices)
    if broad:
        entry, selected = next(iter(broad.items()))
        exact = Change(var, "=" + value, "'=' selects exactly these device names")
        return _change_finding(f"{var}={value}: the prefix {entry} also selects "
                               f"{', '.join(h for h in selected if h != entry)}", {**ev, "overbroad": broad},
                               [exact], var)
    return passed(f"{var}={value} selects {', '.join(hits)}", ev, subject=var)


@frozen
class _Selection:
    var: str
    value: str
    host: Host
    hits: tuple[str, ...]
    missing: tuple[str, ...]  # exact names (gloo) that do not exist

    @property
    def by_name(self) -> dict[str, NetInterface]:
        return {i.name: i for i in self.host.interfaces or ()}

    @property
    def usable(self) -> list[str]:
        by_name = self.by_name
        return [h for h in self.hits if by_name[h].addresses and by_name[h].is_up is not False]

    @property
    def local(self) -> list[str]:
        by_name = self.by_name
        return [h for h in self.usable if by_name[h].is_loopback or rules.is_virtual(h)]

    @property
    def evidence(self) -> dict[str, Any]:
        return {self.var: self.value, "interfaces": list(self.by_name), "selected": list(self.hits)}

    def fail(self, message: str) -> Finding:
        change = rules.ifname_change(self.var, self.host)
        return fail(message, self.evidence, remedy=change.command, commands=[change.command], fix=FIX,
                    subject=self.var, links=[NCCL_ENV_DOCS])


def _select(var: str, value: str, host: Host) -> _Selection:
    names = [i.name for i in host.interfaces or ()]
    if var == "GLOO_SOCKET_IFNAME":
        requested = [p.strip() for p in value.split(",") if p.strip()]
        return _Selection(var, value, host, tuple(p for p in requested if p in names),
                          tuple(p for p in requested if p not in names))
    return _Selection(var, value, host, tuple(rules.match_filter(value, names)), ())


def _judge_socket_filter(var: str, value: str, host: Host, multi_node: bool | None) -> Finding:
    if host.interfaces is None:
        return unknown(f"{var} is set, but the network interfaces of this host were not read", subject=var)
    sel = _select(var, value, host)
    names = ", ".join(sel.by_name)
    if sel.missing:
        return sel.fail(f"{var}={value} names {', '.join(sel.missing)}, which does not exist here (interfaces: "
                        f"{names}); gloo fails with 'Unable to find address for'")
    if not sel.hits:
        return sel.fail(f"{var}={value} matches none of this host's interfaces ({names}): NCCL stops with "
                        "'Bootstrap : no socket interface found'")
    if not sel.usable:
        return sel.fail(f"{var}={value} selects only {', '.join(sel.hits)}, which are down or have no IP address: "
                        "NCCL finds no socket interface")
    return _judge_reachability(sel, multi_node)


def _judge_reachability(sel: _Selection, multi_node: bool | None) -> Finding:
    usable, local = sel.usable, sel.local
    if len(local) == len(usable):
        msg = f"{sel.var}={sel.value} selects only loopback/container interfaces ({', '.join(usable)}): other nodes " \
              "cannot reach them"
        if multi_node is False:
            return passed(msg + " (fine for this single-node job)", sel.evidence, subject=sel.var)
        change = rules.ifname_change(sel.var, sel.host)
        return _change_finding(msg + (" and this is a multi-node job" if multi_node else
                                      "; fine on one node, a multi-node job will hang or fail"),
                               sel.evidence, [change], sel.var)
    if local and sel.var == "NCCL_SOCKET_IFNAME" and multi_node is not False:
        real = [h for h in usable if h not in local]
        return _change_finding(f"{sel.var}={sel.value} also selects {', '.join(local)}: with an explicit filter NCCL "
                               "may use every interface it matches, and other nodes cannot reach these", sel.evidence,
                               [Change(sel.var, "=" + ",".join(real), "exact names of the reachable interfaces")],
                               sel.var)
    down = [h for h in sel.hits if h not in usable]
    if down:
        exact = "=" if sel.var == "NCCL_SOCKET_IFNAME" else ""
        return _change_finding(f"{sel.var}={sel.value} also selects {', '.join(down)} (down or without an address)",
                               sel.evidence, [Change(sel.var, exact + ",".join(usable), "exact names of the "
                                                     "interfaces that are up")], sel.var)
    return passed(f"{sel.var}={sel.value} selects {', '.join(usable)}", sel.evidence, subject=sel.var)


# --------------------------------------------------------------------------- nccl.perf-switches


@check("nccl.perf-switches", "No NCCL transport is switched off where the hardware would use it",
       known_errors=True,
       settings={"debug_ok": Setting(bool, False, "accept NCCL_DEBUG=INFO/TRACE while you are debugging",
                                     flag="--debug-ok")})
def check_perf_switches(env: Mapping[str, str], gpus: tuple[Gpu, ...] | None,
                        gpu_links: tuple[GpuLink, ...] | None, host: Host | None,
                        ctx: Context) -> Finding | list[Finding]:
    """Are NCCL's fast paths switched off, or debug logging left on?

    NCCL_P2P_DISABLE=1, NCCL_IB_DISABLE=1, NCCL_SHM_DISABLE=1 and NCCL_NVLS_ENABLE=0 are debugging
    switches ("should not be used in production nor retained in scripts").  Left on, they silently
    cost bandwidth: without P2P, GPUs on NVLink or a PCIe switch exchange data through host memory;
    without InfiniBand, inter-node traffic goes over TCP sockets; without SHM, intra-node traffic
    goes over the network path; without NVLink SHARP, all-reduce on NVSwitch systems loses its
    in-switch reduction.  NCCL_DEBUG=INFO/TRACE or NCCL_DEBUG_SUBSYS=ALL print large logs on every rank
    (TRACE on every call).

    Verdicts: WARN when a switch is on where this hardware would use the path (P2P-capable GPU pairs,
    InfiniBand devices present, more than one GPU, NVSwitch-connected Hopper+); WARN for verbose debug
    logging unless `llmdoctor check --debug-ok`.  When the hardware cannot use the path anyway the
    switch costs nothing (PASS); when the hardware was not read, UNKNOWN.

    Fix: `llmdoctor fix nccl` unsets them and sets NCCL_DEBUG=WARN.

    Sources: NVIDIA/nccl env.rst ("Debugging" section intro, NCCL_P2P_DISABLE, NCCL_IB_DISABLE,
    NCCL_SHM_DISABLE, NCCL_NVLS_ENABLE, NCCL_DEBUG;
    https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html).
    """
    found = [_p2p_disable(env, gpu_links), _ib_disable(env, host), _shm_disable(env, gpus),
             _nvls_disable(env, gpus, gpu_links), _debug_logging(env, bool(ctx.setting("debug_ok")))]
    findings = [f for f in found if f is not None]
    if not findings:
        return passed("no NCCL transport is switched off and NCCL debug logging is not verbose")
    return findings


def _unset(name: str, why: str) -> list[Change]:
    return [Change(name, None, why)]


def _p2p_disable(env: Mapping[str, str], gpu_links: tuple[GpuLink, ...] | None) -> Finding | None:
    if not rules.switch_on(env.get("NCCL_P2P_DISABLE")):
        return None
    capable = rules.p2p_capable(gpu_links)
    ev = {"NCCL_P2P_DISABLE": env["NCCL_P2P_DISABLE"], "gpu_pairs": len(gpu_links) if gpu_links is not None else None}
    subject = "NCCL_P2P_DISABLE"
    if capable is None:
        return unknown("NCCL_P2P_DISABLE=1 switches off direct GPU-to-GPU copies; whether these GPUs support P2P is "
                       "unknown (the GPU topology was not read)", ev, subject=subject)
    if not capable:
        return passed("NCCL_P2P_DISABLE=1 costs nothing here: no GPU pair supports P2P", ev, subject=subject)
    nvlink = any(link.level == "NVLINK" for link in gpu_links or ())
    return _change_finding("NCCL_P2P_DISABLE=1 switches off direct GPU-to-GPU copies although these GPUs support P2P"
                           + (" over NVLink" if nvlink else "") + ": intra-node traffic goes through host memory "
                           "(a large all-reduce slowdown)", ev,
                           _unset(subject, "these GPUs support peer-to-peer; disabling it routes GPU traffic through "
                                           "host memory"), subject)


def _ib_disable(env: Mapping[str, str], host: Host | None) -> Finding | None:
    if not rules.switch_on(env.get("NCCL_IB_DISABLE")):
        return None
    ib = host.ib_devices if host is not None else None
    ev = {"NCCL_IB_DISABLE": env["NCCL_IB_DISABLE"], "ib_devices": list(ib) if ib is not None else None}
    subject = "NCCL_IB_DISABLE"
    if ib is None:
        return unknown("NCCL_IB_DISABLE=1 is set; whether this host has InfiniBand devices is unknown (not read)",
                       ev, subject=subject)
    if not ib:
        return passed("NCCL_IB_DISABLE=1 costs nothing here: no InfiniBand device", ev, subject=subject)
    return _change_finding(f"NCCL_IB_DISABLE=1 while InfiniBand/RoCE devices exist ({', '.join(ib)}): inter-node "
                           "traffic falls back to TCP sockets", ev,
                           _unset(subject, "InfiniBand devices exist; disabling IB forces TCP sockets between nodes"),
                           subject)


def _shm_disable(env: Mapping[str, str], gpus: tuple[Gpu, ...] | None) -> Finding | None:
    if not rules.switch_on(env.get("NCCL_SHM_DISABLE")):
        return None
    count = len(gpus) if gpus is not None else None
    ev = {"NCCL_SHM_DISABLE": env["NCCL_SHM_DISABLE"], "gpus": count}
    subject = "NCCL_SHM_DISABLE"
    if count is None:
        return unknown("NCCL_SHM_DISABLE=1 is set; the local GPU count is unknown (not read)", ev, subject=subject)
    if count <= 1:
        return passed(f"NCCL_SHM_DISABLE=1 costs nothing here: {count} GPU, no local peer", ev, subject=subject)
    return _change_finding(f"NCCL_SHM_DISABLE=1 on a host with {count} GPUs: where P2P is not possible, intra-node traffic "
                           "goes over the network transport instead of shared memory", ev,
                           _unset(subject, "shared memory is NCCL's intra-node path where P2P is not possible"),
                           subject, text="unset NCCL_SHM_DISABLE (if /dev/shm is too small, enlarge it: see nccl.shm)")


def _nvls_disable(env: Mapping[str, str], gpus: tuple[Gpu, ...] | None,
                  gpu_links: tuple[GpuLink, ...] | None) -> Finding | None:
    value = env.get("NCCL_NVLS_ENABLE")
    if value is None or rules.parse_int(value) != 0:
        return None
    switch = rules.nvswitch_like(gpus, gpu_links)
    ev = {"NCCL_NVLS_ENABLE": value, "gpus": len(gpus) if gpus is not None else None}
    subject = "NCCL_NVLS_ENABLE"
    if switch is None:
        return unknown("NCCL_NVLS_ENABLE=0 is set; whether the GPUs are NVSwitch-connected is unknown (GPUs or "
                       "topology not read)", ev, subject=subject)
    if not switch:
        return passed("NCCL_NVLS_ENABLE=0 costs nothing here: no NVSwitch-connected Hopper-or-newer GPUs", ev,
                      subject=subject)
    return _change_finding("NCCL_NVLS_ENABLE=0 on NVSwitch-connected Hopper-or-newer GPUs: all-reduce loses NVLink "
                           "SHARP's in-switch reduction", ev,
                           _unset(subject, "NVSwitch-connected GPUs: NVLink SHARP speeds up all-reduce"), subject)


def _debug_logging(env: Mapping[str, str], debug_ok: bool) -> Finding | None:
    verbose = rules.verbose_debug(env)
    if not verbose:
        return None
    ev = {k: env[k] for k in ("NCCL_DEBUG", "NCCL_DEBUG_SUBSYS") if k in env}
    if debug_ok:
        return passed(f"{' and '.join(verbose)}: verbose NCCL logging (accepted with --debug-ok)", ev,
                      subject="NCCL_DEBUG")
    trace = (env.get("NCCL_DEBUG") or "").strip().upper() == "TRACE"
    return _change_finding(f"{' and '.join(verbose)} leaves verbose NCCL logging on: large logs on every rank"
                           + (", and TRACE logs every call" if trace else ""), ev, [rules.DEBUG_WARN], "NCCL_DEBUG",
                           text="export NCCL_DEBUG=WARN (or pass --debug-ok while you are debugging)")


# --------------------------------------------------------------------------- nccl.shm

DEFAULT_SHM_MIN = 1 << 30  # 1 GiB: NVIDIA's documented --shm-size=1g


@check("nccl.shm", "/dev/shm and memlock are large enough for NCCL", known_errors=True,
       settings={"min_bytes": Setting(int, DEFAULT_SHM_MIN, "smallest acceptable /dev/shm, in bytes")})
def check_shm(host: Host, gpus: tuple[Gpu, ...] | None, ctx: Context) -> list[Finding]:
    """Is /dev/shm large enough for NCCL between local GPUs, and is memlock unlimited with InfiniBand?

    NCCL's SHM transport and its proxy buffers live in /dev/shm.  Docker gives containers a 64 MB
    /dev/shm by default, which breaks multi-GPU NCCL with "NCCL WARN Error: failed to extend
    /dev/shm/nccl-... to 4194660 bytes" and, through PyTorch, "unhandled system error".  InfiniBand
    registers (pins) memory: a limited memlock ulimit fails with "Call to ibv_reg_mr failed" or
    "ibv_create_qp failed".

    Verdicts: FAIL when a host with two or more GPUs has /dev/shm below `nccl.shm.min_bytes`
    (default 1 GiB, NVIDIA's documented `--shm-size=1g`); WARN when InfiniBand devices exist and the
    memlock soft limit is not unlimited.  With fewer than two GPUs NCCL needs no shared memory
    between local ranks (PASS).  UNKNOWN when the /dev/shm size, the GPU count, or (with memlock
    limited) the InfiniBand devices were not read.

    Fix: `docker run --shm-size=1g --ulimit memlock=-1` (or `--ipc=host`); Kubernetes: mount an
    emptyDir with `medium: Memory` at /dev/shm; bare metal: `* soft memlock unlimited` and
    `* hard memlock unlimited` in /etc/security/limits.conf.

    Sources: NVIDIA/nccl docs troubleshooting/runtime_and_mpi_issues.rst (/dev/shm, Docker),
    troubleshooting/networking_troubleshooting.rst (memlock);
    https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/troubleshooting.html.
    """
    min_bytes = int(ctx.setting("min_bytes"))
    return [_judge_shm(host, len(gpus) if gpus is not None else None, min_bytes), _judge_memlock(host)]


def _judge_shm(host: Host, gpus: int | None, min_bytes: int) -> Finding:
    ev = {"shm_total": host.shm_total, "gpus": gpus, "min_bytes": min_bytes, "container": host.container}
    if host.shm_total is None:
        return unknown("the size of /dev/shm is unknown (not read)", ev, subject="/dev/shm")
    if gpus is None:
        return unknown(f"/dev/shm is {format_bytes(host.shm_total)}; the local GPU count is unknown, so whether NCCL needs "
                       "more is unknown", ev, subject="/dev/shm")
    if gpus == 0:
        return not_applicable("no GPU on this host: NCCL has no local peer to share memory with", ev,
                              subject="/dev/shm")
    if gpus < 2:
        return passed(f"/dev/shm is {format_bytes(host.shm_total)}; with {gpus} GPU there is no local NCCL peer", ev,
                      subject="/dev/shm")
    if host.shm_total < min_bytes:
        return fail(f"/dev/shm is {format_bytes(host.shm_total)} on a host with {gpus} GPUs (needs ≥ {format_bytes(min_bytes)}): NCCL "
                    "fails with 'failed to extend /dev/shm' / 'unhandled system error'", ev,
                    remedy=_shm_remedy(host.container, min_bytes),
                    commands=[] if host.container else [_remount(min_bytes)], subject="/dev/shm",
                    links=[NCCL_TROUBLESHOOTING])
    return passed(f"/dev/shm is {format_bytes(host.shm_total)} for {gpus} GPUs (≥ {format_bytes(min_bytes)})", ev,
                  subject="/dev/shm")


def _judge_memlock(host: Host) -> Finding:
    ib = host.ib_devices
    ev = {"memlock_soft": host.memlock_soft, "memlock_hard": host.memlock_hard,
          "ib_devices": list(ib) if ib is not None else None}
    if host.memlock_soft == -1:
        return passed("memlock is unlimited (InfiniBand can register memory)", ev, subject="memlock")
    if ib is not None and not ib:
        return not_applicable("no InfiniBand device: the memlock limit does not matter to NCCL", ev,
                              subject="memlock")
    if host.memlock_soft is None:
        return unknown("the memlock limit is unknown (not read)" + (f" while InfiniBand devices exist ({', '.join(ib)})"
                                                                  if ib else ""), ev, subject="memlock")
    if ib is None:
        return unknown(f"memlock is limited to {format_bytes(host.memlock_soft)}; whether this host has InfiniBand devices "
                       "(which need it unlimited) is unknown (not read)", ev, subject="memlock")
    return warn(f"memlock is limited to {format_bytes(host.memlock_soft)} while InfiniBand devices exist ({', '.join(ib)}): "
                "NCCL fails with 'Call to ibv_reg_mr failed'", ev,
                remedy="Raise the memlock limit to unlimited: in a container pass --ulimit memlock=-1; on bare metal "
                       "add '* soft memlock unlimited' and '* hard memlock unlimited' to /etc/security/limits.conf, "
                       "log in again and check with `ulimit -l`.",
                subject="memlock",
                links=[NCCL_TROUBLESHOOTING])


def _whole_gib(min_bytes: int) -> int:
    """``min_bytes`` rounded up to whole GiB (at least 1), for size options that take an integer (--shm-size=8g)."""
    return max(1, -(-min_bytes // (1 << 30)))


def _remount(min_bytes: int) -> str:
    return f"sudo mount -o remount,size={_whole_gib(min_bytes)}G /dev/shm"


def _shm_remedy(container: str | None, min_bytes: int) -> str:
    gib = _whole_gib(min_bytes)
    k8s = f"Kubernetes: mount an emptyDir volume with medium: Memory (sizeLimit: {gib}Gi) at /dev/shm"
    docker = f"docker run --shm-size={gib}g --ulimit memlock=-1 (or --ipc=host)"
    if container == "kubernetes":
        return k8s + "."
    if container in ("docker", "podman"):
        return f"{docker}; {k8s}."
    return f"{docker}; {k8s}; on bare metal, remount /dev/shm larger."


# --------------------------------------------------------------------------- nccl.version

_SO_VERSION = re.compile(r"libnccl\.so\.(\d+(?:\.\d+){0,2})")
_NCCL_WHEEL = re.compile(r"nvidia[-_]nccl[-_]cu\d+")


@check("nccl.version", "The NCCL torch loads is the one it ships with, and new enough for the GPUs", known_errors=True)
def check_nccl_version(torch: Torch, packages: Packages | None, env: Mapping[str, str] | None,
                       gpus: tuple[Gpu, ...] | None) -> Finding | list[Finding]:
    """Which NCCL does torch load, and is it the intended one?

    Pip-installed torch depends on an exact nvidia-nccl-cu* wheel.  A libnccl.so.2 found earlier on
    LD_LIBRARY_PATH (a system or conda NCCL) can be loaded instead, giving a different NCCL than the one
    torch was tested with: old NCCL bugs, missing features, or "undefined symbol" errors.  An NCCL older
    than the first release with support for the GPU architecture cannot run its kernels.

    Verdicts: WARN when the NCCL torch reports differs from the nvidia-nccl-cu* wheel, when the mapped
    libnccl lies outside the wheel in a folder on LD_LIBRARY_PATH, and when the NCCL is older than the
    minimum for a GPU's architecture (data/nccl_arch.json; rows marked unverified say so).  UNKNOWN when
    a fact one of these rests on was not read (the packages, the environment, the GPUs).

    Fix: remove the foreign folder from LD_LIBRARY_PATH (or reinstall the wheel torch pins:
    pip install --force-reinstall nvidia-nccl-cu12==<version>).

    Sources: torch.cuda.nccl.version() (the loaded library's ncclGetVersion);
    https://pypi.org/project/nvidia-nccl-cu12/; ld.so(8) (LD_LIBRARY_PATH is searched before the
    RUNPATH of torch's libraries, https://man7.org/linux/man-pages/man8/ld.so.8.html).
    """
    if not torch.installed:
        return not_applicable("torch is not installed: no NCCL to check")
    if torch.import_error:
        return unknown("torch fails to import (see torch.build), so the NCCL it loads is unknown")
    if derived.is_cpu_torch(torch.version, torch.cuda, torch.hip) or torch.hip:
        return not_applicable("this torch has no NCCL (CPU or ROCm build)")
    facts = _NcclFacts.of(torch, packages)
    found = [_wheel_mismatch(facts, packages), _foreign_library(facts, env), _arch_minimum(facts, gpus)]
    findings = [f for f in found if f is not None]
    problems = [f for f in findings if f.status.value != "unknown"]
    if problems:
        return problems
    if facts.runtime is None and not facts.wheels:
        return unknown("torch's NCCL version is unknown (torch did not report it, no nvidia-nccl wheel is listed)",
                       facts.evidence)
    where = f" from the {facts.wheels[0].name} {facts.wheels[0].version} wheel" if facts.wheels else ""
    return [passed(f"torch uses NCCL {facts.runtime or '(version unknown)'}{where}", facts.evidence), *findings]


@frozen
class _NcclFacts:
    torch: Torch
    runtime: str | None  # the NCCL torch reports (or the loaded soname's full version)
    loaded: str | None
    wheels: tuple[Distribution, ...]

    @classmethod
    def of(cls, torch: Torch, packages: Packages | None) -> "_NcclFacts":
        wheels = tuple(d for d in (packages.distributions if packages is not None else ())
                       if _NCCL_WHEEL.fullmatch(d.name.lower()))
        loaded = (torch.loaded_libraries or {}).get("nccl")
        runtime = torch.nccl
        m = _SO_VERSION.search(loaded or "")
        if runtime is None and m and m.group(1).count(".") == 2:
            runtime = m.group(1)
        return cls(torch, runtime, loaded, wheels)

    @property
    def evidence(self) -> dict[str, Any]:
        return {"torch_nccl": self.torch.nccl, "loaded": self.loaded,
                "wheels": {d.name: d.version for d in self.wheels}}


def _wheel_mismatch(facts: _NcclFacts, packages: Packages | None) -> Finding | None:
    if packages is None:
        return unknown("the installed packages were not read, so whether torch's NCCL is its nvidia-nccl wheel's is "
                       "unknown", facts.evidence, subject="NCCL")
    runtime = data.version(facts.runtime) if facts.runtime else None
    for dist in facts.wheels:
        wheel = data.version(dist.version)
        if runtime is not None and wheel is not None and runtime.release[:3] != wheel.release[:3]:
            return warn(f"torch uses NCCL {facts.runtime}, but the installed {dist.name} wheel is {dist.version}: "
                        "another libnccl is loaded first", facts.evidence,
                        remedy="Find it (the 'loaded' path in the evidence) and remove its folder from "
                               "LD_LIBRARY_PATH.", subject="NCCL")
    return None


def _foreign_library(facts: _NcclFacts, env: Mapping[str, str] | None) -> Finding | None:
    if not facts.loaded or not facts.wheels:
        return None
    lib_dir = os.path.dirname(facts.loaded)
    in_wheel = "/nvidia/nccl/" in facts.loaded or any(
        d.location and lib_dir.startswith(os.path.join(d.location, "nvidia", "nccl")) for d in facts.wheels)
    if in_wheel:
        return None
    if env is None:
        return unknown(f"torch loads {facts.loaded}, outside the {facts.wheels[0].name} wheel; whether it comes from "
                       "LD_LIBRARY_PATH is unknown (the environment was not read)", facts.evidence, subject="NCCL")
    ldp = [p.rstrip("/") for p in env.get("LD_LIBRARY_PATH", "").split(":") if p]
    if lib_dir.rstrip("/") not in ldp:
        return None
    return warn(f"torch loads {facts.loaded} from LD_LIBRARY_PATH instead of the {facts.wheels[0].name} wheel's NCCL",
                {**facts.evidence, "LD_LIBRARY_PATH": ldp},
                remedy=f"Remove {lib_dir} from LD_LIBRARY_PATH for this job.", subject="NCCL")


def _arch_minimum(facts: _NcclFacts, gpus: tuple[Gpu, ...] | None) -> Finding | None:
    runtime = data.version(facts.runtime) if facts.runtime else None
    if runtime is None:
        return None
    if gpus is None:
        return unknown(f"the GPUs were not read, so whether NCCL {facts.runtime} supports their architecture is "
                       "unknown", facts.evidence, subject="NCCL")
    for row in data.load("nccl_arch")["arch"]:
        hit = [g for g in gpus if _in_arch(g, row)]
        need = data.version(row["min_nccl"])
        if hit and need is not None and runtime < need:
            note = "" if row.get("verified") else " (this minimum is not verified)"
            label = derived.gpu_label(hit[0])
            return warn(f"NCCL {facts.runtime} predates {row['arch']} support (NCCL ≥ {row['min_nccl']}) needed by "
                        f"{label}{note}", {**facts.evidence, "source": derived.public_source(row["source"])},
                        remedy="Install a torch build whose NCCL supports this GPU (see torch.build).", subject=label)
    return None


def _in_arch(gpu: Gpu, row: Mapping[str, Any]) -> bool:
    cc = data.cc_tuple(derived.gpu_cc(gpu)[0])
    low, high = data.cc_tuple(row["min_cc"]), data.cc_tuple(row.get("below_cc", "99.0"))
    return cc is not None and low is not None and high is not None and low <= cc < high
