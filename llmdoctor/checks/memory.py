"""Memory: will the model fit (with --model), allocator settings, memory other processes hold."""

from __future__ import annotations

from .. import data
from ..engine import Context, check
from ..memory import allocconf
from ..memory.plan import FORMULAS, GiB, GpuBudget, Options, plan, remedies
from ..results import fail, passed, skip, warn
from ..snapshot import Snapshot
from ..facts import derived as F


def _gib(n: float) -> str:
    return f"{n / GiB:.1f} GiB"


@check("memory.fit", "The model fits in the GPUs' free memory", needs=("gpus",))
def check_memory_fit(snap: Snapshot, ctx: Context):
    """Will the model given with `llmdoctor check --model MODEL` fit on these GPUs, with the memory free now?

    The plan adds, per GPU: weights (by dtype/quantization), KV cache (GQA/MQA/MLA, sliding windows),
    activations, gradients and optimizer states (training modes), the CUDA context and an allocator
    reserve, and what other processes hold now (NVML).  Several GPUs are filled in order as
    `device_map="auto"` does.  FAIL names the ranked ways to make it fit (shorter context, quantization,
    more GPUs with a max_memory dict, offload).  Without --model the check is skipped.

    Formulas: `llmdoctor fit MODEL --explain`.  Sources: QLoRA paper (nf4 + double quant), ZeRO paper
    (16 bytes/param for mixed-precision Adam), Korthikanti et al. 2022 (activations), DeepSeek-V2 (MLA).
    """
    spec = ctx.option("memory.fit.model")
    if spec is None:
        return skip("no model given (llmdoctor check --model MODEL)")
    opts = ctx.option("memory.fit.options") or Options()
    if not snap.gpus:
        return skip("no NVIDIA GPU on this host to place the model on")
    gpus = []
    for g in snap.gpus:
        if g.memory_total is None:
            return skip(f"memory of {F.gpu_label(g)} is unknown")
        gpus.append(GpuBudget(F.gpu_label(g), g.name or "GPU", g.memory_total, g.memory_used or 0,
                              compute_capability=F.gpu_cc(g)[0]))
    if opts.tp > len(gpus):
        return skip(f"--tp {opts.tp} needs {opts.tp} GPUs; this host has {len(gpus)}")
    p = plan(spec, gpus, opts)
    evidence = {"model": spec.name, "params": spec.params, "params_source": spec.params_source,
                "mode": opts.mode, "dtype": opts.effective_dtype, "seq_len": opts.seq_len, "batch": opts.batch,
                "strategy": p.strategy, **{f"{k}_GiB": round(v / GiB, 2) for k, v in p.totals.items() if v}}
    if p.fits:
        tight = sum(g.free for g in p.gpus) < 0.05 * sum(g.gpu.total for g in p.gpus)
        msg = (f"{spec.name} ({spec.params / 1e9:.2f}B params, {opts.effective_dtype}, {opts.mode}, seq {opts.seq_len} x batch "
               f"{opts.batch}) fits: {p.strategy}, " + ", ".join(f"{g.gpu.label} {_gib(g.needed)} of {_gib(g.gpu.total)}" for g in p.gpus))
        if tight:
            return warn(msg + "; less than 5% headroom left", evidence,
                        remedy="Expect OOMs from fragmentation or longer inputs; shorten the context or free memory.")
        return passed(msg, evidence)
    rem = remedies(spec, gpus, opts, ram_available=snap.host.ram_available if snap.host else None)
    need = sum(p.totals.values())
    have = sum(g.total - g.used for g in gpus)
    others = sum(g.used for g in gpus)
    msg = (f"{spec.name} ({spec.params / 1e9:.2f}B params, {opts.effective_dtype}, {opts.mode}, seq {opts.seq_len} x batch "
           f"{opts.batch}) does not fit: it needs about {_gib(need)} plus overhead, the GPUs have {_gib(have)} free"
           + (f" ({_gib(others)} held by other processes)" if others else ""))
    text = " ".join(f"({i}) {r.text}" for i, r in enumerate([r for r in rem if r.fits][:3], 1)) or \
        "No single change makes it fit; see llmdoctor fit for the options."
    return fail(msg, evidence, remedy=text)


