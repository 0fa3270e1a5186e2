"""Text for a Plan: a bar per GPU (weights | KV cache | activations | optimizer | overhead | free). Pure.

Every line fits the width it is given: prose wraps at spaces (never inside a word), bars are sized to fit.
"""

from __future__ import annotations

import textwrap
from typing import Any

from .architectures import ModelSpec
from .engines import ASSUMPTIONS, EnginePlan
from ..units import format_bytes
from .formulas import FORMULAS
from .plan import GpuBudget, Plan, Remedy

BAR_TERMS = [("weights", "W", "blue"), ("kv_cache", "K", "magenta"), ("activations", "A", "yellow"),
             ("gradients", "G", "cyan"), ("optimizer", "O", "red"), ("overhead", "o", "white"), ("others", "X", "bright_black")]
LEGEND = ["W weights", "K KV cache", "A activations", "G gradients", "O optimizer", "o overhead",
          "X other processes", ". free"]
ENGINE_TERMS = [("weights", "W", "blue"), ("activations", "A", "yellow"), ("non_torch", "n", "white"),
                ("cuda_graphs", "g", "cyan"), ("kv_cache", "K", "magenta"), ("init", "n", "white"),
                ("reserved", "r", "bright_black")]


def wrap(text: str, width: int, indent: str = "") -> list[str]:
    """Lines of at most width columns, broken at spaces only (a word longer than the width stays whole)."""
    return textwrap.wrap(text, width=max(width, 20), subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False) or [""]


def pack(items: list[str], width: int, indent: str = "", sep: str = "  ") -> list[str]:
    """Items (each kept whole) joined by sep, a new line whenever the next would pass the width."""
    lines: list[str] = []
    cur = ""
    for it in items:
        cand = f"{cur}{sep}{it}" if cur else it
        if cur and len(indent) + len(cand) > width:
            lines.append(indent + cur)
            cur = it
        else:
            cur = cand
    lines.append(indent + cur)
    return lines


def bar(terms: dict[str, float], total: float, width: int, color: bool,
        legend: list[tuple[str, str, str]] | None = None) -> str:
    scale = max(total, sum(terms.values()))
    out = []
    used_cols = 0
    for key, ch, style in legend or BAR_TERMS:
        cols = int(round(terms.get(key, 0) / scale * width)) if scale else 0
        cols = min(cols, width - used_cols)
        used_cols += cols
        if cols:
            out.append(f"[{style}]{ch * cols}[/]" if color else ch * cols)
    free_cols = max(width - used_cols, 0)
    out.append(f"[green]{'.' * free_cols}[/]" if color else "." * free_cols)
    return "".join(out)


def short_name(name: str, width: int) -> str:
    """The GPU's name without the vendor words, cut at a word boundary when still too long."""
    for word in ("NVIDIA ", "GeForce ", "Tesla "):
        name = name.replace(word, "") if len(name) > width else name
    if len(name) <= width:
        return name
    cut = name[:width].rsplit(" ", 1)[0]
    return cut if cut else name[:width]


