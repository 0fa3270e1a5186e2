"""Text for a Plan: a bar per GPU (weights | KV cache | activations | optimizer | overhead | free). Pure."""

from __future__ import annotations

from typing import Any

from .plan import GiB, Plan, Remedy, FORMULAS

BAR_TERMS = [("weights", "W", "blue"), ("kv_cache", "K", "magenta"), ("activations", "A", "yellow"),
             ("gradients", "G", "cyan"), ("optimizer", "O", "red"), ("overhead", "o", "white"), ("others", "X", "bright_black")]


def _g(n: float) -> str:
    return f"{n / GiB:.1f}"


def bar(terms: dict[str, float], total: float, width: int, color: bool) -> str:
    scale = max(total, sum(terms.values()))
    out = []
    used_cols = 0
    for key, ch, style in BAR_TERMS:
        cols = int(round(terms.get(key, 0) / scale * width)) if scale else 0
        cols = min(cols, width - used_cols) if total >= sum(terms.values()) else cols
        used_cols += cols
        if cols:
            out.append(f"[{style}]{ch * cols}[/]" if color else ch * cols)
    free_cols = max(width - used_cols, 0)
    if total >= sum(terms.values()):
        out.append(f"[green]{'.' * free_cols}[/]" if color else "." * free_cols)
    return "".join(out)


def render(p: Plan, caps: list[dict[str, int]], rems: list[Remedy], width: int = 100, color: bool = False) -> str:
    s = p.spec
    o = p.opts
    lines = [f"{s.name}: {s.params:,} parameters ({s.params_source}), {s.model_type}, {s.layers} layers"
             + (f", {s.experts} experts ({s.experts_per_tok} per token)" if s.experts else "")]
    lines.append(f"job: {o.mode}, weights {o.effective_dtype}" + (f" ({o.quant})" if o.quant else "")
                 + f", seq-len {o.seq_len:,} x batch {o.batch}"
                 + (f", tp {o.tp}" if o.tp > 1 else "")
                 + (f", optimizer {o.optimizer}, gradient checkpointing {'on' if o.grad_ckpt else 'off'}" if o.mode != "inference" else "")
                 + f"; {p.strategy}")
    t = p.totals
    lines.append("totals: " + ", ".join(f"{k.replace('_', ' ')} {_g(v)} GiB" for k, v in t.items() if v))
    barw = max(20, min(60, width - 50))
    lines.append("")
    legend = "W weights  K KV cache  A activations  G gradients  O optimizer  o overhead  X other processes  . free"
    for g in p.gpus:
        verdict = "fits" if g.fits else "DOES NOT FIT"
        if color:
            verdict = f"[green]{verdict}[/]" if g.fits else f"[bold red]{verdict}[/]"
        lines.append(f"{g.gpu.label:<6} {g.gpu.name[:28]:<28} |{bar(g.terms, g.gpu.total, barw, color)}| "
                     f"{_g(g.needed)}/{_g(g.gpu.total)} GiB {verdict}")
    lines.append(f"       {legend}")
    if p.overflow > 0:
        lines.append(f"not placed: {_g(p.overflow)} GiB of weights/KV cache found no GPU")
    lines.append("")
    lines.append(("FITS" if p.fits else "DOES NOT FIT") + f" ({p.strategy})")
    if caps:
        lines.append("largest context per batch size that fits: "
                     + ", ".join(f"batch {c['batch']}: {c['max_seq_len']:,}" for c in caps))
    elif p.fits is False:
        lines.append("largest context that fits: none, even 1 token at batch 1")
    if rems:
        lines.append("")
        lines.append("ways to make it fit (best first):")
        for i, r in enumerate(rems, 1):
            mark = "" if r.fits else " (does not help enough)"
            lines.append(f"  {i}. {r.text}{mark}")
    for n in s.notes:
        lines.append(f"note: {n}")
    return "\n".join(lines) + "\n"


def explain() -> str:
    return "\n".join(f"{k}: {v}" for k, v in FORMULAS.items()) + "\n"


def to_dict(p: Plan, caps: list[dict[str, int]], rems: list[Remedy]) -> dict[str, Any]:
    return {"schema": "llmdoctor.fit/1", "model": p.spec.to_dict(), "plan": p.to_dict(), "capacity": caps,
            "remedies": [{"rank": r.rank, "kind": r.kind, "text": r.text, "fits": r.fits, "detail": r.detail} for r in rems],
            "formulas": FORMULAS}
