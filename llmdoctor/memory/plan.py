"""Will it fit?  Pure memory arithmetic: a ModelSpec, the GPUs' budgets and the job's options in, a Plan out.

Every term is separate and has its formula in ``FORMULAS`` (shown by ``llmdoctor explain memory.fit``
and ``llmdoctor fit --explain``).  Sizes are bytes.  Nothing here touches the machine.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

from ..engine import UsageError
from ..facts.vocabulary import canonical_dtype
from ..units import format_bytes
from .architectures import ModelSpec
from .formulas import FORMULAS
from ..frozen import frozen

GiB = 2**30
MiB = 2**20

DTYPES = ("bf16", "fp16", "fp32", "fp8", "int8", "nf4", "int4")
QUANTS = ("bnb", "gptq", "awq")
MODES = ("inference", "lora", "qlora", "full")
STACKS = ("hf", "trl", "peft", "unsloth", "llamafactory", "axolotl")
# bytes per logit element the loss costs (forward copies kept + the backward peak), per stack
LOGIT_BYTES = {"hf": 16.0, "hf<4.46": 20.0, "unsloth": 4.0}
HF_LOSS_SHIFTS_LABELS = (4, 46)  # transformers loss_utils.ForCausalLMLoss pads/shifts the labels, not the logits
OPTIMIZERS = ("adam", "adam8bit", "sgd")
TERMS = ("weights", "kv_cache", "activations", "gradients", "optimizer", "overhead", "others")



@frozen
class GpuBudget:
    """One GPU as the planner sees it."""

    label: str  # "GPU 0"
    name: str
    total: int
    used: int = 0  # held by other processes now (NVML memory used)
    processes: tuple[tuple[int, str, int], ...] = ()
    compute_capability: str | None = None  # "8.9"; decides whether fp8 is offered


@frozen
class Options:
    dtype: str = "bf16"
    quant: str | None = None  # bnb | gptq | awq (for int8/nf4/int4)
    seq_len: int = 4096
    batch: int = 1
    mode: str = "inference"
    optimizer: str = "adam"
    grad_ckpt: bool = True
    kv_dtype: str | None = None
    tp: int = 1
    lora_r: int = 16
    attn: str = "sdpa"  # sdpa | eager
    context_bytes: int = 512 * MiB
    reserve_frac: float = 0.05
    double_quant: bool = True
    group_size: int = 128
    zero: int = 0  # DeepSpeed ZeRO stage (0-3) over the GPUs given; FSDP full-shard = 3
    offload_optimizer: bool = False  # optimizer states (and fp32 master weights) in CPU RAM
    stack: str = "hf"  # the trainer: hf (Trainer/TRL/PEFT, LLaMA-Factory, axolotl) | unsloth
    transformers: tuple[int, int] = (4, 46)  # the transformers release the trainer runs on (its loss code)

    def validate(self) -> "Options":
        if self.dtype not in DTYPES:
            raise UsageError(f"--dtype {self.dtype!r}: choose one of {', '.join(DTYPES)}")
        if self.quant is not None and self.quant not in QUANTS:
            raise UsageError(f"--quant {self.quant!r}: choose one of {', '.join(QUANTS)}")
        if self.quant in ("gptq", "awq") and self.dtype not in ("int4", "int8"):
            raise UsageError(f"--quant {self.quant} needs --dtype int4 (or int8)")
        if self.quant == "bnb" and self.dtype not in ("int8", "nf4", "int4"):
            raise UsageError("--quant bnb needs --dtype int8 or nf4")
        if self.mode not in MODES:
            raise UsageError(f"--mode {self.mode!r}: choose one of {', '.join(MODES)}")
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(f"--optimizer {self.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
        if self.kv_dtype is not None and self.kv_dtype not in ("bf16", "fp16", "fp32", "fp8", "int8"):
            raise UsageError(f"--kv-dtype {self.kv_dtype!r}: choose one of bf16, fp16, fp32, fp8, int8")
        for name, v in (("--seq-len", self.seq_len), ("--batch", self.batch), ("--tp", self.tp), ("--lora-r", self.lora_r)):
            if v < 1:
                raise UsageError(f"{name} {v}: must be at least 1")
        if self.attn not in ("sdpa", "eager"):
            raise UsageError(f"--attn {self.attn!r}: choose sdpa or eager")
        if self.zero not in (0, 1, 2, 3):
            raise UsageError(f"--zero {self.zero}: choose 0, 1, 2 or 3")
        if self.stack not in STACKS:
            raise UsageError(f"--stack {self.stack!r}: choose one of {', '.join(STACKS)}")
        return self

    @property
    def logit_bytes(self) -> float:
        if self.stack == "unsloth":
            return LOGIT_BYTES["unsloth"]
        return LOGIT_BYTES["hf" if self.transformers >= HF_LOSS_SHIFTS_LABELS else "hf<4.46"]

    @property
    def effective_dtype(self) -> str:
        return "nf4" if self.mode == "qlora" and self.dtype in ("bf16", "fp16", "fp32") else self.dtype


def normalize_dtype(text: str) -> str:
    """bf16 / BF16 / bfloat16 / torch.bfloat16 -> bf16 (case-insensitive aliases)."""
    t = text.strip().lower().removeprefix("torch.")
    return canonical_dtype(t) or t  # the one alias table (llmdoctor/facts/vocabulary.py)


def bytes_per_param(dtype: str, quant: str | None = None, double_quant: bool = True, group: int = 128) -> float:
    if dtype == "fp32":
        return 4.0
    if dtype in ("bf16", "fp16"):
        return 2.0
    if dtype in ("fp8", "int8"):
        return 1.0
    if dtype == "nf4" or (dtype == "int4" and quant == "bnb"):
        return 0.5 + (1 / 64 + 4 / (64 * 256) if double_quant else 4 / 64)
    if dtype == "int4":
        return 0.5 + 2 / group + 0.5 / group
    raise UsageError(f"unknown dtype {dtype!r}")


def compute_bytes(opts: Options) -> int:
    """Bytes of activations / unquantized weights: 4 for fp32, else 2 (bf16/fp16 compute)."""
    return 4 if opts.dtype == "fp32" else 2


def _kv_bytes(opts: Options) -> float:
    kv = opts.kv_dtype or ("fp32" if opts.dtype == "fp32" else "bf16")
    return {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1}[kv]


# --------------------------------------------------------------------------- terms


def weight_bytes(spec: ModelSpec, opts: Options) -> tuple[float, list[float], float]:
    """(embedding bytes, per-layer bytes, head+other bytes)."""
    dt = opts.effective_dtype
    base = compute_bytes(opts) if dt in ("nf4", "int4", "int8", "fp8") else bytes_per_param(dt)
    qb = bytes_per_param(dt, opts.quant, opts.double_quant, opts.group_size)
    layers = [lin * qb + (tot - lin) * base for tot, lin in zip(spec.layer_params, spec.layer_linear_params)]
    return spec.embed_params * base, layers, (spec.head_params + max(spec.other_params, 0)) * base


def kv_bytes_per_layer(spec: ModelSpec, opts: Options, seq: int, batch: int) -> list[float]:
    b = _kv_bytes(opts)
    return [elems * min(seq, w or seq) * batch * b for elems, w in zip(spec.kv_elems_per_token, spec.kv_windows)]


def activation_bytes(spec: ModelSpec, opts: Options, seq: int, batch: int) -> float:
    a = compute_bytes(opts)
    h, i = spec.hidden, spec.intermediate
    q = spec.heads * spec.head_dim
    kv = spec.kv_heads * spec.head_dim if not spec.mla else spec.kv_elems_per_token[0] // 2
    gated = spec.model_type not in ("gpt2", "gpt_neox", "falcon")
    sb = seq * batch
    if opts.mode == "inference":
        if spec.experts:
            # experts run one after another on their share of the tokens: about k/E of them, x2 for imbalance
            routed = max(spec.intermediate - spec.dense_intermediate, 0)
            i = max(spec.dense_intermediate, int(routed * min(1.0, 2 / spec.experts)) + spec.dense_intermediate)
        # widest live set of one layer (no_grad): residual, the fp32 norm copy, the MLP's intermediates
        qk_norm = spec.model_type in ("qwen3", "qwen3_moe", "gemma3_text", "olmo2")
        live = sb * ((5 * h + 3 * i + (q if qk_norm else 0)) if gated else (8 * h + 2 * i)) * a
        if opts.attn == "eager":
            live += batch * spec.heads * seq * seq * a
        return live + batch * spec.vocab * 4
    qk_norm = spec.model_type in ("qwen3", "qwen3_moe", "gemma3_text", "olmo2")
    if gated:  # RMSNorm upcast to fp32, SiLU-gated MLP
        per_token = 16 * h + 4 * q + 4 * kv + 8 * i + (6 * q + 6 * kv if qk_norm else 0)
    else:  # LayerNorm, GeLU MLP
        per_token = 8 * h + 4 * q + 4 * kv + 4 * i
    per_layer = sb * per_token * (a / 2)
    if opts.attn == "eager":
        per_layer += 2 * spec.heads * seq * seq * batch * a
    loss = logits_bytes(spec, opts, seq, batch)
    if opts.grad_ckpt and opts.stack == "unsloth":
        stored = per_layer + loss  # Unsloth's checkpointing offloads each layer's input to CPU RAM
    elif opts.grad_ckpt:
        # backward runs the loss first: its vocabulary-sized buffers are freed (the lm_head's backward consumed
        # them) before torch.utils.checkpoint recomputes the last layer, so the peak is the larger of the two
        stored = spec.layers * sb * h * a + max(per_layer, loss)
    else:
        stored = spec.layers * per_layer + loss  # every layer's saved activations are still held at the loss
    return stored + sb * 8 * h * (a / 2)


def logits_bytes(spec: ModelSpec, opts: Options, seq: int, batch: int) -> float:
    """The loss over the vocabulary at its peak (start of backward).

    transformers before 4.46 (logits.float() in the model's forward, then a contiguous fp32 copy of the shifted
    logits): bf16 logits (2) upcast to fp32 (4), the shifted copy (4), cross_entropy's fp32 log-softmax kept for
    backward (4), its fp32 gradient (4) and the bf16 logits gradient (2): 20 bytes per element.  From 4.46
    ForCausalLMLoss shifts the labels instead of the logits (transformers/loss/loss_utils.py): no shifted copy,
    16.  Unsloth's fused, chunked cross-entropy never holds more than the bf16 logits and their gradient: 4.
    """
    return seq * batch * spec.vocab * opts.logit_bytes


def lora_params(spec: ModelSpec, opts: Options) -> int:
    return opts.lora_r * spec.lora_dims


def training_bytes(spec: ModelSpec, opts: Options) -> tuple[float, float]:
    """(gradients, optimizer states) for the whole model."""
    if opts.mode == "inference":
        return 0.0, 0.0
    if opts.mode in ("lora", "qlora"):
        n = lora_params(spec, opts)
        opt = {"adam": 8, "adam8bit": 2, "sgd": 4}[opts.optimizer]
        return n * 4.0, n * (4.0 + opt)  # adapters are fp32: weights (counted here) + states
    p = spec.params
    w = bytes_per_param(opts.dtype)
    mixed = opts.dtype != "fp32"
    states = {"adam": 8, "adam8bit": 2, "sgd": 4}[opts.optimizer] + (4 if mixed else 0)
    return p * w, p * float(states)


def shard_factors(opts: Options, n_gpus: int) -> dict[str, float]:
    """Per-GPU share of each state under ZeRO / FSDP over n_gpus (1 = whole copy, 0 = in CPU RAM)."""
    zero = 3 if opts.mode != "inference" and opts.tp > 1 else opts.zero
    n = max(n_gpus, 1)
    return {"weights": 1 / n if zero >= 3 else 1.0, "gradients": 1 / n if zero >= 2 else 1.0,
            "optimizer": 0.0 if opts.offload_optimizer else (1 / n if zero >= 1 else 1.0)}


# --------------------------------------------------------------------------- the plan


@frozen
class GpuPlan:
    gpu: GpuBudget
    terms: dict[str, float]
    layers: tuple[int, ...] = ()  # decoder layers placed here (device_map="auto" inference)

    @property
    def needed(self) -> float:
        return sum(self.terms.values())

    @property
    def free(self) -> float:
        return self.gpu.total - self.needed

    @property
    def fits(self) -> bool:
        return self.free >= 0


@frozen
class Plan:
    spec: ModelSpec
    opts: Options
    gpus: tuple[GpuPlan, ...]
    strategy: str  # "single GPU" | "device_map=auto over N GPUs" | "tensor parallel N" | "data parallel replica"
    overflow: float  # bytes that found no GPU (inference, device_map=auto)
    totals: dict[str, float] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # reasons it cannot run whatever the memory (context beyond the model's)
    unused: tuple[str, ...] = ()  # labels of GPUs given but not used

    @property
    def fits(self) -> bool:
        return not self.problems and self.overflow <= 0 and all(g.fits for g in self.gpus)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fits": self.fits,
            "strategy": self.strategy,
            "overflow_bytes": int(max(self.overflow, 0)),
            "totals": {k: int(v) for k, v in self.totals.items()},
            "options": {k: getattr(self.opts, k) for k in Options.__dataclass_fields__},
            "problems": list(self.problems),
            "unused_gpus": list(self.unused),
            "gpus": [{"gpu": g.gpu.label, "name": g.gpu.name, "total_bytes": g.gpu.total,
                      "terms": {k: int(v) for k, v in g.terms.items()}, "needed_bytes": int(g.needed),
                      "free_bytes": int(g.free), "fits": g.fits, "layers": list(g.layers)} for g in self.gpus],
        }


def context_problems(spec: ModelSpec, seq: int) -> tuple[str, ...]:
    """A context beyond max_position_embeddings: the model cannot take it without RoPE scaling."""
    if not spec.max_position or seq <= spec.max_position:
        return ()
    factor = seq / spec.max_position
    return (f"seq-len {seq:,} is beyond the model's max_position_embeddings {spec.max_position:,}: it cannot take "
            f"this context as configured; it would need RoPE scaling by {factor:.2g}x (e.g. rope_scaling="
            f"{{'rope_type': 'yarn', 'factor': {math.ceil(factor * 10) / 10:g}, 'original_max_position_embeddings': "
            f"{spec.max_position}}}), with quality not guaranteed",)


def _overhead(opts: Options, alloc: float) -> float:
    return opts.context_bytes + opts.reserve_frac * alloc


def _sharded_plan(spec: ModelSpec, gpus: list[GpuBudget], opts: Options, totals: dict[str, float]) -> Plan:
    """Tensor parallel (inference) or data parallel / ZeRO / FSDP (training): every GPU its share."""
    training = opts.mode != "inference"
    n = opts.tp if opts.tp > 1 or not training else (len(gpus) if opts.zero else 1)
    group = gpus[:n] if not training or opts.tp > 1 or opts.zero else gpus
    out: list[GpuPlan] = []
    for g in group:
        terms = _gpu_terms(spec, opts, totals, n)
        terms["overhead"] = _overhead(opts, sum(terms.values()))
        terms["others"] = float(g.used)
        out.append(GpuPlan(g, terms, tuple(range(spec.layers))))
    if not training:
        strategy = f"tensor parallel over {n} GPUs"
    elif opts.tp > 1 or opts.zero >= 3:
        strategy = f"sharded over {n} GPUs (FSDP full shard / DeepSpeed ZeRO-3)"
    elif opts.zero:
        strategy = f"data parallel over {n} GPUs, DeepSpeed ZeRO-{opts.zero}"
    else:
        strategy = "one replica per GPU (data parallel)" if len(gpus) > 1 else "single GPU"
    if opts.offload_optimizer and training:
        strategy += ", optimizer states offloaded to CPU"
    return Plan(spec, opts, tuple(out), strategy, 0.0, totals, context_problems(spec, _seq_of(totals, opts)),
                tuple(g.label for g in gpus[len(group):]))


def _seq_of(totals: dict[str, float], opts: Options) -> int:
    return int(totals.get("_seq", opts.seq_len))


def _gpu_terms(spec: ModelSpec, opts: Options, totals: dict[str, float], n: int) -> dict[str, float]:
    if opts.mode == "inference":
        kv_split = n if (spec.kv_heads >= n or spec.mla) else spec.kv_heads
        kv = totals["kv_cache"] if spec.mla else totals["kv_cache"] / max(kv_split, 1)  # MLA latent: every rank
        # activations per GPU do not shrink with TP: the residual stream and the logits are whole on every rank
        return {"weights": totals["weights"] / n, "kv_cache": kv, "activations": totals["activations"],
                "gradients": 0.0, "optimizer": 0.0}
    f = shard_factors(opts, n)
    lora = opts.mode in ("lora", "qlora")
    return {"weights": totals["weights"] * f["weights"], "kv_cache": 0.0, "activations": totals["activations"],
            "gradients": totals["gradients"] * (1.0 if lora else f["gradients"]),
            "optimizer": totals["optimizer"] * (1.0 if lora else f["optimizer"])}


def _device_map_plan(spec: ModelSpec, gpus: list[GpuBudget], opts: Options, totals: dict[str, float],
                     parts: tuple[float, list[float], float], kv_layers: list[float]) -> Plan:
    """Inference with device_map="auto": fill GPUs in order with embedding, layers (+ their KV cache), head."""
    emb, layer_w, tail = parts
    act = totals["activations"]
    items: list[tuple[float, float, int | None]] = [(emb, 0.0, None)]
    items += [(layer_w[i], kv_layers[i], i) for i in range(spec.layers)]
    items.append((tail, 0.0, None))
    out: list[GpuPlan] = []
    pos = 0
    for n, g in enumerate(gpus):
        if pos >= len(items) and n > 0:
            break  # everything placed: the remaining GPUs stay unused
        budget = (g.total - opts.context_bytes - g.used) / (1 + opts.reserve_frac) - act
        w = kv = 0.0
        placed: list[int] = []
        while pos < len(items) and w + kv + items[pos][0] + items[pos][1] <= budget:
            wi, kvi, idx = items[pos]
            w, kv = w + wi, kv + kvi
            placed += [idx] if idx is not None else []
            pos += 1
        terms = {"weights": w, "kv_cache": kv, "activations": act, "gradients": 0.0, "optimizer": 0.0,
                 "overhead": _overhead(opts, w + kv + act), "others": float(g.used)}
        out.append(GpuPlan(g, terms, tuple(placed)))
    overflow = sum(wi + kvi for wi, kvi, _ in items[pos:])
    if len(out) == 1 and overflow > 0:  # one GPU: show the whole demand on it (the bar overflows)
        g = out[0].gpu
        need = totals["weights"] + totals["kv_cache"] + act
        terms = {"weights": totals["weights"], "kv_cache": totals["kv_cache"], "activations": act, "gradients": 0.0,
                 "optimizer": 0.0, "overhead": _overhead(opts, need), "others": float(g.used)}
        out[0] = GpuPlan(g, terms, tuple(range(spec.layers)))
    strategy = "single GPU" if len(out) == 1 else f'device_map="auto" over {len(out)} GPUs'
    return Plan(spec, opts, tuple(out), strategy, overflow, totals, context_problems(spec, _seq_of(totals, opts)),
                tuple(g.label for g in gpus[len(out):]))


def plan(spec: ModelSpec, gpus: list[GpuBudget], opts: Options, seq: int | None = None,
         batch: int | None = None) -> Plan:
    if not gpus:
        raise UsageError("no GPU to plan for (use --gpus, e.g. --gpus 1xH100-80GB)")
    seq = opts.seq_len if seq is None else seq
    batch = opts.batch if batch is None else batch
    if opts.tp > len(gpus):
        raise UsageError(f"--tp {opts.tp} needs {opts.tp} GPUs, but {len(gpus)} are given")
    emb, layer_w, tail = weight_bytes(spec, opts)
    kv_layers = kv_bytes_per_layer(spec, opts, seq, batch) if opts.mode == "inference" else [0.0] * spec.layers
    grads, optim = training_bytes(spec, opts)
    totals = {"weights": emb + sum(layer_w) + tail, "kv_cache": sum(kv_layers),
              "activations": activation_bytes(spec, opts, seq, batch), "gradients": grads, "optimizer": optim}
    if opts.tp > 1 or opts.mode != "inference":
        p = _sharded_plan(spec, gpus, opts, {**totals, "_seq": float(seq)})
    else:
        p = _device_map_plan(spec, gpus, opts, {**totals, "_seq": float(seq)}, (emb, layer_w, tail), kv_layers)
    return replace(p, totals=totals)


# --------------------------------------------------------------------------- searches and remedies


def max_seq(spec: ModelSpec, gpus: list[GpuBudget], opts: Options, batch: int, limit: int | None = None) -> int:
    """The largest seq-len that fits at this batch size (0 when even 1 token does not)."""
    hi = min(limit or spec.max_position or 131072, spec.max_position or 10**9)
    if not plan(spec, gpus, opts, seq=1, batch=batch).fits:
        return 0
    if plan(spec, gpus, opts, seq=hi, batch=batch).fits:
        return hi
    lo = 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if plan(spec, gpus, opts, seq=mid, batch=batch).fits:
            lo = mid
        else:
            hi = mid
    return lo


def capacity_table(spec: ModelSpec, gpus: list[GpuBudget], opts: Options) -> list[dict[str, int]]:
    """Largest seq-len per batch size (1, 2, 4, ... while anything fits)."""
    rows = []
    batch = 1
    while batch <= 64:
        s = max_seq(spec, gpus, opts, batch)
        if s == 0:
            break
        rows.append({"batch": batch, "max_seq_len": s, "tokens": s * batch})
        batch *= 2
    return rows


def max_memory_dict(p: Plan) -> dict[Any, str]:
    """The max_memory={...} to paste: what device_map="auto" may use per GPU (total - others - overhead)."""
    out: dict[Any, str] = {}
    for i, g in enumerate(p.gpus):
        usable = g.gpu.total - g.gpu.used - g.terms.get("overhead", 0) - g.terms.get("activations", 0)
        out[i] = f"{max(int(usable // GiB), 0)}GiB"
    return out


@frozen
class Remedy:
    rank: int
    kind: str
    text: str
    fits: bool
    detail: dict[str, Any] = field(default_factory=dict)


@frozen
class _Job:
    """What the remedy rules look at."""

    spec: ModelSpec
    gpus: list[GpuBudget]
    opts: Options
    base: Plan
    ram_available: int | None
    disk_free: int | None
    offload_folder: str | None

    @property
    def training(self) -> bool:
        return self.opts.mode != "inference"

    def fits(self, **changes: Any) -> bool:
        return plan(self.spec, self.gpus, replace(self.opts, **changes)).fits


def _grad_ckpt_rule(j: _Job) -> list[Remedy]:
    if j.training and not j.opts.grad_ckpt and j.fits(grad_ckpt=True):
        return [Remedy(1, "gradient-checkpointing", "Turn on gradient checkpointing (model.gradient_checkpointing_"
                       "enable(), or gradient_checkpointing=True in TrainingArguments).", True)]
    return []


def _shorter_context_rule(j: _Job) -> list[Remedy]:
    s = max_seq(j.spec, j.gpus, j.opts, j.opts.batch, limit=j.opts.seq_len)
    if 0 < s < j.opts.seq_len:
        return [Remedy(2, "shorter-context", f"Use a context of at most {s:,} tokens at batch {j.opts.batch} "
                       f"(asked {j.opts.seq_len:,}).", True, {"max_seq_len": s})]
    return []


def _smaller_batch_rule(j: _Job) -> list[Remedy]:
    if j.opts.batch <= 1 or not j.fits(batch=1):
        return []
    b = j.opts.batch
    while b > 1 and not j.fits(batch=b):
        b //= 2
    text = (f"Use batch {b} (with gradient accumulation {j.opts.batch // b} to keep the effective batch)."
            if j.training else f"Use batch {b}.")
    return [Remedy(2, "smaller-batch", text, True, {"batch": b})]


def _optimizer_rule(j: _Job) -> list[Remedy]:
    out = []
    if j.opts.mode == "full" and j.opts.optimizer == "adam" and j.fits(optimizer="adam8bit"):
        out.append(Remedy(3, "8bit-adam", "Use 8-bit Adam (bitsandbytes: optim='adamw_bnb_8bit' / "
                          "bnb.optim.AdamW8bit).", True))
    if j.opts.mode == "full" and len(j.gpus) > 1 and j.opts.zero < 3 and j.opts.tp == 1 and j.fits(zero=3):
        out.append(Remedy(3, "zero-3", f"Shard weights, gradients and optimizer states over the {len(j.gpus)} GPUs "
                          "(DeepSpeed ZeRO-3, or FSDP full shard).", True, {"zero": 3}))
    if j.training and not j.opts.offload_optimizer and j.fits(offload_optimizer=True):
        out.append(Remedy(4, "offload-optimizer", "Offload the optimizer states to CPU RAM (DeepSpeed "
                          "offload_optimizer: {device: cpu}); slower steps.", True, {"offload_optimizer": True}))
    return out


def _adapter_rule(j: _Job) -> list[Remedy]:
    if j.opts.mode != "full":
        return []
    for mode in ("lora", "qlora"):
        if j.fits(mode=mode):
            what = "QLoRA (4-bit base, LoRA adapters)" if mode == "qlora" else "LoRA"
            return [Remedy(4, mode, f"Fine-tune with {what} (r={j.opts.lora_r}) instead of full fine-tuning.", True)]
    return []


QUANT_CHOICES = (("fp8", None, "fp8 weights (vLLM --quantization fp8; needs compute capability >= 8.9)"),
                 ("int8", "bnb", "8-bit (bitsandbytes: BitsAndBytesConfig(load_in_8bit=True))"),
                 ("nf4", "bnb", "4-bit NF4 (bitsandbytes: BitsAndBytesConfig(load_in_4bit=True, "
                                "bnb_4bit_quant_type='nf4', bnb_4bit_use_double_quant=True))"),
                 ("int4", "awq", "an AWQ/GPTQ int4 checkpoint"))


def _quantize_rule(j: _Job) -> list[Remedy]:
    if j.opts.mode not in ("inference", "lora"):
        return []
    for dt, q, label in QUANT_CHOICES:
        if bytes_per_param(dt, q) >= bytes_per_param(j.opts.effective_dtype, j.opts.quant):
            continue
        if dt == "fp8" and not all(_cc_at_least(g.compute_capability, (8, 9)) for g in j.gpus):
            continue  # no fp8 Tensor Cores (or unknown): do not suggest it
        o = replace(j.opts, dtype=dt, quant=q, mode="qlora" if j.opts.mode == "lora" and dt == "nf4" else j.opts.mode)
        p = plan(j.spec, j.gpus, o)
        if p.fits:
            return [Remedy(5, f"quantize-{dt}", f"Load the weights in {label}: weights {format_bytes(p.totals['weights'], unit='GiB')} "
                           f"instead of {format_bytes(j.base.totals['weights'], unit='GiB')}.", True, {"dtype": dt, "quant": q})]
    return []


def _n_gpu_opts(j: _Job, n: int) -> Options:
    """The job on n GPUs: training shards over them; inference keeps device_map unless it asked for TP."""
    return replace(j.opts, tp=n) if j.training or j.opts.tp > 1 else j.opts


def _more_gpus_rule(j: _Job) -> list[Remedy]:
    proto = j.gpus[0]
    held = sum(g.used for g in j.gpus)
    for n in range(len(j.gpus) if held else len(j.gpus) + 1, 65):
        more = [GpuBudget(f"GPU {i}", proto.name, proto.total, compute_capability=proto.compute_capability)
                for i in range(n)]
        p = plan(j.spec, more, _n_gpu_opts(j, n))
        if not p.fits:
            continue
        mm = max_memory_dict(p)
        if n == len(j.gpus):
            text = (f"Free the {format_bytes(held, unit='GiB')} other processes hold on these GPUs (see memory.gpu-free): then "
                    f"{len(p.gpus)}x {proto.name} suffice" + (f' with device_map="auto", max_memory={mm}.'
                                                             if not j.training else "."))
            return [Remedy(3, "free-gpu-memory", text, True, {"gpus": n, "max_memory": mm})]
        text = (f"Use {n}x {proto.name} ({format_bytes(proto.total, unit='GiB')} each), sharding weights, gradients and optimizer "
                f"(FSDP / DeepSpeed ZeRO-3)." if j.training else
                f"Use {n}x {proto.name} ({format_bytes(proto.total, unit='GiB')} each) with --tp {n}." if j.opts.tp > 1 else
                f'Use {n}x {proto.name} ({format_bytes(proto.total, unit="GiB")} each) with device_map="auto", max_memory={mm}.')
        return [Remedy(6, "more-gpus", text, True, {"gpus": n, "max_memory": mm})]
    return []


def _bigger_gpus_rule(j: _Job) -> list[Remedy]:
    """Fewer, bigger GPUs (data-center kinds from the table), when the ones given are smaller."""
    from .. import data

    for alias in ("H100-80GB", "H200"):
        big = parse_gpu_spec(alias, data.load("gpu_memory")["gpus"])[0]
        if big.total <= j.gpus[0].total:
            continue
        for n in range(1, 17):
            more = [replace(big, label=f"GPU {i}") for i in range(n)]
            p = plan(j.spec, more, _n_gpu_opts(j, n))
            if p.fits:
                how = ("sharding weights, gradients and optimizer (FSDP / DeepSpeed ZeRO-3)" if j.training and n > 1
                       else f"--tp {n}" if j.opts.tp > 1 and n > 1
                       else f'device_map="auto", max_memory={max_memory_dict(p)}' if n > 1 else "one GPU")
                return [Remedy(6, f"other-gpus-{alias}", f"Or {n}x {big.name} ({format_bytes(big.total, unit='GiB')} each), {how}.",
                               True, {"gpus": n, "kind": big.name})]
        return []
    return []


def _offload_text(j: _Job, need: float) -> tuple[str, bool]:
    mm: dict[Any, str] = max_memory_dict(j.base)
    ram, disk = j.ram_available, j.disk_free
    if ram is not None and need <= ram * 0.9:
        mm["cpu"] = f"{int(math.ceil(need / GiB)) + 1}GiB"
        return (f"Offload {format_bytes(need, unit='GiB')} to CPU RAM ({format_bytes(ram, unit='GiB')} available): device_map=\"auto\", max_memory={mm}; "
                f"slow (weights cross PCIe every forward).", True)
    if disk is not None and need <= disk * 0.9:
        return (f"Offload {format_bytes(need, unit='GiB')} to disk: device_map=\"auto\", max_memory={mm}, offload_folder="
                f"{j.offload_folder or 'offload'!r} ({format_bytes(disk, unit='GiB')} free there); very slow.", True)
    if ram is None and disk is None:
        mm["cpu"] = f"{int(math.ceil(need / GiB)) + 1}GiB"
        return (f"Offload {format_bytes(need, unit='GiB')} to CPU RAM (or disk with offload_folder=...): device_map=\"auto\", "
                f"max_memory={mm}; make sure that much RAM is free (not known here); slow.", True)
    have = [f"RAM {format_bytes(ram, unit='GiB')}" if ram is not None else "RAM unknown",
            f"disk {format_bytes(disk, unit='GiB')}" if disk is not None else "disk unknown"]
    return f"Offloading would need {format_bytes(need, unit='GiB')} of CPU RAM or disk ({', '.join(have)} available): not enough.", False


def _offload_rule(j: _Job) -> list[Remedy]:
    if j.training or j.base.overflow <= 0:
        return []
    need = j.base.overflow
    text, ok = _offload_text(j, need)
    if j.opts.effective_dtype in ("nf4", "int8", "int4") and j.opts.quant in (None, "bnb"):
        text += (" Note: bitsandbytes-quantized modules cannot be offloaded ('Some modules are dispatched on the "
                 "CPU or the disk. Make sure you have enough GPU RAM to fit the quantized model.').")
        ok = False
    detail = {"offload_bytes": int(need), "ram_available": j.ram_available, "disk_free": j.disk_free,
              "offload_folder": j.offload_folder}
    return [Remedy(7, "offload", text, ok, detail)]


RULES = (_grad_ckpt_rule, _shorter_context_rule, _smaller_batch_rule, _optimizer_rule, _adapter_rule,
         _quantize_rule, _more_gpus_rule, _bigger_gpus_rule, _offload_rule)


def remedies(spec: ModelSpec, gpus: list[GpuBudget], opts: Options, ram_available: int | None = None,
             disk_free: int | None = None, offload_folder: str | None = None) -> list[Remedy]:
    """Ranked, concrete ways to make it fit (only those that do, plus offload with its costs)."""
    base = plan(spec, gpus, opts)
    if base.fits:
        return []
    if base.problems:  # a context the model cannot take: only a shorter one helps
        s = min(opts.seq_len, spec.max_position or opts.seq_len)
        return [Remedy(1, "shorter-context", f"Use a context of at most {s:,} tokens (the model's "
                       f"max_position_embeddings), or a long-context variant of the model.", True, {"max_seq_len": s})]
    job = _Job(spec, gpus, opts, base, ram_available, disk_free, offload_folder)
    out = [r for rule in RULES for r in rule(job)]
    return sorted(out, key=lambda r: r.rank)


# --------------------------------------------------------------------------- GPU specs ("8xH100-80GB")


def gpu_cc_row(name: str) -> dict[str, Any] | None:
    from .. import data

    row: dict[str, Any] | None = data.gpu_by_name(name)
    return row


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(gib|gb|g)", re.IGNORECASE)


def size_bytes(number: str, unit: str) -> int:
    """'75.23', 'GB' -> 75.23e9 bytes; 'GiB' -> x 2**30 ('G' alone is read as GiB, as nvidia-smi's MiB are)."""
    v = float(number)
    return int(v * 1e9) if unit.lower() == "gb" else int(v * GiB)


def _gpu_row(part: str, table: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    m = re.fullmatch(r"(?:(\d+)\s*[x×*]\s*)?(.+)", part, re.IGNORECASE)
    count = int(m.group(1)) if m and m.group(1) else 1
    raw = (m.group(2) if m else part).strip()
    key = _norm(raw)
    row = next((r for r in table if key in [_norm(a) for a in r["aliases"]]), None)
    size = _SIZE.fullmatch(raw.replace(" ", ""))
    if row is None and size:
        unit = "GiB" if size.group(2).lower() != "gb" else "GB"
        row = {"name": f"{size.group(1)} {unit} GPU", "memory_bytes": size_bytes(size.group(1), size.group(2))}
    if row is None:
        known = ", ".join(r["aliases"][0] for r in table)
        raise UsageError(f"--gpus {part!r}: unknown GPU; known: {known} (or 'auto', or a size: 2x24GiB, 75.23GB)")
    if count < 1 or count > 1024:
        raise UsageError(f"--gpus {part!r}: count must be 1..1024")
    return count, row


def parse_gpu_spec(text: str, table: list[dict[str, Any]]) -> list[GpuBudget]:
    """'8xH100-80GB', '2xRTX4090', 'A100-40GB,L4', '75.23GB' (10**9 bytes), '24GiB' -> budgets."""
    out: list[GpuBudget] = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        count, row = _gpu_row(part, table)
        cc_row = gpu_cc_row(row["name"])
        for _ in range(count):
            out.append(GpuBudget(f"GPU {len(out)}", row["name"], int(row["memory_bytes"]),
                                 compute_capability=cc_row["compute_capability"] if cc_row else None))
    if not out:
        raise UsageError("--gpus is empty")
    return out


def _cc_at_least(cc: str | None, want: tuple[int, int]) -> bool:
    try:
        major, minor = (int(x) for x in (cc or "").split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= want


def _norm(s: str) -> str:
    return "".join(ch for ch in s.lower() if ch.isalnum())