check_memory_fit.__doc__ = (check_memory_fit.__doc__ or "") + "\n    Formulas:\n" + "".join(
    f"    - {k}: {v}\n" for k, v in FORMULAS.items())


@check("memory.alloc-conf", "PyTorch allocator settings are valid for this torch", needs=("env",))
def check_alloc_conf(snap: Snapshot, ctx: Context):
    """Are PYTORCH_CUDA_ALLOC_CONF / PYTORCH_ALLOC_CONF valid for the installed torch?

    torch parses these at the first CUDA allocation: an unknown key or a bad value (max_split_size_mb
    below 20, garbage_collection_threshold outside (0, 1), expandable_segments not exactly True/False,
    roundup divisions not powers of 2) raises there, after the job has started.  From torch 2.9
    PYTORCH_ALLOC_CONF is the device-generic name and wins; PYTORCH_CUDA_ALLOC_CONF is read only when it
    is unset (older torch reads only PYTORCH_CUDA_ALLOC_CONF).  In torch 2.9.x
    PYTORCH_ALLOC_CONF=expandable_segments:True is silently ignored for CUDA (pytorch #183387, fixed in
    2.11).  backend:cudaMallocAsync ignores the native allocator's options.  For training with variable
    shapes, expandable_segments:True reduces fragmentation.

    Sources: data/alloc_conf.json (pytorch CUDAAllocatorConfig.cpp, AllocatorConfig.cpp,
    notes/cuda.rst; reference_facts.md 7).
    """
    env = snap.env or {}
    table = data.load("alloc_conf")
    legacy_name, generic_name = table["variables"]["legacy"], table["variables"]["generic"]
    legacy, generic = env.get(legacy_name), env.get(generic_name)
    tver = snap.torch.version if snap.torch is not None and snap.torch.installed else None
    tv = data.version(tver)
    if legacy is None and generic is None:
        return [passed("PYTORCH_CUDA_ALLOC_CONF / PYTORCH_ALLOC_CONF not set: allocator defaults apply "
                      "(for training with variable shapes, consider PYTORCH_ALLOC_CONF=expandable_segments:True)",
                      {"torch": tver})]
    findings = []
    generic_since = data.version(table["variables"]["generic_since"])
    generic_read = tv is None or tv >= generic_since
    effective = {}
    for name, value in ((generic_name, generic), (legacy_name, legacy)):
        if value is None:
            continue
        settings, problems = allocconf.parse(value, tver)
        if name == generic_name or not generic_read or generic is None:
            effective = effective or settings
        for pr in problems:
            f = fail if pr.severity == "fail" else warn
            findings.append(f(f"{name}: {pr.message}", {name: value, "torch": tver},
                              remedy=f"Fix the value (syntax: key:value,key2:value2; see llmdoctor explain memory.alloc-conf).",
                              subject=name))
    if generic is not None and tv is not None and not generic_read:
        findings.append(warn(f"{generic_name} is set, but torch {tver} reads only {legacy_name}: the setting has no effect",
                             {generic_name: generic, "torch": tver}, remedy=f"export {legacy_name}='{generic}'"))
    if generic is not None and legacy is not None and generic_read:
        a, _ = allocconf.parse(generic, tver)
        b, _ = allocconf.parse(legacy, tver)
        if a != b:
            findings.append(warn(f"{generic_name} and {legacy_name} are both set and disagree; torch {tver or '>= 2.9'} uses "
                                 f"{generic_name} and ignores {legacy_name}",
                                 {generic_name: generic, legacy_name: legacy, "torch": tver},
                                 remedy=f"Set one of them (unset {legacy_name})."))
    bug = table["expandable_ignored_in_generic"]
    if generic is not None and tv is not None and "expandable_segments" in (effective or {}):
        mm = f"{tv.major}.{tv.minor}"
        legacy_has = legacy is not None and "expandable_segments" in allocconf.parse(legacy, tver)[0]
        if not legacy_has and (mm in bug["versions"] or mm in bug["unconfirmed"]):
            sure = mm in bug["versions"]
            findings.append(warn(f"torch {tver} {'ignores' if sure else 'may ignore'} expandable_segments in {generic_name} "
                                 f"for CUDA (pytorch #183387; fixed in {bug['fixed']})",
                                 {generic_name: generic, "torch": tver},
                                 remedy=f"Also set {legacy_name}='{generic}' (or upgrade torch to >= {bug['fixed']})."))
    if (effective.get("expandable_segments") == "True" or (legacy and "expandable_segments:True" in legacy.replace(" ", ""))) \
            and snap.host is not None and (snap.host.os or "").lower() == "windows":
        findings.append(warn("expandable_segments:True is not supported on Windows builds: torch warns "
                             "'expandable_segments not supported on this platform' and ignores it",
                             {"os": snap.host.os}, remedy="Drop it; use max_split_size_mb to limit fragmentation."))
    if not findings:
        shown = {k: v for k, v in ((generic_name, generic), (legacy_name, legacy)) if v is not None}
        findings.append(passed("allocator settings are valid for torch " + (tver or "(version unknown)") + ": "
                               + "; ".join(f"{k}={v}" for k, v in shown.items()), {**shown, "torch": tver}))
    return findings


