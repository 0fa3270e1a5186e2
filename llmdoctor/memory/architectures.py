"""A model's shape, as the memory planner needs it: pure functions of a config.json dict.

``spec_from_config(cfg)`` counts parameters analytically for the common decoder families (Llama 2/3,
Mistral, Mixtral, Qwen2/2.5/3 and their MoE, Gemma 1/2/3, Phi-3, DeepSeek-V2/V3, GPT-NeoX, Falcon,
GPT-2, OLMo/OLMo2), with tied embeddings, biases and norms.  ``spec_with_tensors`` replaces the
analytic counts by the exact ones from safetensors headers (names and shapes) when a checkpoint is
at hand.  No I/O here: the loader (``llmdoctor.model_config``) reads files and passes dicts in.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from ..engine import UsageError
from ..frozen import frozen

FAMILIES = {
    # model_type -> family key used below
    "llama": "llama", "mistral": "llama", "qwen2": "llama", "qwen3": "llama", "phi3": "llama",
    "gemma": "llama", "gemma2": "llama", "gemma3_text": "llama", "olmo": "llama", "olmo2": "llama",
    "mixtral": "moe", "qwen2_moe": "moe", "qwen3_moe": "moe",
    "deepseek_v2": "deepseek", "deepseek_v3": "deepseek",
    "gpt_neox": "gpt_neox", "falcon": "falcon", "gpt2": "gpt2",
}


@frozen
class ModelSpec:
    """Everything the planner needs about a model; plain data (JSON-able via ``to_dict``)."""

    name: str
    model_type: str
    params: int  # total parameters (exact from safetensors when params_source says so)
    params_source: str  # "safetensors headers" | "config.json (analytic)" | ...
    layers: int
    hidden: int
    vocab: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int  # the widest MLP a token passes through (dense, or experts_per_tok x moe + shared)
    embed_params: int  # input embedding (+ learned positions)
    head_params: int  # lm_head; 0 when tied to the embedding
    layer_params: tuple[int, ...]  # per decoder layer, everything in it
    layer_linear_params: tuple[int, ...]  # the part of each layer a quantizer turns to int8/int4
    lora_dims: int  # sum over every LoRA-targeted linear of (in + out): LoRA params = r x lora_dims
    kv_elems_per_token: tuple[int, ...]  # per layer, K+V elements cached per token (MLA: latent + rope)
    kv_windows: tuple[int | None, ...]  # per layer sliding window (tokens), None = full attention
    max_position: int | None = None
    checkpoint_dtype: str | None = None  # "bf16" ...
    experts: int | None = None
    experts_per_tok: int | None = None
    mla: bool = False
    notes: tuple[str, ...] = ()
    dense_intermediate: int = 0  # MoE models: the widest dense MLP (dense layers, shared experts)
    moe_intermediate: int = 0  # MoE models: one routed expert's width
    shared_intermediate: int = 0  # MoE models: the shared experts' total width on an MoE layer
    dense_layer_intermediate: int = 0  # MoE models with dense layers (first_k_dense, mlp_only): their MLP width
    expert_params: int = 0  # MoE models: routed-expert weights over all layers (what expert parallel splits)

    @property
    def other_params(self) -> int:
        return self.params - self.embed_params - self.head_params - sum(self.layer_params)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "model_type": self.model_type, "params": self.params,
            "params_source": self.params_source, "layers": self.layers, "hidden": self.hidden,
            "vocab": self.vocab, "heads": self.heads, "kv_heads": self.kv_heads, "head_dim": self.head_dim,
            "intermediate": self.intermediate, "embed_params": self.embed_params,
            "head_params": self.head_params, "layer_params_total": sum(self.layer_params),
            "max_position": self.max_position, "checkpoint_dtype": self.checkpoint_dtype,
            "experts": self.experts, "experts_per_tok": self.experts_per_tok, "mla": self.mla,
            "kv_elems_per_token_per_layer": sorted(set(self.kv_elems_per_token)),
            "sliding_windows": sorted({w for w in self.kv_windows if w}), "notes": list(self.notes),
        }


# --------------------------------------------------------------------------- config access


class _Cfg:
    def __init__(self, cfg: Mapping[str, Any], family: str) -> None:
        self.cfg = cfg
        self.family = family

    def get(self, *keys: str, default: Any = None) -> Any:
        for k in keys:
            if self.cfg.get(k) is not None:
                return self.cfg[k]
        return default

    def need(self, *keys: str) -> Any:
        v = self.get(*keys)
        if v is None:
            raise UsageError(f"config.json has no {keys[0]!r}, which a {self.family} model needs "
                             f"(model_type {self.cfg.get('model_type')!r})")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise UsageError(f"config.json {keys[0]!r} is {v!r}, not a number ({self.family} model)")
        return int(v)


def model_type_of(cfg: Mapping[str, Any]) -> str:
    mt = cfg.get("model_type")
    if not mt and isinstance(cfg.get("text_config"), dict):
        mt = cfg["text_config"].get("model_type")
    return str(mt or "")


def text_config(cfg: Mapping[str, Any]) -> Mapping[str, Any]:
    """Multimodal configs (gemma3) keep the language model in text_config."""
    if cfg.get("model_type") in ("gemma3",) and isinstance(cfg.get("text_config"), dict):
        inner = dict(cfg["text_config"])
        inner.setdefault("model_type", "gemma3_text")
        return inner
    return cfg


def spec_from_config(cfg: Mapping[str, Any], name: str = "model") -> ModelSpec:
    """Analytic parameter count and memory-relevant shape of a config.json.

    Raises UsageError naming the missing key and the family, or, for an unknown architecture, what
    would be needed (transformers installed for a meta-device count, or the safetensors files).
    """
    if not isinstance(cfg, Mapping):
        raise UsageError("config.json is not a JSON object")
    cfg = text_config(cfg)
    mt = model_type_of(cfg)
    family = FAMILIES.get(mt)
    if family is None:
        arch = ", ".join(cfg.get("architectures") or []) or "?"
        raise UsageError(
            f"unknown architecture model_type={mt or '?'} ({arch}): llmdoctor counts parameters analytically only for "
            f"{', '.join(sorted(FAMILIES))}; put the *.safetensors files beside config.json (exact count from their "
            f"headers) or install transformers for a meta-device count")
    c = _Cfg(cfg, mt)
    if family == "gpt2":
        return _gpt2(c, name)
    if family == "gpt_neox":
        return _gpt_neox(c, name)
    if family == "falcon":
        return _falcon(c, name)
    if family == "deepseek":
        return _deepseek(c, name)
    return _llama_like(c, name, moe=family == "moe")


def _dtype_name(cfg: _Cfg) -> str | None:
    quant = cfg.get("quantization_config")
    if isinstance(quant, Mapping) and quant.get("quant_method") == "fp8":
        return "fp8"  # an fp8 checkpoint (DeepSeek-V3, *-FP8): engines load the Linear weights as fp8
    d = str(cfg.get("torch_dtype", "dtype", default="") or "")
    return {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(d)


def _windows(c: _Cfg, layers: int) -> tuple[int | None, ...]:
    window = c.get("sliding_window")
    types = c.get("layer_types")
    mt = c.cfg.get("model_type")
    if isinstance(types, list) and len(types) == layers:
        return tuple(window if t == "sliding_attention" and window else None for t in types)
    if not window:
        return (None,) * layers
    if mt in ("qwen2", "qwen3", "qwen2_moe", "qwen3_moe"):
        if not c.get("use_sliding_window", default=False):
            return (None,) * layers
        start = c.get("max_window_layers", default=0)
        return tuple(window if i >= start else None for i in range(layers))
    if mt == "gemma2":  # even layers slide, odd are global
        return tuple(window if i % 2 == 0 else None for i in range(layers))
    if mt == "gemma3_text":
        pattern = c.get("sliding_window_pattern", default=6)
        return tuple(None if (i + 1) % pattern == 0 else window for i in range(layers))
    return (int(window),) * layers


def _llama_like(c: _Cfg, name: str, moe: bool) -> ModelSpec:
    mt = c.cfg["model_type"]
    H = c.need("hidden_size")
    L = c.need("num_hidden_layers")
    V = c.need("vocab_size")
    nh = c.need("num_attention_heads")
    nkv = c.get("num_key_value_heads", default=nh)
    hd = c.get("head_dim") or H // nh
    tied = bool(c.get("tie_word_embeddings", default=mt in ("gemma", "gemma2", "gemma3_text")))
    q, kv = nh * hd, nkv * hd
    attn_bias = bool(c.get("attention_bias", default=mt in ("qwen2", "qwen2_moe")))
    if mt in ("qwen2", "qwen2_moe"):
        attn_bias = True  # q/k/v biases (o has none)
    attn = H * q + 2 * H * kv + q * H
    if attn_bias:
        attn += q + 2 * kv if mt in ("qwen2", "qwen2_moe") else q + 2 * kv + H
    # per-layer norms
    if mt == "olmo":
        norms = 0  # non-parametric LayerNorm
    elif mt == "olmo2":
        norms = 2 * H + q + kv  # post-attn, post-ffn; q_norm over all heads, k_norm over kv heads
    elif mt in ("gemma2", "gemma3_text"):
        norms = 4 * H
    else:
        norms = 2 * H
    if mt in ("qwen3", "qwen3_moe", "gemma3_text"):
        norms += 2 * hd  # per-head q_norm, k_norm
    mlp_bias = bool(c.get("mlp_bias", default=False))
    layer_linear = attn - ((q + 2 * kv + (H if mt not in ("qwen2", "qwen2_moe") else 0)) if attn_bias else 0)
    lora = (H + q) + 2 * (H + kv) + (q + H)
    experts = per_tok = None
    layer_list: list[int] = []
    linear_list: list[int] = []
    if moe:
        I_moe = c.need("moe_intermediate_size", "intermediate_size") if mt != "mixtral" else c.need("intermediate_size")
        E = c.need("num_local_experts", "num_experts")
        per_tok = c.need("num_experts_per_tok")
        experts = E
        shared_I = c.get("shared_expert_intermediate_size", default=0) or 0
        dense_I = c.get("intermediate_size", default=0) or 0
        sparse_step = c.get("decoder_sparse_step", default=1) or 1
        mlp_only = set(c.get("mlp_only_layers", default=[]) or [])
        for i in range(L):
            if mt != "mixtral" and (i in mlp_only or (i + 1) % sparse_step != 0):
                mlp = 3 * H * dense_I
                lin = mlp
            else:
                mlp = H * E + E * 3 * H * I_moe
                if shared_I:
                    mlp += 3 * H * shared_I + H  # shared expert + its sigmoid gate (H -> 1)
                lin = mlp
            layer_list.append(attn + norms + mlp)
            linear_list.append(layer_linear + lin)
        intermediate = per_tok * I_moe + shared_I
        dense_layers = dense_I if (mlp_only or sparse_step > 1) else 0
        dense_moe = max(shared_I, dense_layers)
        moe_shape = {"moe_intermediate": I_moe, "shared_intermediate": shared_I, "dense_layer_intermediate": dense_layers,
                     "expert_params": sum(E * 3 * H * I_moe for i in range(L)
                                          if mt == "mixtral" or not (i in mlp_only or (i + 1) % sparse_step != 0))}
    else:
        I = c.need("intermediate_size")
        mlp = 3 * H * I + (2 * I + H if mlp_bias else 0)
        layer_list = [attn + norms + mlp] * L
        linear_list = [layer_linear + 3 * H * I] * L
        lora += 2 * (H + I) + (I + H)
        intermediate = I
        dense_moe = 0
        moe_shape = {}
    final_norm = 0 if mt == "olmo" else H
    embed = V * H
    head = 0 if tied else V * H
    total = embed + head + sum(layer_list) + final_norm
    win = _windows(c, L)
    return ModelSpec(name=name, model_type=mt, params=total, params_source="config.json (analytic)", layers=L,
                     hidden=H, vocab=V, heads=nh, kv_heads=nkv, head_dim=hd, intermediate=intermediate,
                     embed_params=embed, head_params=head, layer_params=tuple(layer_list),
                     layer_linear_params=tuple(linear_list), lora_dims=lora * L,
                     kv_elems_per_token=(2 * kv,) * L, kv_windows=win,
                     max_position=c.get("max_position_embeddings"), checkpoint_dtype=_dtype_name(c),
                     experts=experts, experts_per_tok=per_tok, dense_intermediate=dense_moe, **moe_shape)


def _deepseek(c: _Cfg, name: str) -> ModelSpec:
    mt = c.cfg["model_type"]
    H = c.need("hidden_size")
    L = c.need("num_hidden_layers")
    V = c.need("vocab_size")
    nh = c.need("num_attention_heads")
    qlr = c.get("q_lora_rank")
    kvr = c.need("kv_lora_rank")
    nope = c.need("qk_nope_head_dim")
    rope = c.need("qk_rope_head_dim")
    vd = c.need("v_head_dim")
    qk = nope + rope
    if qlr:
        q = H * qlr + qlr + qlr * nh * qk
        q_lora = (H + qlr) + (qlr + nh * qk)
    else:
        q = H * nh * qk
        q_lora = H + nh * qk
    attn = q + H * (kvr + rope) + kvr + kvr * nh * (nope + vd) + nh * vd * H
    attn_linear = attn - kvr - (qlr or 0)
    lora = q_lora + (H + kvr + rope) + (kvr + nh * (nope + vd)) + (nh * vd + H)
    E = c.need("n_routed_experts")
    I_moe = c.need("moe_intermediate_size")
    shared = c.get("n_shared_experts", default=0) or 0
    per_tok = c.need("num_experts_per_tok")
    dense_I = c.need("intermediate_size")
    first_dense = c.get("first_k_dense_replace", default=0) or 0
    freq = c.get("moe_layer_freq", default=1) or 1
    bias = E if c.get("topk_method") == "noaux_tc" else 0  # e_score_correction_bias
    layers, linear = [], []
    for i in range(L):
        if i >= first_dense and i % freq == 0:
            mlp = H * E + bias + E * 3 * H * I_moe + 3 * H * I_moe * shared
            lin = mlp - bias
        else:
            mlp = lin = 3 * H * dense_I
            lora += 0
        layers.append(attn + 2 * H + mlp)
        linear.append(attn_linear + lin)
    embed, head = V * H, (0 if c.get("tie_word_embeddings") else V * H)
    total = embed + head + sum(layers) + H
    notes = ["KV cache counted as MLA's compressed latent (kv_lora_rank + qk_rope_head_dim per token per layer), "
             "as MLA-aware engines (vLLM, SGLang) cache it; transformers' eager cache stores full K/V"]
    if c.get("num_nextn_predict_layers"):
        notes.append(f"the checkpoint also holds {c.get('num_nextn_predict_layers')} multi-token-prediction layer(s) "
                     "not counted analytically (the safetensors count includes them)")
    return ModelSpec(name=name, model_type=mt, params=total, params_source="config.json (analytic)", layers=L,
                     hidden=H, vocab=V, heads=nh, kv_heads=nh, head_dim=qk, intermediate=per_tok * I_moe + shared * I_moe,
                     embed_params=embed, head_params=head, layer_params=tuple(layers),
                     layer_linear_params=tuple(linear), lora_dims=lora * L,
                     kv_elems_per_token=(kvr + rope,) * L, kv_windows=(None,) * L,
                     max_position=c.get("max_position_embeddings"), checkpoint_dtype=_dtype_name(c),
                     experts=E, experts_per_tok=per_tok, mla=True, notes=tuple(notes),
                     dense_intermediate=max(dense_I if first_dense else 0, shared * I_moe),
                     moe_intermediate=I_moe, shared_intermediate=shared * I_moe,
                     dense_layer_intermediate=dense_I if first_dense else 0,
                     expert_params=sum(E * 3 * H * I_moe for i in range(L) if i >= first_dense and i % freq == 0))


def _gpt_neox(c: _Cfg, name: str) -> ModelSpec:
    H = c.need("hidden_size")
    L = c.need("num_hidden_layers")
    V = c.need("vocab_size")
    nh = c.need("num_attention_heads")
    I = c.need("intermediate_size")
    bias = c.get("attention_bias", default=True)
    attn_lin = 3 * H * H + H * H
    attn = attn_lin + ((3 * H + H) if bias else 0)
    mlp = 2 * H * I + I + H
    layer = 4 * H + attn + mlp
    embed = V * H
    head = 0 if c.get("tie_word_embeddings", default=False) else V * H
    return ModelSpec(name=name, model_type="gpt_neox", params=embed + head + L * layer + 2 * H,
                     params_source="config.json (analytic)", layers=L, hidden=H, vocab=V, heads=nh, kv_heads=nh,
                     head_dim=H // nh, intermediate=I, embed_params=embed, head_params=head,
                     layer_params=(layer,) * L, layer_linear_params=(attn_lin + 2 * H * I,) * L,
                     lora_dims=L * ((H + 3 * H) + 2 * H + (H + I) * 2), kv_elems_per_token=(2 * H,) * L,
                     kv_windows=(None,) * L, max_position=c.get("max_position_embeddings"),
                     checkpoint_dtype=_dtype_name(c))


def _falcon(c: _Cfg, name: str) -> ModelSpec:
    H = c.need("hidden_size")
    L = c.need("num_hidden_layers", "n_layer")
    V = c.need("vocab_size")
    nh = c.need("num_attention_heads", "n_head")
    hd = H // nh
    if c.get("new_decoder_architecture"):
        nkv = c.need("num_kv_heads", "n_head_kv")
        ln = 4 * H  # ln_attn + ln_mlp
    else:
        nkv = 1 if c.get("multi_query", default=True) else nh
        ln = 2 * H if c.get("parallel_attn", default=True) else 4 * H
    I = c.get("ffn_hidden_size") or 4 * H
    bias = bool(c.get("bias", default=False))
    qkv = H * (nh + 2 * nkv) * hd
    lin = qkv + H * H + 2 * H * I
    layer = ln + lin + ((nh + 2 * nkv) * hd + H + I + H if bias else 0)
    embed = V * H
    head = 0 if c.get("tie_word_embeddings", default=True) else V * H
    return ModelSpec(name=name, model_type="falcon", params=embed + head + L * layer + 2 * H,
                     params_source="config.json (analytic)", layers=L, hidden=H, vocab=V, heads=nh, kv_heads=nkv,
                     head_dim=hd, intermediate=I, embed_params=embed, head_params=head, layer_params=(layer,) * L,
                     layer_linear_params=(lin,) * L, lora_dims=L * ((H + (nh + 2 * nkv) * hd) + 2 * H + 2 * (H + I)),
                     kv_elems_per_token=(2 * nkv * hd,) * L, kv_windows=(None,) * L,
                     max_position=c.get("max_position_embeddings"), checkpoint_dtype=_dtype_name(c))


def _gpt2(c: _Cfg, name: str) -> ModelSpec:
    H = c.need("n_embd", "hidden_size")
    L = c.need("n_layer", "num_hidden_layers")
    V = c.need("vocab_size")
    nh = c.need("n_head", "num_attention_heads")
    P = c.need("n_positions", "max_position_embeddings")
    I = c.get("n_inner") or 4 * H
    lin = 3 * H * H + H * H + 2 * H * I
    layer = 4 * H + lin + 3 * H + H + I + H
    embed = V * H + P * H
    head = 0 if c.get("tie_word_embeddings", default=True) else V * H
    return ModelSpec(name=name, model_type="gpt2", params=embed + head + L * layer + 2 * H,
                     params_source="config.json (analytic)", layers=L, hidden=H, vocab=V, heads=nh, kv_heads=nh,
                     head_dim=H // nh, intermediate=I, embed_params=embed, head_params=head,
                     layer_params=(layer,) * L, layer_linear_params=(lin,) * L,
                     lora_dims=L * ((H + 3 * H) + 2 * H + 2 * (H + I)), kv_elems_per_token=(2 * H,) * L,
                     kv_windows=(None,) * L, max_position=P, checkpoint_dtype=_dtype_name(c))


# --------------------------------------------------------------------------- exact counts from tensors

_LAYER_RE = re.compile(r"(?:^|\.)(?:layers|h|blocks|layer)\.(\d+)\.")
_EMBED_RE = re.compile(r"(embed_tokens|wte|wpe|word_embeddings|embed_in)\.weight$")
_HEAD_RE = re.compile(r"(^|\.)(lm_head|embed_out)\.weight$")
BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4, "I16": 2,
         "I8": 1, "U8": 1, "BOOL": 1, "U16": 2, "U32": 4, "U64": 8, "F8_E8M0": 1, "F4": 0.5}
DTYPE_NAMES = {"BF16": "bf16", "F16": "fp16", "F32": "fp32", "F8_E4M3": "fp8", "F8_E5M2": "fp8", "I8": "int8"}


@frozen
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def count_tensors(tensors: list[TensorInfo]) -> dict[str, Any]:
    """Exact totals from safetensors headers: params, bytes, by dtype, per layer."""
    total = 0
    nbytes = 0.0
    by_dtype: dict[str, int] = {}
    per_layer: dict[int, int] = {}
    embed = head = 0
    for t in tensors:
        n = t.numel
        total += n
        nbytes += n * BYTES.get(t.dtype, 2)
        by_dtype[t.dtype] = by_dtype.get(t.dtype, 0) + n
        m = _LAYER_RE.search(t.name)
        if m:
            per_layer[int(m.group(1))] = per_layer.get(int(m.group(1)), 0) + n
        elif _HEAD_RE.search(t.name):
            head += n
        elif _EMBED_RE.search(t.name):
            embed += n
    return {"params": total, "bytes": int(nbytes), "by_dtype": by_dtype, "per_layer": per_layer,
            "embed": embed, "head": head}


def spec_with_tensors(spec: ModelSpec, tensors: list[TensorInfo]) -> ModelSpec:
    """The analytic spec with its counts replaced by the exact ones from the checkpoint."""
    counts = count_tensors(tensors)
    if counts["params"] == 0:
        return spec
    per_layer = counts["per_layer"]
    layers = tuple(per_layer.get(i, 0) for i in range(spec.layers)) if per_layer else spec.layer_params
    if sum(layers) == 0:
        layers = spec.layer_params
    # quantizable share of each layer: keep the analytic ratio
    ratio = [lin / tot if tot else 0 for lin, tot in zip(spec.layer_linear_params, spec.layer_params)]
    linear = tuple(int(n * r) for n, r in zip(layers, ratio))
    dominant = max(counts["by_dtype"].items(), key=lambda kv: kv[1])[0]
    notes = spec.notes
    extra = sum(v for k, v in per_layer.items() if k >= spec.layers)
    if extra:
        notes = notes + (f"{extra:,} parameters sit in layers beyond num_hidden_layers (e.g. multi-token prediction)",)
    return replace(spec, params=counts["params"], params_source="safetensors headers (exact)",
                   embed_params=counts["embed"] or spec.embed_params, head_params=counts["head"],
                   layer_params=layers, layer_linear_params=linear,
                   checkpoint_dtype=DTYPE_NAMES.get(dominant, spec.checkpoint_dtype), notes=notes)


def generic_spec(cfg: Mapping[str, Any], tensors: list[TensorInfo], name: str, source: str) -> ModelSpec:
    """A spec for an architecture without an analytic model: exact counts from ``tensors`` (safetensors
    headers or a meta-device instantiation), shapes for KV cache and activations from common config keys."""
    cfg = text_config(cfg)
    c = _Cfg(cfg, model_type_of(cfg) or "unknown")
    H = c.need("hidden_size", "n_embd", "d_model")
    L = c.need("num_hidden_layers", "n_layer", "num_layers")
    nh = c.need("num_attention_heads", "n_head", "num_heads")
    nkv = c.get("num_key_value_heads", "num_kv_heads", default=nh)
    hd = c.get("head_dim") or H // nh
    V = c.get("vocab_size", default=0) or 0
    counts = count_tensors(tensors)
    per_layer = tuple(counts["per_layer"].get(i, 0) for i in range(L))
    linear = [0] * L
    for t in tensors:
        m = _LAYER_RE.search(t.name)
        if m and len(t.shape) == 2 and int(m.group(1)) < L:
            linear[int(m.group(1))] += t.numel
    return ModelSpec(name=name, model_type=model_type_of(cfg) or "unknown", params=counts["params"],
                     params_source=source, layers=L, hidden=H, vocab=V, heads=nh, kv_heads=nkv, head_dim=hd,
                     intermediate=c.get("intermediate_size", "ffn_dim", "n_inner") or 4 * H,
                     embed_params=counts["embed"], head_params=counts["head"], layer_params=per_layer,
                     layer_linear_params=tuple(linear), lora_dims=L * 4 * 2 * H, kv_elems_per_token=(2 * nkv * hd,) * L,
                     kv_windows=_windows(c, L), max_position=c.get("max_position_embeddings", "n_positions"),
                     checkpoint_dtype=_dtype_name(c),
                     notes=("architecture not modelled analytically: KV cache and activations assume standard "
                            "multi-head attention from config keys; LoRA size assumes 4 HxH projections per layer",))
