"""Memory: will the model fit (with --model), allocator settings, memory other processes hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from .. import data
from ..engine import Context, Setting, check
from ..facts import derived as F
from ..memory import allocconf
from ..memory.formulas import FORMULAS
from ..results import Finding, fail, not_applicable, passed, unknown, warn
from ..snapshot import Gpu, Host, Torch
from ..units import format_bytes
from ..frozen import frozen

if TYPE_CHECKING:  # the planner is imported when a model is given: a run without --model never loads it
    from ..memory.architectures import ModelSpec
    from ..memory.plan import GpuBudget, Options

GIB = "GiB"  # the figures a message compares, all in one unit ("30.0 GiB of 79.6 GiB")


FIT_SETTINGS = {
    "model": Setting(str, None, "model directory, config.json or cached repo id to plan for", flag="--model"),
    "seq_len": Setting(int, 4096, "with --model: tokens per sequence", flag="--seq-len", requires="--model"),
    "batch": Setting(int, 1, "with --model: sequences at once", flag="--batch", requires="--model"),
    "mode": Setting(str, "inference", "with --model: inference, lora, qlora or full", flag="--mode", requires="--model",
                    choices=("inference", "lora", "qlora", "full")),
    "dtype": Setting(str, "bf16", "weights dtype (bf16, fp16, fp32, fp8, int8)", flag="--dtype"),
}


def _fit_spec(model: Any) -> ModelSpec | None:
    """The model to plan for: a ModelSpec the command line resolved, or the path/repo id it names."""
    if model is None:
        return None
    from ..memory.architectures import ModelSpec

    if isinstance(model, ModelSpec):
        return model
    from ..model_config import load_model_spec

    return load_model_spec(str(model))  # reads the user's config.json (and safetensors headers): their input


def _fit_options(ctx: Context) -> Options:
    from ..memory.plan import Options, normalize_dtype

    given = ctx.option("memory.fit.options")  # planner Options the command line built (legacy key)
    if isinstance(given, Options):
        return given
    dtype = normalize_dtype(str(ctx.setting("dtype") or "bf16"))
    dtype = dtype if dtype in ("bf16", "fp16", "fp32", "fp8", "int8") else "bf16"
    return Options(dtype=dtype, quant="bnb" if dtype == "int8" else None, seq_len=int(ctx.setting("seq_len")),
                   batch=int(ctx.setting("batch")), mode=str(ctx.setting("mode")).lower()).validate()


def _budgets(gpus: tuple[Gpu, ...]) -> list[GpuBudget] | str:
    """Budgets of the GPUs (MIG slices count as what they are), or the reason one is unknown."""
    from ..memory.plan import GpuBudget

    out: list[GpuBudget] = []
    for g in gpus:
        slices = [m for m in (g.mig_devices or ()) if m.memory_total]
        if g.mig_mode and slices:
            out += [GpuBudget(f"{F.gpu_label(g)} MIG {m.index}", f"{g.name or 'GPU'} MIG {m.profile or m.index}",
                              int(m.memory_total or 0), int(m.memory_used or 0), compute_capability=F.gpu_cc(g)[0])
                    for m in slices]
            continue
        if g.memory_total is None:
            return f"memory of {F.gpu_label(g)} is unknown"
        out.append(GpuBudget(F.gpu_label(g), g.name or "GPU", g.memory_total, g.memory_used or 0,
                             compute_capability=F.gpu_cc(g)[0]))
    return out


def _fit_message(spec: ModelSpec, opts: Options) -> str:
    return (f"{spec.name} ({spec.params / 1e9:.2f}B params, {opts.effective_dtype}, {opts.mode}, seq {opts.seq_len} x "
            f"batch {opts.batch})")


def _fit_finding(spec: ModelSpec, opts: Options, gpus: list[GpuBudget], host: Host | None) -> Finding:
    from ..memory.plan import GiB, plan, remedies

    p = plan(spec, gpus, opts)
    evidence = {"model": spec.name, "params": spec.params, "params_source": spec.params_source,
                "mode": opts.mode, "dtype": opts.effective_dtype, "seq_len": opts.seq_len, "batch": opts.batch,
                "strategy": p.strategy, **{f"{k}_GiB": round(v / GiB, 2) for k, v in p.totals.items() if v}}
    if p.problems:
        return fail(f"{_fit_message(spec, opts)}: {p.problems[0]}", evidence,
                    remedy=f"Use --seq-len {spec.max_position} or less, or a long-context variant of the model.")
    if p.fits:
        msg = f"{_fit_message(spec, opts)} fits: {p.strategy}, " + ", ".join(
            f"{g.gpu.label} {format_bytes(g.needed, unit=GIB)} of {format_bytes(g.gpu.total, unit=GIB)}" for g in p.gpus)
        if sum(g.free for g in p.gpus) < 0.05 * sum(g.gpu.total for g in p.gpus):
            return warn(msg + "; less than 5% headroom left", evidence,
                        remedy="Expect OOMs from fragmentation or longer inputs; shorten the context or free memory.")
        return passed(msg, evidence)
    rem = remedies(spec, gpus, opts, ram_available=host.ram_available if host else None)
    have = sum(g.total - g.used for g in gpus)
    others = sum(g.used for g in gpus)
    needed = format_bytes(sum(p.totals.values()), unit=GIB)
    msg = (f"{_fit_message(spec, opts)} does not fit: it needs about {needed} plus overhead, "
           f"the GPUs have {format_bytes(have, unit=GIB)} free"
           + (f" ({format_bytes(others, unit=GIB)} held by other processes)" if others else ""))
    text = " ".join(f"({i}) {r.text}" for i, r in enumerate([r for r in rem if r.fits][:3], 1)) or \
        "No single change makes it fit; see llmdoctor fit for the options."
    return fail(msg, evidence, remedy=text)


@check("memory.fit", "The model fits in the GPUs' free memory", settings=FIT_SETTINGS, known_errors=True)
def check_memory_fit(gpus: tuple[Gpu, ...], host: Host | None, ctx: Context) -> Finding:
    """Will the model given with `llmdoctor check --model MODEL` fit on these GPUs, with the memory free now?

    The plan adds, per GPU: weights (by dtype/quantization), KV cache (GQA/MQA/MLA, sliding windows),
    activations, gradients and optimizer states (training modes), the CUDA context and an allocator
    reserve, and what other processes hold now (NVML).  Several GPUs are filled in order as
    `device_map="auto"` does; a GPU in MIG mode counts as its slices.  FAIL names the ranked ways to make
    it fit (shorter context, quantization, more GPUs with a max_memory dict, offload), or says the model
    cannot take the context (beyond max_position_embeddings).  Without --model: not applicable.

    Formulas: `llmdoctor fit MODEL --explain`.  Sources: QLoRA paper (nf4 + double quant), ZeRO paper
    (16 bytes/param for mixed-precision Adam), Korthikanti et al. 2022 (activations), DeepSeek-V2 (MLA).
    """
    spec = _fit_spec(ctx.setting("model"))
    if spec is None:
        return not_applicable("no model given (llmdoctor check --model MODEL)")
    if not gpus:
        return not_applicable("no NVIDIA GPU on this host to place the model on")
    budgets = _budgets(gpus)
    if isinstance(budgets, str):
        return unknown(budgets)
    opts = _fit_options(ctx)
    if opts.tp > len(budgets):
        return unknown(f"--tp {opts.tp} needs {opts.tp} GPUs; this host has {len(budgets)}")
    return _fit_finding(spec, opts, budgets, host)


check_memory_fit.__doc__ = (check_memory_fit.__doc__ or "") + "\n    Formulas:\n" + "".join(
    f"    - {k}: {v}\n" for k, v in FORMULAS.items())


@frozen
class _AllocEnv:
    """What the allocator rules look at: both variables, the torch that reads them, the parsed settings."""

    legacy_name: str
    generic_name: str
    legacy: str | None
    generic: str | None
    tver: str | None
    generic_read: bool
    table: Mapping[str, Any]

    @property
    def effective(self) -> dict[str, str]:
        value = self.generic if self.generic is not None and self.generic_read else self.legacy
        return allocconf.parse(value, self.tver)[0] if value is not None else {}


def _alloc_env(env: Mapping[str, str], torch: Torch | None) -> _AllocEnv:
    table = data.load("alloc_conf")
    names = table["variables"]
    tver = torch.version if torch is not None and torch.installed else None
    tv = data.version(tver)
    since = data.version(names["generic_since"])
    generic_read = tv is None or since is None or tv >= since
    return _AllocEnv(names["legacy"], names["generic"], env.get(names["legacy"]), env.get(names["generic"]), tver,
                     generic_read, table)


def _syntax_findings(a: _AllocEnv) -> list[Finding]:
    out = []
    for name, value in ((a.generic_name, a.generic), (a.legacy_name, a.legacy)):
        if value is None:
            continue
        for pr in allocconf.parse(value, a.tver)[1]:
            f = fail if pr.severity == "fail" else warn
            out.append(f(f"{name}: {pr.message}", {name: value, "torch": a.tver},
                         remedy="Fix the value (syntax: key:value,key2:value2; see llmdoctor explain memory.alloc-conf).",
                         subject=name))
    return out


def _unread_generic(a: _AllocEnv) -> list[Finding]:
    if a.generic is not None and a.tver is not None and not a.generic_read:
        return [warn(f"{a.generic_name} is set, but torch {a.tver} reads only {a.legacy_name}: the setting has no "
                     "effect", {a.generic_name: a.generic, "torch": a.tver},
                     remedy=f"export {a.legacy_name}='{a.generic}'")]
    return []


def _disagreeing(a: _AllocEnv) -> list[Finding]:
    if a.generic is None or a.legacy is None or not a.generic_read:
        return []
    if allocconf.parse(a.generic, a.tver)[0] == allocconf.parse(a.legacy, a.tver)[0]:
        return []
    return [warn(f"{a.generic_name} and {a.legacy_name} are both set and disagree; torch {a.tver or '>= 2.9'} uses "
                 f"{a.generic_name} and ignores {a.legacy_name}",
                 {a.generic_name: a.generic, a.legacy_name: a.legacy, "torch": a.tver},
                 remedy=f"Set one of them (unset {a.legacy_name}).")]


def _expandable_ignored(a: _AllocEnv) -> list[Finding]:
    bug = a.table["expandable_ignored_in_generic"]
    tv = data.version(a.tver)
    if a.generic is None or tv is None or "expandable_segments" not in a.effective:
        return []
    mm = f"{tv.major}.{tv.minor}"
    legacy_has = a.legacy is not None and "expandable_segments" in allocconf.parse(a.legacy, a.tver)[0]
    if legacy_has or mm not in bug["versions"] + bug["unconfirmed"]:
        return []
    sure = mm in bug["versions"]
    return [warn(f"torch {a.tver} {'ignores' if sure else 'may ignore'} expandable_segments in {a.generic_name} "
                 f"for CUDA (pytorch #183387; fixed in {bug['fixed']})", {a.generic_name: a.generic, "torch": a.tver},
                 remedy=f"Also set {a.legacy_name}='{a.generic}' (or upgrade torch to >= {bug['fixed']}).")]


def _windows_expandable(a: _AllocEnv, host: Host | None) -> list[Finding]:
    on = a.effective.get("expandable_segments") == "True" or bool(
        a.legacy and "expandable_segments:True" in a.legacy.replace(" ", ""))
    if on and host is not None and (host.os or "").lower() == "windows":
        return [warn("expandable_segments:True is not supported on Windows builds: torch warns "
                     "'expandable_segments not supported on this platform' and ignores it",
                     {"os": host.os}, remedy="Drop it; use max_split_size_mb to limit fragmentation.")]
    return []


@check("memory.alloc-conf", "PyTorch allocator settings are valid for this torch", known_errors=True)
def check_alloc_conf(env: Mapping[str, str], torch: Torch | None, host: Host | None) -> list[Finding]:
    """Are PYTORCH_CUDA_ALLOC_CONF / PYTORCH_ALLOC_CONF valid for the installed torch?

    torch parses these at the first CUDA allocation: an unknown key or a bad value (max_split_size_mb
    below 20, garbage_collection_threshold outside (0, 1), expandable_segments not exactly True/False,
    roundup divisions not powers of 2) raises there, after the job has started.  From torch 2.9
    PYTORCH_ALLOC_CONF is the device-generic name and wins; PYTORCH_CUDA_ALLOC_CONF is read only when it
    is unset (older torch reads only PYTORCH_CUDA_ALLOC_CONF).  In torch 2.9.x
    PYTORCH_ALLOC_CONF=expandable_segments:True is silently ignored for CUDA (pytorch #183387, fixed in
    2.11).  backend:cudaMallocAsync ignores the native allocator's options.  For training with variable
    shapes, expandable_segments:True reduces fragmentation.

    Sources: pytorch c10/cuda/CUDAAllocatorConfig.cpp, c10/core/AllocatorConfig.cpp, docs notes/cuda.rst;
    pytorch #183387.
    """
    a = _alloc_env(env, torch)
    if a.legacy is None and a.generic is None and a.tver is None:
        return [not_applicable(f"{a.legacy_name} / {a.generic_name} not set: nothing to validate (torch version "
                               f"unknown; {allocconf.expandable_setting(None)} is read by every release)")]
    if a.legacy is None and a.generic is None:
        return [passed(f"{a.legacy_name} / {a.generic_name} not set: allocator defaults apply (for training with "
                       f"variable shapes, consider {allocconf.expandable_setting(a.tver)})", {"torch": a.tver})]
    findings = (_syntax_findings(a) + _unread_generic(a) + _disagreeing(a) + _expandable_ignored(a)
                + _windows_expandable(a, host))
    if findings:
        return findings
    shown = {k: v for k, v in ((a.generic_name, a.generic), (a.legacy_name, a.legacy)) if v is not None}
    if a.tver is None:
        return [unknown("torch version unknown: cannot tell which of the allocator variables it reads or which keys "
                        "it accepts: " + "; ".join(f"{k}={v}" for k, v in shown.items()), shown)]
    return [passed(f"allocator settings are valid for torch {a.tver}: "
                   + "; ".join(f"{k}={v}" for k, v in shown.items()), {**shown, "torch": a.tver})]


def _gpu_free_finding(g: Gpu, threshold: float) -> Finding:
    label = F.gpu_label(g)
    if g.memory_total is None or g.memory_used is None:
        return unknown(f"memory use of {label} is unknown", subject=label)
    frac = g.memory_used / g.memory_total if g.memory_total else 0
    procs: list[dict[str, Any]] = [{"pid": p.pid, "name": p.name, "used_bytes": p.used_memory}
                                   for p in (g.processes or ())]
    evidence = {"memory_used": g.memory_used, "memory_total": g.memory_total, "fraction": round(frac, 4),
                "threshold": threshold, "processes": procs}
    in_use = f"{format_bytes(g.memory_used, unit=GIB)} of {format_bytes(g.memory_total, unit=GIB)}"
    if frac <= threshold:
        return passed(f"{label}: {in_use} in use ({frac:.0%})", evidence, subject=label)
    who = ", ".join(f"pid {p['pid']} {p['name'] or '?'} ({format_bytes(p['used_bytes'] or 0, unit=GIB)})" for p in procs) \
        or "no process listed (another container, or the driver)"
    return warn(f"{label}: {in_use} ({frac:.0%}) is already in use: {who}",
                evidence, subject=label,
                remedy="Stop those processes (check first: ps -o pid,user,cmd -p PID; then kill PID), "
                       "or select another GPU with CUDA_VISIBLE_DEVICES.")


@check("memory.gpu-free", "No other process holds much GPU memory",
       settings={"threshold": Setting(float, 0.05, "fraction of a GPU's memory others may hold before a warning")},
       known_errors=True)
def check_gpu_free(gpus: tuple[Gpu, ...], ctx: Context) -> list[Finding] | Finding:
    """How much memory do other processes already hold on each GPU?

    A job plans for the whole GPU; memory held by another process (a forgotten notebook kernel, a
    zombie trainer, a second server) is missing at the worst time and turns into CUDA out-of-memory.
    WARN when a GPU has more than a threshold (default 5 %, setting threshold) of its
    memory in use, naming the processes (pids, names, bytes) NVML reports.

    Fix: stop the processes (`kill PID`, after checking what they are), or pick another GPU with
    CUDA_VISIBLE_DEVICES.  Source: NVML nvmlDeviceGetMemoryInfo / nvmlDeviceGetComputeRunningProcesses.
    """
    if not gpus:
        return not_applicable("no NVIDIA GPU on this host")
    threshold = float(ctx.setting("threshold"))
    return [_gpu_free_finding(g, threshold) for g in gpus]