@check("memory.gpu-free", "No other process holds much GPU memory", needs=("gpus",),
       settings={"threshold": (float, 0.05, "fraction of a GPU's memory others may hold before a warning")})
def check_gpu_free(snap: Snapshot, ctx: Context):
    """How much memory do other processes already hold on each GPU?

    A job plans for the whole GPU; memory held by another process (a forgotten notebook kernel, a
    zombie trainer, a second server) is missing at the worst time and turns into CUDA out-of-memory.
    WARN when a GPU has more than a threshold (default 5 %, option memory.gpu-free.threshold) of its
    memory in use, naming the processes (pids, names, bytes) NVML reports.

    Fix: stop the processes (`kill PID`, after checking what they are), or pick another GPU with
    CUDA_VISIBLE_DEVICES.  Source: NVML nvmlDeviceGetMemoryInfo / nvmlDeviceGetComputeRunningProcesses.
    """
    if not snap.gpus:
        return skip("no NVIDIA GPU on this host")
    threshold = float(ctx.option("memory.gpu-free.threshold", 0.05))
    findings = []
    for g in snap.gpus:
        label = F.gpu_label(g)
        if g.memory_total is None or g.memory_used is None:
            findings.append(skip(f"memory use of {label} is unknown", subject=label))
            continue
        frac = g.memory_used / g.memory_total if g.memory_total else 0
        procs = [{"pid": p.pid, "name": p.name, "used_bytes": p.used_memory} for p in (g.processes or ())]
        evidence = {"memory_used": g.memory_used, "memory_total": g.memory_total, "fraction": round(frac, 4),
                    "threshold": threshold, "processes": procs}
        if frac > threshold:
            who = ", ".join(f"pid {p['pid']} {p['name'] or '?'} ({_gib(p['used_bytes'] or 0)})" for p in procs) \
                or "no process listed (another container, or the driver)"
            findings.append(warn(f"{label}: {_gib(g.memory_used)} of {_gib(g.memory_total)} ({frac:.0%}) is already in use: {who}",
                                 evidence, subject=label,
                                 remedy="Stop those processes (check first: ps -o pid,user,cmd -p PID; then kill PID), "
                                        "or select another GPU with CUDA_VISIBLE_DEVICES."))
        else:
            findings.append(passed(f"{label}: {_gib(g.memory_used)} of {_gib(g.memory_total)} in use ({frac:.0%})",
                                   evidence, subject=label))
    return findings
