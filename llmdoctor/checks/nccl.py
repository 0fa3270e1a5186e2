"""NCCL: its environment variables, interfaces, performance switches, /dev/shm and version."""

from __future__ import annotations

import os
import re

from .. import data
from ..engine import Context, check
from ..results import fail, passed, skip, warn
from ..snapshot import Snapshot
from ..facts import derived as F
from ..facts.known_error_findings import reports_known_errors
from ..facts import nccl_rules as N

FIX = "nccl"


def _nccl_env(snap: Snapshot) -> dict[str, str]:
    return {k: v for k, v in (snap.env or {}).items() if k.startswith("NCCL_")}


@check("nccl.env", "NCCL variables are known, current, and have valid values", needs=("env",))
@reports_known_errors
def check_nccl_env(snap: Snapshot, ctx: Context):
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

    Sources: NVIDIA/nccl docs/userguide/source/env.rst (NCCL 2.30.7; data/nccl_env.json, 113 variables);
    src/graph/paths.cc ncclGetLevel (case-sensitive levels); reference_facts.md 6b-6f.
    """
    env = _nccl_env(snap)
    known = N.variables()
    dep = N.deprecated()
    torch_old = N.torch_old_names()
    findings = []
    for name in sorted(env):
        value = env[name]
        if name in torch_old:
            continue  # PyTorch's names: nccl.torch-env
        if name in dep:
            row = dep[name]
            repl = row.get("replacement")
            findings.append(warn(f"{name} is {row['status']}" + (f"; use {repl}" if repl else "; remove it"),
                                 {"variable": name, "value": value, "source": row["source"]},
                                 remedy=(f"unset {name}" + (f"; export {repl.split()[0]}={value}" if row.get("carry_value") and repl else "")),
                                 fix=FIX, subject=name))
            continue
        row = known.get(name)
        if row is None:
            near = N.did_you_mean(name, list(known) + sorted(torch_old))
            findings.append(warn(f"{name} is not an NCCL variable" + (f" (did you mean {near}?)" if near else "")
                                 + ": NCCL never reads it", {"variable": name, "value": value, "did_you_mean": near},
                                 remedy=(f"unset {name}; export {near}={value}" if near else f"unset {name}"),
                                 fix=FIX, subject=name))
            continue
        problem = N.validate(name, value, row)
        if problem is not None:
            findings.append(warn(f"{name}={value!r} is not valid: expected {problem.expected}; {problem.consequence}",
                                 {"variable": name, "value": value, "expected": problem.expected},
                                 remedy=f"Set {name} to {problem.expected}, or unset it.",
                                 fix=FIX if "case-sensitive: write" in problem.expected else None, subject=name))
    # documented cross-variable limit
    t, s = env.get("NCCL_SOCKET_NTHREADS"), env.get("NCCL_NSOCKS_PERTHREAD")
    if t is not None and s is not None:
        ti, si = N.parse_int(t), N.parse_int(s)
        if ti is not None and si is not None and ti * si > 64:
            findings.append(warn(f"NCCL_SOCKET_NTHREADS × NCCL_NSOCKS_PERTHREAD = {ti * si} exceeds NCCL's limit of 64",
                                 {"NCCL_SOCKET_NTHREADS": t, "NCCL_NSOCKS_PERTHREAD": s},
                                 remedy="Lower one of them so that the product is at most 64."))
    if env.get("NCCL_P2P_DISABLE") is not None and N.switch_on(env["NCCL_P2P_DISABLE"]) and "NCCL_P2P_LEVEL" in env:
        findings.append(warn("NCCL_P2P_DISABLE=1 and NCCL_P2P_LEVEL are both set: NCCL_P2P_DISABLE wins, so "
                             "NCCL_P2P_LEVEL has no effect", {"NCCL_P2P_DISABLE": env["NCCL_P2P_DISABLE"],
                                                               "NCCL_P2P_LEVEL": env["NCCL_P2P_LEVEL"]},
                             remedy="Keep one of them (src/graph/paths.cc: the disable switch takes precedence).",
                             subject="NCCL_P2P_LEVEL"))
    if not findings:
        if not env:
            return passed("no NCCL_* variable is set (NCCL chooses everything itself)")
        return passed(f"{len(env)} NCCL variable(s) set, all documented with valid values",
                      {"variables": sorted(env)})
    return findings


@check("nccl.torch-env", "PyTorch's NCCL variables use the names this torch reads", needs=("env",))
def check_torch_nccl_env(snap: Snapshot, ctx: Context):
    """Do PyTorch's ProcessGroupNCCL variables use the names the installed torch reads?

    PyTorch 2.2 renamed its NCCL-related variables to TORCH_NCCL_* (NCCL_BLOCKING_WAIT ->
    TORCH_NCCL_BLOCKING_WAIT, NCCL_ASYNC_ERROR_HANDLING -> TORCH_NCCL_ASYNC_ERROR_HANDLING,
    NCCL_DESYNC_DEBUG, NCCL_ENABLE_TIMING, ...).  From 2.2 the old names still work but print a
    deprecation warning; before 2.2 the new names are not read at all.  These are not NCCL variables:
    NCCL itself never reads them.

    Verdicts: WARN for an old name on torch >= 2.2 (use the new one), for a new name on torch < 2.2
    (ignored there), for both names set to different values, and for a value torch does not accept
    (TORCH_NCCL_ASYNC_ERROR_HANDLING takes 0-3; boolean flags 0/1).

    Sources: pytorch PR #114077 (first in 2.2.0) and PR #114880 (deprecation warning);
    torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp; c10/util/env.h check_env (booleans "0"/"1");
    reference_facts.md 6g.
    """
    env = snap.env or {}
    t = snap.torch
    tv = data.version(t.version) if t is not None and t.installed and t.version else None
    first = data.version(N.torch_rename_first())
    findings = []
    for row in N.torch_renames():
        old, new = row["old"], row["new"]
        ov, nv = env.get(old), env.get(new)
        ev = {"old": old, "new": new, "torch": t.version if t else None}
        if ov is not None and nv is not None and ov != nv:
            findings.append(warn(f"{old}={ov} and {new}={nv} are both set with different values; "
                                 f"torch reads {new if tv is None or tv >= first else old}",
                                 {**ev, old: ov, new: nv}, remedy=f"unset {old}", fix=FIX, subject=old))
            continue
        if ov is not None and nv is None:
            if tv is None:
                findings.append(warn(f"{old} is PyTorch's pre-2.2 name; torch ≥ 2.2 reads {new} (and warns about {old}); "
                                     f"the installed torch is unknown", {**ev, old: ov},
                                     remedy=f"On torch ≥ 2.2: unset {old}; export {new}={ov}", fix=FIX, subject=old))
            elif tv >= first:
                findings.append(warn(f"{old} is deprecated since torch 2.2 (torch {t.version} warns and reads {new})",
                                     {**ev, old: ov}, remedy=f"unset {old}; export {new}={ov}", fix=FIX, subject=old))
        if nv is not None and ov is None and tv is not None and tv < first:
            findings.append(warn(f"{new} is not read by torch {t.version} (the TORCH_NCCL_* names arrived in 2.2); "
                                 f"this torch reads {old}", {**ev, new: nv},
                                 remedy=f"export {old}={nv} (or upgrade torch to ≥ 2.2)", fix=FIX, subject=new))
        value = nv if nv is not None else ov
        used = new if nv is not None else old
        if value is not None and value.strip() not in row["values"]:
            findings.append(warn(f"{used}={value!r} is not valid: expected one of {', '.join(row['values'])}",
                                 {**ev, used: value, "expected": row["values"]},
                                 remedy=f"Set {used} to one of {', '.join(row['values'])}.", subject=used))
    tvars = data.load("nccl_env")["torch_variables"]
    for name, spec in tvars["int_values"].items():
        value = env.get(name)
        if value is None or name in {r["new"] for r in N.torch_renames()}:
            continue
        m = re.fullmatch(r"int>=(\d+)", spec) if isinstance(spec, str) else None
        if m and not (re.fullmatch(r"\d+", value.strip()) and int(value) >= int(m.group(1))):
            findings.append(warn(f"{name}={value!r} is not valid: expected an integer ≥ {m.group(1)}",
                                 {name: value}, remedy=f"Set {name} to an integer ≥ {m.group(1)}.", subject=name))
    known = set(tvars["names"])
    for name in sorted(k for k in env if k.startswith("TORCH_NCCL_") and k not in known):
        near = N.did_you_mean(name, known)
        if near:
            findings.append(warn(f"{name} is not a PyTorch NCCL variable (did you mean {near}?)",
                                 {"variable": name, "did_you_mean": near},
                                 remedy=f"unset {name}; export {near}={env[name]}", fix=FIX, subject=name))
    if findings:
        return findings
    set_ = sorted(k for k in env if k.startswith("TORCH_NCCL_") or k in N.torch_old_names())
    return passed("PyTorch's NCCL variables use the names this torch reads" if set_ else
                  "no PyTorch NCCL variable is set", {"variables": set_})


def _iface_names(snap: Snapshot) -> list[str]:
    return [i.name for i in snap.host.interfaces or ()]


@check("nccl.ifname", "NCCL_SOCKET_IFNAME / NCCL_IB_HCA / GLOO_SOCKET_IFNAME select interfaces that exist", needs=("host", "env"))
def check_ifname(snap: Snapshot, ctx: Context):
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
    selects other devices.

    Fix: `llmdoctor fix nccl` sets NCCL_SOCKET_IFNAME to the interface that carries the default route
    (`=name`), and NCCL_IB_HCA to the IB devices with `=`.

    Sources: NVIDIA/nccl env.rst (NCCL_SOCKET_IFNAME, NCCL_IB_HCA); src/misc/utils.cc matchIfList;
    src/bootstrap.cc ("no socket interface found"); PyTorch distributed docs (GLOO_SOCKET_IFNAME);
    reference_facts.md 6b, 6h #1, #14.
    """
    env = snap.env or {}
    host = snap.host
    wanted = [n for n in ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME", "NCCL_IB_HCA") if env.get(n, "").strip()]
    if not wanted:
        return passed("no interface filter is set: NCCL picks interfaces itself (ib* first, lo and docker* last)")
    findings = []
    launch = N.launch(env)
    by_name = {i.name: i for i in host.interfaces or ()}
    for var in wanted:
        value = env[var].strip()
        if var == "NCCL_IB_HCA":
            if host.ib_devices is None:
                findings.append(skip(f"{var} is set, but the InfiniBand devices of this host are unknown", subject=var))
                continue
            devices = list(host.ib_devices)
            hits = N.match_filter(value, devices)
            ev = {var: value, "ib_devices": devices, "selected": hits}
            if not hits:
                findings.append(fail(f"{var}={value} matches none of the InfiniBand devices here "
                                     f"({', '.join(devices) or 'none'}): NCCL cannot use InfiniBand",
                                     ev, remedy=(f"export {var}=={','.join(devices)}" if devices else f"unset {var}"),
                                     fix=FIX, subject=var))
                continue
            broad = N.overbroad_entries(value, devices)
            if broad:
                e, hs = next(iter(broad.items()))
                findings.append(warn(f"{var}={value}: the prefix {e} also selects {', '.join(h for h in hs if h != e)}",
                                     {**ev, "overbroad": broad}, remedy=f"export {var}=={value}", fix=FIX, subject=var))
                continue
            findings.append(passed(f"{var}={value} selects {', '.join(hits)}", ev, subject=var))
            continue
        if host.interfaces is None:
            findings.append(skip(f"{var} is set, but the network interfaces of this host are unknown", subject=var))
            continue
        names = list(by_name)
        if var == "GLOO_SOCKET_IFNAME":
            requested = [p.strip() for p in value.split(",") if p.strip()]
            hits = [p for p in requested if p in by_name]
            missing = [p for p in requested if p not in by_name]
            ev = {var: value, "interfaces": names, "selected": hits}
            if missing:
                findings.append(fail(f"{var}={value} names {', '.join(missing)}, which does not exist here "
                                     f"(interfaces: {', '.join(names)}); gloo fails with 'Unable to find address for'",
                                     ev, remedy=_ifname_remedy(snap, var), fix=FIX, subject=var))
                continue
        else:
            hits = N.match_filter(value, names)
            ev = {var: value, "interfaces": names, "selected": hits}
            if not hits:
                findings.append(fail(f"{var}={value} matches none of this host's interfaces ({', '.join(names)}): "
                                     f"NCCL stops with 'Bootstrap : no socket interface found'",
                                     ev, remedy=_ifname_remedy(snap, var), fix=FIX, subject=var))
                continue
        usable = [h for h in hits if by_name[h].addresses and by_name[h].is_up is not False]
        if not usable:
            findings.append(fail(f"{var}={value} selects only {', '.join(hits)}, which are down or have no IP address: "
                                 f"NCCL finds no socket interface", ev, remedy=_ifname_remedy(snap, var), fix=FIX, subject=var))
            continue
        local_only = all(by_name[h].is_loopback or N.is_virtual(h) for h in usable)
        if local_only:
            msg = (f"{var}={value} selects only loopback/container interfaces ({', '.join(usable)}): "
                   f"other nodes cannot reach them")
            if launch.multi_node is False:
                findings.append(passed(msg + " (fine for this single-node job)", ev, subject=var))
            else:
                findings.append(warn(msg + (" and this is a multi-node job" if launch.multi_node else
                                            "; fine on one node, a multi-node job will hang or fail"),
                                     ev, remedy=_ifname_remedy(snap, var), fix=FIX, subject=var))
            continue
        virtual = [h for h in usable if N.is_virtual(h) or by_name[h].is_loopback]
        if virtual and var == "NCCL_SOCKET_IFNAME" and launch.multi_node is not False:
            real = [h for h in usable if h not in virtual]
            findings.append(warn(f"{var}={value} also selects {', '.join(virtual)}: with an explicit filter NCCL may use "
                                 "every interface it matches, and other nodes cannot reach these",
                                 ev, remedy=f"export {var}=={','.join(real)}", fix=FIX, subject=var))
            continue
        down = [h for h in hits if h not in usable]
        if down:
            findings.append(warn(f"{var}={value} also selects {', '.join(down)} (down or without an address)",
                                 ev, remedy=f"Select exact names: export {var}=={','.join(usable)}", subject=var))
            continue
        findings.append(passed(f"{var}={value} selects {', '.join(usable)}", ev, subject=var))
    return findings


def _ifname_remedy(snap: Snapshot, var: str) -> str:
    best = recommended_interface(snap)
    if best is None:
        return f"unset {var} (let NCCL choose), or set it to an interface from `ip -o link`"
    return f"export {var}={'=' if var == 'NCCL_SOCKET_IFNAME' else ''}{best}"


def recommended_interface(snap: Snapshot) -> str | None:
    """The interface carrying the default route, unless it is loopback/virtual; else the first real one up."""
    host = snap.host
    if host is None or not host.interfaces:
        return None
    by_name = {i.name: i for i in host.interfaces}
    real = [i for i in host.interfaces if not i.is_loopback and not N.is_virtual(i.name)
            and i.addresses and i.is_up is not False]
    route = host.default_route_interface
    if route in by_name and by_name[route] in real:
        return route
    return real[0].name if len(real) == 1 else None


def _gpu_count(snap: Snapshot) -> int | None:
    return len(snap.gpus) if snap.gpus is not None else None


def _p2p_capable(snap: Snapshot) -> bool | None:
    links = snap.gpu_links
    if links is None:
        return None
    if not links:
        return False
    return any(l.p2p_read or l.level == "NVLINK" for l in links)


def _nvswitch_like(snap: Snapshot) -> bool | None:
    """NVLink SHARP needs NVSwitch-connected Hopper or newer (heuristic: ≥ 4 GPUs, all pairs NVLink, CC ≥ 9.0)."""
    if snap.gpus is None or snap.gpu_links is None:
        return None
    if len(snap.gpus) < 4 or not snap.gpu_links:
        return False
    ccs = [data.cc_tuple(F.gpu_cc(g)[0]) for g in snap.gpus]
    return all(l.level == "NVLINK" for l in snap.gpu_links) and all(c is not None and c >= (9, 0) for c in ccs)


@check("nccl.perf-switches", "No NCCL transport is switched off where the hardware would use it", needs=("env",),
       settings={"debug_ok": (bool, False, "accept NCCL_DEBUG=INFO/TRACE (as --debug-ok does)")})
@reports_known_errors
def check_perf_switches(snap: Snapshot, ctx: Context):
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
    switch costs nothing (PASS).

    Fix: `llmdoctor fix nccl` unsets them and sets NCCL_DEBUG=WARN.

    Sources: NVIDIA/nccl env.rst ("Debugging" section intro, NCCL_P2P_DISABLE, NCCL_IB_DISABLE,
    NCCL_SHM_DISABLE, NCCL_NVLS_ENABLE, NCCL_DEBUG); reference_facts.md 6a, 6h #2-#4.
    """
    env = snap.env or {}
    findings = []
    gpus = _gpu_count(snap)
    if N.switch_on(env.get("NCCL_P2P_DISABLE")):
        cap = _p2p_capable(snap)
        ev = {"NCCL_P2P_DISABLE": env["NCCL_P2P_DISABLE"], "gpus": gpus}
        if cap:
            nv = any(l.level == "NVLINK" for l in snap.gpu_links or ())
            findings.append(warn("NCCL_P2P_DISABLE=1 switches off direct GPU-to-GPU copies although these GPUs support "
                                 "P2P" + (" over NVLink" if nv else "") + ": intra-node traffic goes through host memory "
                                 "(a large all-reduce slowdown)", ev, remedy="unset NCCL_P2P_DISABLE", fix=FIX,
                                 subject="NCCL_P2P_DISABLE"))
        elif cap is False:
            findings.append(passed("NCCL_P2P_DISABLE=1 costs nothing here: no GPU pair supports P2P", ev,
                                   subject="NCCL_P2P_DISABLE"))
        else:
            findings.append(warn("NCCL_P2P_DISABLE=1 switches off direct GPU-to-GPU copies; whether these GPUs support "
                                 "P2P is unknown (no topology in the input)", ev,
                                 remedy="Unset it unless you set it to work around a P2P problem (see gpu.topology).",
                                 subject="NCCL_P2P_DISABLE"))
    if N.switch_on(env.get("NCCL_IB_DISABLE")):
        ib = snap.host.ib_devices if snap.host else None
        ev = {"NCCL_IB_DISABLE": env["NCCL_IB_DISABLE"], "ib_devices": list(ib) if ib is not None else None}
        if ib:
            findings.append(warn(f"NCCL_IB_DISABLE=1 while InfiniBand/RoCE devices exist ({', '.join(ib)}): "
                                 "inter-node traffic falls back to TCP sockets", ev, remedy="unset NCCL_IB_DISABLE",
                                 fix=FIX, subject="NCCL_IB_DISABLE"))
        elif ib is not None:
            findings.append(passed("NCCL_IB_DISABLE=1 costs nothing here: no InfiniBand device", ev, subject="NCCL_IB_DISABLE"))
    if N.switch_on(env.get("NCCL_SHM_DISABLE")):
        ev = {"NCCL_SHM_DISABLE": env["NCCL_SHM_DISABLE"], "gpus": gpus}
        if gpus is not None and gpus > 1:
            findings.append(warn(f"NCCL_SHM_DISABLE=1 on a {gpus}-GPU host: where P2P is not possible, intra-node traffic "
                                 "goes over the network transport instead of shared memory", ev,
                                 remedy="unset NCCL_SHM_DISABLE (if /dev/shm is too small, enlarge it: see nccl.shm)",
                                 fix=FIX, subject="NCCL_SHM_DISABLE"))
    nvls = env.get("NCCL_NVLS_ENABLE")
    if nvls is not None and N.parse_int(nvls) == 0:
        sw = _nvswitch_like(snap)
        ev = {"NCCL_NVLS_ENABLE": nvls, "gpus": gpus}
        if sw:
            findings.append(warn("NCCL_NVLS_ENABLE=0 on NVSwitch-connected Hopper-or-newer GPUs: all-reduce loses "
                                 "NVLink SHARP's in-switch reduction", ev, remedy="unset NCCL_NVLS_ENABLE",
                                 fix=FIX, subject="NCCL_NVLS_ENABLE"))
    debug_ok = bool(ctx.option("nccl.perf-switches.debug_ok") or ctx.option("debug_ok"))
    level = (env.get("NCCL_DEBUG") or "").strip().upper()
    subsys = (env.get("NCCL_DEBUG_SUBSYS") or "").strip().upper()
    verbose = []
    if level in ("INFO", "TRACE"):
        verbose.append(f"NCCL_DEBUG={env['NCCL_DEBUG']}")
    if "ALL" in [s.strip().lstrip("^") for s in subsys.split(",")] and not subsys.startswith("^"):
        verbose.append(f"NCCL_DEBUG_SUBSYS={env['NCCL_DEBUG_SUBSYS']}")
    if verbose:
        ev = {k: env[k] for k in ("NCCL_DEBUG", "NCCL_DEBUG_SUBSYS") if k in env}
        if debug_ok:
            findings.append(passed(f"{' and '.join(verbose)}: verbose NCCL logging (accepted with --debug-ok)", ev,
                                   subject="NCCL_DEBUG"))
        else:
            findings.append(warn(f"{' and '.join(verbose)} leaves verbose NCCL logging on: large logs on every rank"
                                 + (", and TRACE logs every call" if level == "TRACE" else ""), ev,
                                 remedy="export NCCL_DEBUG=WARN (or pass --debug-ok while you are debugging)",
                                 fix=FIX, subject="NCCL_DEBUG"))
    if not findings:
        return passed("no NCCL transport switched off, no verbose debug logging")
    return findings


DEFAULT_SHM_MIN = 1 << 30  # 1 GiB: NVIDIA's documented --shm-size=1g


@check("nccl.shm", "/dev/shm and memlock are large enough for NCCL", needs=("host",),
       settings={"min_bytes": (int, DEFAULT_SHM_MIN, "smallest acceptable /dev/shm, in bytes")})
@reports_known_errors
def check_shm(snap: Snapshot, ctx: Context):
    """Is /dev/shm large enough for NCCL between local GPUs, and is memlock unlimited with InfiniBand?

    NCCL's SHM transport and its proxy buffers live in /dev/shm.  Docker gives containers a 64 MB
    /dev/shm by default, which breaks multi-GPU NCCL with "NCCL WARN Error: failed to extend
    /dev/shm/nccl-... to 4194660 bytes" and, through PyTorch, "unhandled system error".  InfiniBand
    registers (pins) memory: a limited memlock ulimit fails with "Call to ibv_reg_mr failed" or
    "ibv_create_qp failed".

    Verdicts: FAIL when a host with two or more GPUs has /dev/shm below `nccl.shm.min_bytes`
    (default 1 GiB, NVIDIA's documented `--shm-size=1g`); WARN when InfiniBand devices exist and the
    memlock soft limit is not unlimited.  With fewer than two GPUs NCCL needs no shared memory
    between local ranks (PASS).

    Fix: `docker run --shm-size=1g --ulimit memlock=-1` (or `--ipc=host`); Kubernetes: mount an
    emptyDir with `medium: Memory` at /dev/shm; bare metal: `* soft memlock unlimited` and
    `* hard memlock unlimited` in /etc/security/limits.conf.

    Sources: NVIDIA/nccl docs troubleshooting/runtime_and_mpi_issues.rst (/dev/shm, Docker),
    troubleshooting/networking_troubleshooting.rst (memlock); reference_facts.md 6h #5, #7.
    """
    host = snap.host
    min_bytes = int(ctx.option("nccl.shm.min_bytes", DEFAULT_SHM_MIN))
    gpus = _gpu_count(snap)
    findings = []
    ev = {"shm_total": host.shm_total, "gpus": gpus, "min_bytes": min_bytes, "container": host.container}
    if host.shm_total is None:
        findings.append(skip("/dev/shm size unknown", ev))
    elif gpus is None:
        findings.append(skip("the local GPU count is unknown, so whether NCCL needs /dev/shm is unknown", ev))
    elif gpus < 2:
        findings.append(passed(f"/dev/shm is {_size(host.shm_total)}; with {gpus} GPU there is no local NCCL peer", ev))
    elif host.shm_total < min_bytes:
        findings.append(fail(f"/dev/shm is {_size(host.shm_total)} on a {gpus}-GPU host (needs ≥ {_size(min_bytes)}): NCCL "
                             "fails with 'failed to extend /dev/shm' / 'unhandled system error'", ev,
                             remedy=_shm_remedy(host.container, min_bytes), subject="/dev/shm"))
    else:
        findings.append(passed(f"/dev/shm is {_size(host.shm_total)} for {gpus} GPUs", ev, subject="/dev/shm"))
    ib = host.ib_devices
    if ib:
        mev = {"memlock_soft": host.memlock_soft, "memlock_hard": host.memlock_hard, "ib_devices": list(ib)}
        if host.memlock_soft is None:
            findings.append(skip("memlock limit unknown", mev, subject="memlock"))
        elif host.memlock_soft != -1:
            findings.append(warn(f"memlock is limited to {_size(host.memlock_soft)} while InfiniBand devices exist "
                                 f"({', '.join(ib)}): NCCL fails with 'Call to ibv_reg_mr failed'", mev,
                                 remedy=("docker run --ulimit memlock=-1; on bare metal add '* soft memlock unlimited' and "
                                         "'* hard memlock unlimited' to /etc/security/limits.conf, then log in again "
                                         "(check with ulimit -l)"), subject="memlock"))
        else:
            findings.append(passed("memlock is unlimited (InfiniBand can register memory)", mev, subject="memlock"))
    return findings


def _shm_remedy(container: str | None, min_bytes: int) -> str:
    gib = max(1, -(-min_bytes // (1 << 30)))
    k8s = ("Kubernetes: mount an emptyDir volume with medium: Memory (sizeLimit: "
           f"{gib}Gi) at /dev/shm")
    docker = f"docker run --shm-size={gib}g --ulimit memlock=-1 ... (or --ipc=host)"
    if container == "kubernetes":
        return k8s
    if container in ("docker", "podman"):
        return f"{docker}; {k8s}"
    return f"{docker}; {k8s}; on bare metal: mount -o remount,size={gib}G /dev/shm"


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            v = n / div
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n} B"


_SO_VERSION = re.compile(r"libnccl\.so\.(\d+(?:\.\d+){0,2})")


@check("nccl.version", "The NCCL torch loads is the one it ships with, and new enough for the GPUs", needs=("torch",))
@reports_known_errors
def check_nccl_version(snap: Snapshot, ctx: Context):
    """Which NCCL does torch load, and is it the intended one?

    Pip-installed torch depends on an exact nvidia-nccl-cu* wheel.  A libnccl.so.2 found earlier on
    LD_LIBRARY_PATH (a system or conda NCCL) can be loaded instead, giving a different NCCL than the one
    torch was tested with: old NCCL bugs, missing features, or "undefined symbol" errors.  An NCCL older
    than the first release with support for the GPU architecture cannot run its kernels.

    Verdicts: WARN when the NCCL torch reports differs from the nvidia-nccl-cu* wheel, when the mapped
    libnccl lies outside the wheel in a folder on LD_LIBRARY_PATH, and when the NCCL is older than the
    minimum for a GPU's architecture (data/nccl_arch.json; rows marked unverified say so).

    Fix: remove the foreign folder from LD_LIBRARY_PATH (or reinstall the wheel torch pins:
    pip install --force-reinstall nvidia-nccl-cu12==<version>).

    Sources: torch.cuda.nccl.version() (the loaded library's ncclGetVersion); PyPI nvidia-nccl-cu12;
    ld.so(8) (LD_LIBRARY_PATH is searched before the RUNPATH of torch's libraries); data/nccl_arch.json.
    """
    t = snap.torch
    if not t.installed:
        return skip("torch is not installed")
    if F.is_cpu_torch(t.version, t.cuda, t.hip) or t.hip:
        return skip("this torch has no NCCL (CPU or ROCm build)")
    wheels = []
    if snap.packages is not None:
        wheels = [d for d in snap.packages.distributions if re.fullmatch(r"nvidia[-_]nccl[-_]cu\d+", d.name.lower())]
    loaded = (t.loaded_libraries or {}).get("nccl")
    runtime = t.nccl
    if runtime is None and loaded:
        m = _SO_VERSION.search(loaded)
        if m and m.group(1).count(".") == 2:
            runtime = m.group(1)
    ev = {"torch_nccl": t.nccl, "loaded": loaded, "wheels": {d.name: d.version for d in wheels}}
    findings = []
    for d in wheels:
        if runtime and data.version(runtime) and data.version(d.version):
            if data.version(runtime).release[:3] != data.version(d.version).release[:3]:
                findings.append(warn(f"torch uses NCCL {runtime}, but the installed {d.name} wheel is {d.version}: "
                                     "another libnccl is loaded first", ev,
                                     remedy="Find it: the 'loaded' path; remove its folder from LD_LIBRARY_PATH",
                                     subject="NCCL"))
    if loaded:
        lib_dir = os.path.dirname(loaded)
        in_wheel = any(d.location and lib_dir.startswith(os.path.join(d.location, "nvidia", "nccl")) for d in wheels) or "/nvidia/nccl/" in loaded
        ldp = [p.rstrip("/") for p in (snap.env or {}).get("LD_LIBRARY_PATH", "").split(":") if p]
        if wheels and not in_wheel and lib_dir.rstrip("/") in ldp:
            findings.append(warn(f"torch loads {loaded} from LD_LIBRARY_PATH instead of the {wheels[0].name} wheel's NCCL",
                                 {**ev, "LD_LIBRARY_PATH": ldp},
                                 remedy=f"Remove {lib_dir} from LD_LIBRARY_PATH for this job", subject="NCCL"))
    if runtime and snap.gpus:
        rv = data.version(runtime)
        for row in data.load("nccl_arch")["arch"]:
            need = data.version(row["min_nccl"])
            hit = [g for g in snap.gpus if (c := data.cc_tuple(F.gpu_cc(g)[0])) and c >= data.cc_tuple(row["min_cc"])
                   and c < data.cc_tuple(row.get("below_cc", "99.0"))]
            if hit and rv is not None and rv < need:
                note = "" if row.get("verified") else " (this minimum is not verified: data/nccl_arch.json)"
                findings.append(warn(f"NCCL {runtime} predates {row['arch']} support (NCCL ≥ {row['min_nccl']}) needed by "
                                     f"{F.gpu_label(hit[0])}{note}", {**ev, "source": row["source"]},
                                     remedy="Install a torch build whose NCCL supports this GPU (see torch.build).",
                                     subject=F.gpu_label(hit[0])))
                break
    if findings:
        return findings
    if runtime is None and not wheels:
        return skip("torch's NCCL version is unknown", ev)
    return passed(f"torch uses NCCL {runtime or '(version unknown)'}"
                  + (f" from the {wheels[0].name} {wheels[0].version} wheel" if wheels else ""), ev)