def _gpu_line(label: str, name: str, terms: dict[str, float], total: float, needed: float, fits: bool,
              width: int, color: bool, legend: list[tuple[str, str, str]] | None = None) -> str:
    verdict = "fits" if fits else "DOES NOT FIT"
    tail = f" {format_bytes(needed, unit='GiB', suffix=False)}/{format_bytes(total, unit='GiB')} {verdict}"
    name_w = max(8, min(28, width // 4))
    head = f"{label:<6} {short_name(name, name_w):<{name_w}} "
    barw = max(10, min(60, width - len(head) - len(tail) - 2))
    if color:
        verdict = f"[green]{verdict}[/]" if fits else f"[bold red]{verdict}[/]"
    return f"{head}|{bar(terms, total, barw, color, legend)}| {format_bytes(needed, unit='GiB', suffix=False)}/{format_bytes(total, unit='GiB')} {verdict}"


def _header(p: Plan, width: int) -> list[str]:
    s, o = p.spec, p.opts
    lines = wrap(f"{s.name}: {s.params:,} parameters ({s.params_source}), {s.model_type}, {s.layers} layers"
                 + (f", {s.experts} experts ({s.experts_per_tok} per token)" if s.experts else ""), width, "  ")
    job = (f"job: {o.mode}, weights {o.effective_dtype}" + (f" ({o.quant})" if o.quant else "")
           + f", seq-len {o.seq_len:,} x batch {o.batch}" + (f", tp {o.tp}" if o.tp > 1 else "")
           + (f", optimizer {o.optimizer}, gradient checkpointing {'on' if o.grad_ckpt else 'off'}, stack {o.stack}"
              if o.mode != "inference" else "") + f"; {p.strategy}")
    lines += wrap(job, width, "  ")
    lines += wrap("totals: " + ", ".join(f"{k.replace('_', ' ')} {format_bytes(v, unit='GiB')}" for k, v in p.totals.items() if v),
                  width, "  ")
    return lines


def render(p: Plan, caps: list[dict[str, int]], rems: list[Remedy], width: int = 100, color: bool = False) -> str:
    lines = _header(p, width) + [""]
    for g in p.gpus:
        lines.append(_gpu_line(g.gpu.label, g.gpu.name, g.terms, g.gpu.total, g.needed, g.fits, width, color))
    lines += pack(LEGEND, width, "       ")
    if p.overflow > 0:
        lines += wrap(f"not placed: {format_bytes(p.overflow, unit='GiB')} of weights/KV cache found no GPU", width)
    if p.unused:
        lines += wrap(f"unused: {', '.join(p.unused)} (the model fits on the first {len(p.gpus)}; "
                      f"device_map=\"auto\" fills GPUs in order; --tp {len(p.gpus) + len(p.unused)} splits it over "
                      f"all of them)", width, "  ")
    lines.append("")
    for prob in p.problems:
        lines += wrap(f"CANNOT TAKE THIS CONTEXT: {prob}", width, "  ")
    lines += wrap(("FITS" if p.fits else "DOES NOT FIT") + f" ({p.strategy})", width)
    if caps:
        items = [f"batch {c['batch']}: {c['max_seq_len']:,}," for c in caps]
        items[-1] = items[-1].rstrip(",")
        lines += pack(["largest context per batch size that fits:"] + items, width, sep=" ")
    elif p.fits is False and not p.problems:
        lines.append("largest context that fits: none, even 1 token at batch 1")
    if rems:
        lines += ["", "ways to make it fit (best first):"]
        for i, r in enumerate(rems, 1):
            mark = "" if r.fits else " (does not help enough)"
            lines += wrap(f"  {i}. {r.text}{mark}", width, "     ")
    for n in p.spec.notes:
        lines += wrap(f"note: {n}", width, "  ")
    return "\n".join(lines) + "\n"


def render_engine(spec: ModelSpec, gpu: GpuBudget, ep: EnginePlan, unused: list[str], width: int = 100,
                  color: bool = False, remedies: list[str] | None = None) -> str:
    st = ep.settings
    lines = wrap(f"{spec.name}: {spec.params:,} parameters ({spec.params_source}), {spec.model_type}, "
                 f"{spec.layers} layers", width, "  ")
    flags = ", ".join(f"{k}={v}" for k, v in st.items() if k not in ("kv_bytes_per_token_per_rank", "cell_size",
                                                                      "requested_memory"))
    lines += wrap(f"engine: {ep.engine} ({flags})", width, "  ") + [""]
    needed = sum(ep.terms.values())
    lines.append(_gpu_line(gpu.label, gpu.name, ep.terms, gpu.total, needed, ep.fits, width, color, ENGINE_TERMS))
    lines += pack(["W weights", "A profile-run activations", "n non-torch", "g CUDA graphs", "K KV cache",
                   "r reserved", ". headroom"], width, "       ")
    lines += wrap("terms per GPU: " + ", ".join(f"{k.replace('_', ' ')} {format_bytes(v, unit='GiB', decimals=2)}" for k, v in ep.terms.items()),
                  width, "  ")
    lines += ["", f"what {ep.engine} will print:"]
    for ln in ep.lines:
        lines += wrap(f"  {ln}", width, "    ")
    if unused:
        used = len(unused) and int(st.get("tensor_parallel_size", st.get("tp_size", 1))) * int(
            st.get("pipeline_parallel_size", st.get("pp_size", 1)))
        lines += wrap(f"unused: {', '.join(unused)} (the engine uses --tp x --pp = {used} GPU(s); raise --tp to use "
                      "them)", width, "  ")
    lines.append("")
    for prob in ep.problems:
        lines += wrap(f"problem: {prob}", width, "  ")
    lines += wrap(("FITS" if ep.fits else "DOES NOT FIT") + f" ({ep.engine}: {ep.kv_tokens:,} KV tokens, "
                  f"{ep.concurrency:.2f}x requests of {ep.max_model_len:,} tokens)", width, "  ")
    if remedies:
        lines += ["", "ways to make it start (best first):"]
        for i, r in enumerate(remedies, 1):
            lines += wrap(f"  {i}. {r}", width, "     ")
    lines += wrap("assumptions: llmdoctor fit --engine " + ep.engine + " --explain", width)
    return "\n".join(lines) + "\n"


def explain(engine: str = "transformers") -> str:
    from .engines import explain as engine_explain

    text = "\n".join(f"{k}: {v}" for k, v in FORMULAS.items()) + "\n"
    return text + (engine_explain(engine) if engine in ASSUMPTIONS and engine != "transformers" else "")


def to_dict(p: Plan, caps: list[dict[str, int]], rems: list[Remedy]) -> dict[str, Any]:
    return {"schema": "llmdoctor.fit/1", "model": p.spec.to_dict(), "plan": p.to_dict(), "capacity": caps,
            "remedies": [{"rank": r.rank, "kind": r.kind, "text": r.text, "fits": r.fits, "detail": r.detail} for r in rems],
            "formulas": FORMULAS}


def engine_to_dict(spec: ModelSpec, gpu: GpuBudget, ep: EnginePlan, unused: list[str]) -> dict[str, Any]:
    return {"schema": "llmdoctor.fit/1", "model": spec.to_dict(), "gpu": {"label": gpu.label, "name": gpu.name,
            "total_bytes": gpu.total, "used_bytes": gpu.used}, "engine_plan": ep.to_dict(), "fits": ep.fits,
            "unused_gpus": unused, "assumptions": ASSUMPTIONS.get(ep.engine, [])}
