"""What a serving engine will allocate on each GPU, term by term, the way the engine itself counts it.

vLLM (``vllm/v1/worker/gpu_worker.py`` ``determine_available_memory``): the instance may use
``total x gpu_memory_utilization``; from that it subtracts the weights, the torch peak of the profile run
(``gpu_model_runner.profile_run``: one chunk of ``max_num_batched_tokens`` through the model, then
``_dummy_sampler_run`` over ``min(max_num_seqs, max_num_batched_tokens)`` requests with vocabulary-sized
logits), the non-torch memory (cuBLAS workspaces, NCCL / custom all-reduce buffers) and, from 0.21, the
CUDA-graph estimate; the rest is the KV cache, cut into blocks of ``block_size`` tokens
(``vllm/v1/core/kv_cache_utils.py``: ``GPU KV cache size: N tokens``, ``Maximum concurrency for L tokens
per request: X x``).  The engine takes the smallest rank's figure.

SGLang (``python/sglang/srt/model_executor/model_runner.py`` ``profile_max_num_token``): the pool is the
memory free after the weights load minus ``(1 - mem_fraction_static)`` of the memory free before, divided by
the cell size (every layer's K and V for one token on this rank): ``KV Cache is allocated. #tokens: N``.

Pure arithmetic on a ModelSpec; nothing here touches the machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..engine import UsageError
from .architectures import ModelSpec
from ..frozen import frozen

GiB = 2**30
ENGINES = ("transformers", "vllm", "sglang")
KV_DTYPES = {"auto": 0, "bf16": 2, "fp16": 2, "fp32": 4, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1, "int8": 1}

# Constants of the accounting, each with where it comes from (printed by --explain).  Which public figures each
# constant was read from is listed in tests/data/memory_figures/vllm_sglang.json ("fitting"); the others are
# held out.
VLLM_CURRENT = (0, 21)  # defaults below are those of vLLM >= 0.21 (V1 engine, CUDA-graph memory profiled)
SAMPLER_BYTES_PER_LOGIT = 15.0  # >= 0.17: bf16 logits + fp32 copy + fp32 probs + fp32 exponential draws
V0_SAMPLER_BYTES_PER_LOGIT = 40.0  # V0 and V1 < 0.17: fp32 logits, probs, logprobs, sorted top-p/top-k copies + idx
SAMPLER_SLIM_FROM = (0, 17)  # llm-d-incubation/llm-d-planner accuracy report: Qwen3-14B 5.64 GiB (0.16) -> 2.23 (0.17)
FORWARD_FACTOR = 1.07  # allocator rounding and the attention/rotary temporaries beside the MLP set
NON_TORCH_TP1 = 0.30 * GiB  # V0: cuBLAS/cuDNN workspaces, torch.compile caches (public logs: 0.05-0.35 GiB)
NON_TORCH_PER_TP = 0.45 * GiB  # V0: NCCL + custom all-reduce buffers per extra rank in the group (capped below)
NON_TORCH_TP_CAP = 1.8 * GiB
V1_NON_TORCH_TP1 = 0.25 * GiB  # V1, one rank: 'non-torch forward increase memory: 0.25GiB' (llm-d report, 0.18/0.19)
V1_NON_TORCH_TP = 2.1 * GiB  # V1, TP >= 2: custom all-reduce IPC buffers + NCCL (2.07 at TP 2, 2.13 at TP 4)
MOE_WORKSPACE_PERSISTS_FROM = (0, 10)  # fused_moe/modular_kernel.py SharedResizableBuffer keeps the workspace
HYBRID_ALLOCATOR_FROM = (0, 10)  # v1/core/kv_cache_utils.py: sliding-window layers their own KV cache groups
CUDAGRAPH_ESTIMATE = 0.45 * GiB  # 'Graph capturing finished ..., took 0.2-0.6 GiB' in public logs
SGLANG_INIT = 1.0 * GiB  # CUDA context + NCCL before 'Load weight begin. avail mem=...'

ASSUMPTIONS = {
    "vllm": [
        "vLLM >= 0.21 (V1 engine) unless --engine-version says otherwise; V0 (< 0.8) prefills the whole prompt "
        "(max_num_batched_tokens = max(max_model_len, 2048)) and does not reserve CUDA-graph memory",
        "usage context `vllm serve` (--vllm-usage serve): max_num_batched_tokens 8192 and max_num_seqs 1024 on GPUs "
        "with >= 70 GiB that are not A100, else 2048 and 256 (vllm/engine/arg_utils.py get_batch_defaults); the LLM "
        "class (--vllm-usage llm) uses 16384/1024 and 8192/256",
        "dtype auto: a float32 checkpoint is served in 16-bit (vllm/config.py _get_and_verify_dtype); weights, "
        "activations and KV cache take 2 bytes unless --dtype fp32",
        "requested memory = GPU total x --gpu-memory-utilization (default 0.9); the CUDA context lives in the rest",
        f"profile run peak = max(forward live set of one chunk, sampler warm-up over min(max_num_seqs, "
        f"max_num_batched_tokens) requests x vocabulary logits at {SAMPLER_BYTES_PER_LOGIT:g} bytes each from 0.17, "
        f"{V0_SAMPLER_BYTES_PER_LOGIT:g} before) - the logits are gathered on every TP rank, so this term does not "
        "shrink with TP; only the last pipeline stage samples",
        "forward live set per token: residual + normed input (2 x hidden) + gate/up and activation (3 x "
        "intermediate / TP); MoE: the fused-MoE workspace (top_k x (3 x moe_intermediate / TP + hidden)) per token, "
        "which from 0.10 stays allocated (SharedResizableBuffer in fused_moe/modular_kernel.py), so it adds to the "
        "sampler's peak; with --enable-expert-parallel the experts are whole on their rank (not split by TP)",
        f"non-torch memory: V1 {V1_NON_TORCH_TP1 / GiB:.2f} GiB at TP 1 and {V1_NON_TORCH_TP / GiB:.1f} GiB at TP >= 2 "
        f"(custom all-reduce + NCCL buffers); V0 {NON_TORCH_TP1 / GiB:.2f} GiB + {NON_TORCH_PER_TP / GiB:.2f} GiB per "
        f"extra rank, at most +{NON_TORCH_TP_CAP / GiB:.1f} GiB",
        f"CUDA graphs: {CUDAGRAPH_ESTIMATE / GiB:.2f} GiB reserved from 0.21 (VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS "
        "default on); 0 with --enforce-eager or before 0.21 (then taken from the headroom after the KV cache)",
        "KV cache per token per rank: 2 x layers-on-this-stage x max(1, kv_heads / TP) x head_dim x bytes (KV heads "
        "fewer than TP ranks are replicated); MLA (DeepSeek-V2/V3, Kimi): (kv_lora_rank + qk_rope_head_dim) x "
        "layers x bytes on every rank (not divided by TP); tokens are whole blocks of block_size (16)",
        "sliding-window layers (Gemma-2/3, Mistral v0.1), from 0.10 (hybrid allocator, vllm/v1/core/"
        "kv_cache_utils.py): the layers of each attention type are cut into KV cache groups of the fewest type's "
        "layer count (the most, when the counts differ by less than 1.5x), the last group padded; every slot shares "
        "one tensor of num_blocks pages, so num_blocks = memory / page / group size and 'GPU KV cache size' = "
        "num_blocks // groups x block_size (as printed up to 0.19, vllm-project/vllm#40691; later releases print "
        "concurrency x max_model_len, not modelled); a request of max_model_len takes cdiv(max_model_len, 16) blocks "
        "in a full group and cdiv(min(window - 1 + max_num_batched_tokens, max_model_len), 16) + 1 in a sliding one "
        "(vllm/v1/kv_cache_interface.py SlidingWindowSpec.max_memory_usage_bytes), and 'Maximum concurrency' = "
        "num_blocks / the request's blocks over all groups; before 0.10 every layer keeps max_model_len; hybrid SSM "
        "(Mamba) layers are not modelled",
        "expert parallel (--enable-expert-parallel with --data-parallel-size N): routed experts are split over the "
        "TP x DP ranks, attention and dense layers are whole per DP rank and split by TP only",
        "pipeline parallel: layers split evenly (the remainder to the stages before the last, as get_pp_indices), "
        "the embedding on the first stage, the LM head on the last; the smallest stage's pool sets the figure",
    ],
    "sglang": [
        "mem_fraction_static default by world size TP x PP (python/sglang/srt/server_args.py __post_init__): 0.88 "
        "(1 GPU), 0.87 (2), 0.85 (4), 0.81 (8; 0.83 in releases before 0.4), 0.79 (16); give --mem-fraction-static "
        "for releases that size it from the GPU memory and the CUDA-graph batch sizes",
        f"memory free before the weights load = GPU total - {SGLANG_INIT / GiB:.1f} GiB (CUDA context, NCCL)",
        "#tokens = (free after weights - free before x (1 - mem_fraction_static)) / cell size; cell size = "
        "layers x max(1, kv_heads / TP) x head_dim x 2 x bytes (MLA: layers x (kv_lora_rank + rope) x bytes)",
    ],
    "transformers": [
        "generate() with device_map='auto': weights, the KV cache of seq-len x batch, one layer's live set "
        "during prefill and last-position logits (see the formulas of the default plan)",
    ],
}


@frozen
class EngineOptions:
    engine: str = "vllm"
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None  # default: the model's max_position_embeddings
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    kv_cache_dtype: str = "auto"
    enforce_eager: bool = False
    tp: int = 1
    pp: int = 1
    block_size: int = 16
    version: tuple[int, int] = VLLM_CURRENT
    mem_fraction_static: float | None = None
    weight_bytes_per_param: float | None = None  # None: from dtype (2, or 4 with dtype fp32)
    usage: str = "serve"  # vLLM usage context: serve (`vllm serve`) | llm (the LLM class)
    dtype: str = "auto"  # auto (a float32 checkpoint is served in 16-bit) | bf16 | fp16 | fp32
    dp: int = 1  # data parallel size (vLLM --data-parallel-size)
    expert_parallel: bool = False  # vLLM --enable-expert-parallel

    def validate(self) -> "EngineOptions":
        if self.engine not in ENGINES:
            raise UsageError(f"--engine {self.engine!r}: choose one of {', '.join(ENGINES)}")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise UsageError(f"--gpu-memory-utilization {self.gpu_memory_utilization}: must be in (0, 1]")
        if self.kv_cache_dtype not in KV_DTYPES:
            raise UsageError(f"--kv-cache-dtype {self.kv_cache_dtype!r}: choose one of {', '.join(KV_DTYPES)}")
        if self.usage not in ("serve", "llm"):
            raise UsageError(f"--vllm-usage {self.usage!r}: choose serve or llm")
        if self.dtype not in ("auto", "bf16", "fp16", "fp32"):
            raise UsageError(f"--dtype {self.dtype!r} for an engine: choose auto, bf16, fp16 or fp32")
        for name, v in (("--tp", self.tp), ("--pp", self.pp), ("--block-size", self.block_size), ("--dp", self.dp)):
            if v < 1:
                raise UsageError(f"{name} {v}: must be at least 1")
        for name, opt in (("--max-model-len", self.max_model_len), ("--max-num-seqs", self.max_num_seqs),
                          ("--max-num-batched-tokens", self.max_num_batched_tokens)):
            if opt is not None and opt < 1:
                raise UsageError(f"{name} {opt}: must be at least 1")
        if self.mem_fraction_static is not None and not 0 < self.mem_fraction_static < 1:
            raise UsageError(f"--mem-fraction-static {self.mem_fraction_static}: must be in (0, 1)")
        return self


@frozen
class EnginePlan:
    engine: str
    terms: dict[str, float]  # per GPU (the worst rank), bytes
    kv_tokens: int
    max_model_len: int
    lines: tuple[str, ...]  # what the engine prints
    settings: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    stages: tuple[dict[str, float], ...] = ()  # per pipeline stage: its terms and kv_tokens (vLLM)
    max_concurrency: float | None = None  # as the engine prints it (sliding windows: above kv_tokens / max_len)

    @property
    def concurrency(self) -> float:
        if self.max_concurrency is not None:
            return self.max_concurrency
        return self.kv_tokens / self.max_model_len if self.max_model_len else 0.0

    @property
    def fits(self) -> bool:
        return not self.problems and self.concurrency >= 1

    def to_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "fits": self.fits, "terms": {k: int(v) for k, v in self.terms.items()},
                "kv_tokens": self.kv_tokens, "max_model_len": self.max_model_len,
                "max_concurrency": round(self.concurrency, 2), "lines": list(self.lines),
                "settings": self.settings, "problems": list(self.problems),
                "stages": [{k: int(v) for k, v in st.items()} for st in self.stages]}


def parse_version(text: str, flag: str = "--engine-version") -> tuple[int, int]:
    parts = text.strip().lstrip("v").split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        raise UsageError(f"{flag} {text!r}: give major.minor, e.g. 0.21") from None


# --------------------------------------------------------------------------- shared pieces


def compute_bytes(o: EngineOptions) -> int:
    """Bytes per element the engine computes in: 4 only when fp32 is asked for (vLLM and SGLang serve a float32
    checkpoint in 16-bit with dtype auto)."""
    return 4 if o.dtype == "fp32" else 2


def kv_bytes_per_elem(spec: ModelSpec, kv_cache_dtype: str, o: EngineOptions | None = None) -> int:
    b = KV_DTYPES[kv_cache_dtype]
    return b or (compute_bytes(o) if o is not None else 2)


def stage_layers(spec: ModelSpec, pp: int) -> list[list[int]]:
    """Decoder layer indices per pipeline stage, as vLLM's get_pp_indices splits them: evenly, the remainder one
    layer each to the stages before the last (the last stage also holds the LM head)."""
    if pp > spec.layers:
        raise UsageError(f"--pp {pp}: the model has only {spec.layers} layers")
    sizes = [spec.layers // pp] * pp
    for i in range(2, spec.layers % pp + 2):
        sizes[-i] += 1
    out, start = [], 0
    for n in sizes:
        out.append(list(range(start, start + n)))
        start += n
    return out


def kv_bytes_per_token(spec: ModelSpec, layers: list[int], tp: int, elem: int) -> float:
    """K+V bytes one token costs on one rank: MLA latent replicated; KV heads split, at least one per rank."""
    if spec.mla:
        return sum(spec.kv_elems_per_token[i] for i in layers) * elem
    heads_per_rank = max(1, spec.kv_heads // tp)
    return sum(spec.kv_elems_per_token[i] * heads_per_rank / spec.kv_heads for i in layers) * elem


def stage_weights(spec: ModelSpec, layers: list[int], first: bool, last: bool, tp: int, bpp: float,
                  expert_ranks: int | None = None) -> float:
    """Weight bytes on one rank of a stage; ``expert_ranks`` (expert parallel) splits the routed experts over that
    many ranks instead of over TP."""
    n = sum(spec.layer_params[i] for i in layers) + (spec.embed_params if first else 0)
    if last:
        n += spec.head_params if spec.head_params else (0 if first else spec.embed_params)  # tied: a copy
        n += max(spec.other_params, 0)
    if not expert_ranks or not spec.expert_params:
        return n * bpp / tp
    experts = spec.expert_params * len(layers) / spec.layers
    return (n - experts) * bpp / tp + experts * bpp / expert_ranks


def moe_workspace(spec: ModelSpec, tokens: int, tp: int, act_bytes: int, expert_parallel: bool = False) -> float:
    """The fused-MoE kernel's scratch for one chunk: per token top_k x (gate/up 2N + activation N + output hidden),
    N = one expert's width on this rank (whole with expert parallel)."""
    if not (spec.experts and spec.experts_per_tok and spec.moe_intermediate):
        return 0.0
    width = spec.moe_intermediate / (1 if expert_parallel else tp)
    return tokens * act_bytes * spec.experts_per_tok * (3 * width + spec.hidden)


def forward_peak(spec: ModelSpec, tokens: int, tp: int, act_bytes: int, expert_parallel: bool = False) -> float:
    """One chunk through one layer: residual + normed input + the MLP's widest set (fused MoE workspace on an MoE
    layer beside the shared experts; the dense MLP on a dense layer)."""
    h = spec.hidden
    if spec.experts and spec.experts_per_tok and spec.moe_intermediate:
        moe = moe_workspace(spec, tokens, tp, act_bytes, expert_parallel) / (tokens * act_bytes)
        per_token = max(moe + 3 * spec.shared_intermediate / tp, 3 * spec.dense_layer_intermediate / tp)
    else:
        per_token = 3 * spec.intermediate / tp
    return tokens * act_bytes * (2 * h + per_token) * FORWARD_FACTOR


# --------------------------------------------------------------------------- vLLM


def vllm_defaults(gpu_name: str, gpu_total: int, o: EngineOptions, max_len: int) -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) as vLLM picks them for `vllm serve` or the LLM class."""
    if o.version < (0, 8):  # V0: the whole prompt at once, unless chunked prefill (auto above 32k)
        chunked = max_len > 32768 and o.version >= (0, 5)
        floor = 2560 if o.version < (0, 4) else 2048
        tokens = o.max_num_batched_tokens or (2048 if chunked else max(max_len, floor))
        return tokens, o.max_num_seqs or 256
    big = gpu_total >= 70 * GiB and "a100" not in gpu_name.lower()
    default_tokens = {("serve", True): 8192, ("serve", False): 2048, ("llm", True): 16384, ("llm", False): 8192}
    tokens = o.max_num_batched_tokens or default_tokens[(o.usage, big)]
    return tokens, o.max_num_seqs or (1024 if big else 256)


def non_torch(tp: int, version: tuple[int, int] = VLLM_CURRENT) -> float:
    if version >= (0, 8):
        return V1_NON_TORCH_TP1 if tp == 1 else V1_NON_TORCH_TP
    return NON_TORCH_TP1 + min(NON_TORCH_PER_TP * (tp - 1), NON_TORCH_TP_CAP)


def sampler_peak(spec: ModelSpec, o: EngineOptions, tokens: int, seqs: int, act_bytes: int) -> float:
    """The sampler warm-up: min(max_num_seqs, max_num_batched_tokens) requests x vocabulary logits."""
    coef = SAMPLER_BYTES_PER_LOGIT if o.version >= SAMPLER_SLIM_FROM else V0_SAMPLER_BYTES_PER_LOGIT
    return min(seqs, tokens) * spec.vocab * coef + tokens * spec.hidden * act_bytes


def _cdiv(a: float, b: int) -> int:
    return -int(-a // b)


def kv_cache_groups(spec: ModelSpec, layers: list[int], tp: int, elem: int) -> tuple[list[int | None], int] | None:
    """vLLM's KV cache groups from the hybrid allocator on (vllm/v1/core/kv_cache_utils.py
    _get_kv_cache_groups_uniform_page_size): the layers of one attention type (full, or one sliding window) are cut
    into groups of group_size layers, the last one padded; group_size is the fewest layers of a type, or the most
    when the counts differ by less than 1.5x.  Returns each group's window (None = full) and group_size; None when
    the layers' page sizes differ (then vLLM rescales block sizes, which is not modelled here)."""
    if len({kv_bytes_per_token(spec, [i], tp, elem) for i in layers}) > 1:
        return None
    by_type: dict[int | None, int] = {}
    for i in layers:
        by_type[spec.kv_windows[i]] = by_type.get(spec.kv_windows[i], 0) + 1
    size = min(by_type.values())
    if max(by_type.values()) < size * 1.5:
        size = max(by_type.values())
    return [w for w, n in by_type.items() for _ in range(_cdiv(n, size))], size


def request_blocks(window: int | None, o: EngineOptions, max_len: int, tokens: int) -> int:
    """Blocks one request of max_model_len takes in one group (vllm/v1/kv_cache_interface.py
    max_memory_usage_bytes / page size): FullAttentionSpec cdiv(max_model_len, block_size); SlidingWindowSpec
    cdiv(min(window - 1 + max_num_batched_tokens, max_model_len), block_size) + 1 (the window may start mid-block)."""
    if not window:
        return _cdiv(max_len, o.block_size)
    return _cdiv(min(window - 1 + tokens, max_len), o.block_size) + 1


def hybrid_pool(spec: ModelSpec, o: EngineOptions, layers: list[int], avail: float, elem: int, max_len: int,
                tokens: int) -> tuple[float, float] | None:
    """'GPU KV cache size' and 'Maximum concurrency' of a stage with sliding-window layers under the hybrid
    allocator (>= 0.10), as vllm/v1/core/kv_cache_utils.py computes them: num_blocks = memory // page size //
    group_size (get_num_blocks: one tensor per slot, shared by a layer of every group); tokens = num_blocks //
    groups x block_size (_report_kv_cache_config up to 0.19, vllm-project/vllm#40691); concurrency = num_blocks /
    sum over groups of the request's blocks (get_max_concurrency_for_kv_cache_config).  Later releases print
    tokens = concurrency x max_model_len (vllm-project/vllm#40694); not modelled.  None: no sliding layer, or
    the hybrid allocator is off."""
    if o.version < HYBRID_ALLOCATOR_FROM or not any(spec.kv_windows[i] for i in layers):
        return None
    groups = kv_cache_groups(spec, layers, o.tp, elem)
    if groups is None:
        return None
    windows, size = groups
    page = kv_bytes_per_token(spec, [layers[0]], o.tp, elem) * o.block_size
    num_blocks = int(avail // page // size) if page else 0
    kv_tokens = num_blocks // len(windows) * o.block_size
    need = sum(request_blocks(w, o, max_len, tokens) for w in windows)
    return float(kv_tokens), num_blocks / need if need else 0.0


def max_concurrency(o: EngineOptions, kv_tok: int, max_len: int) -> float:
    """How many requests of max_model_len the pool holds at once when every layer keeps every token (one KV
    cache group, or sliding layers treated as full before the hybrid allocator): blocks / blocks per request."""
    per_request = _cdiv(max_len, o.block_size)
    return (kv_tok // o.block_size) / per_request if per_request else 0.0


def _vllm_stage(spec: ModelSpec, o: EngineOptions, s: int, layers: list[int], shared: dict[str, Any]) -> dict[str, float]:
    """One pipeline stage's terms on its worst rank, and the tokens its pool holds."""
    last = s == o.pp - 1
    bpp = o.weight_bytes_per_param or float(compute_bytes(o))
    ranks = o.tp * o.dp if o.expert_parallel else None
    w = stage_weights(spec, layers, s == 0, last, o.tp, bpp, ranks)
    act = max(shared["forward"], shared["sampler"] + shared["moe_ws"] if last else 0.0)
    terms = {"weights": w, "activations": act, "non_torch": non_torch(o.tp, o.version),
             "cuda_graphs": shared["graphs"]}
    avail = max(shared["requested"] - sum(terms.values()), 0.0)
    per_token = kv_bytes_per_token(spec, layers, o.tp, shared["elem"])
    hybrid = hybrid_pool(spec, o, layers, avail, shared["elem"], shared["max_len"], shared["tokens"])
    if hybrid is not None:
        kv_tokens, conc = hybrid
    else:
        blocks = int(avail // (per_token * o.block_size)) if per_token else 0
        kv_tokens = float(blocks * o.block_size)
        conc = max_concurrency(o, int(kv_tokens), shared["max_len"])
    return {**terms, "kv_cache": avail, "kv_tokens": kv_tokens, "per_token": per_token, "concurrency": conc}


def vllm_plan(spec: ModelSpec, gpu_name: str, gpu_total: int, o: EngineOptions, gpu_used: int = 0) -> EnginePlan:
    max_len = o.max_model_len or spec.max_position or 4096
    tokens, seqs = vllm_defaults(gpu_name, gpu_total, o, max_len)
    requested = gpu_total * o.gpu_memory_utilization
    elem = kv_bytes_per_elem(spec, o.kv_cache_dtype, o)
    stages = stage_layers(spec, o.pp)
    act_bytes = compute_bytes(o)
    ep = o.expert_parallel
    shared = {"requested": requested, "elem": elem, "max_len": max_len, "tokens": tokens,
              "forward": forward_peak(spec, tokens, o.tp, act_bytes, ep),
              "sampler": sampler_peak(spec, o, tokens, seqs, act_bytes),
              "moe_ws": moe_workspace(spec, tokens, o.tp, act_bytes, ep) if o.version >= MOE_WORKSPACE_PERSISTS_FROM
              else 0.0,
              "graphs": 0.0 if o.enforce_eager or o.version < VLLM_CURRENT else CUDAGRAPH_ESTIMATE}
    per_stage = [_vllm_stage(spec, o, s, layers, shared) for s, layers in enumerate(stages)]
    worst = min(range(len(per_stage)), key=lambda i: per_stage[i]["kv_tokens"])
    st = per_stage[worst]
    kv_tok, per_token = int(st["kv_tokens"]), st["per_token"]
    terms = {k: st[k] for k in ("weights", "activations", "non_torch", "cuda_graphs", "kv_cache")}
    conc = st["concurrency"]
    lines = [f"Model loading took {terms['weights'] / GiB:.4f} GiB",
             f"Available KV cache memory: {terms['kv_cache'] / GiB:.2f} GiB",
             f"GPU KV cache size: {kv_tok:,} tokens",
             f"Maximum concurrency for {max_len:,} tokens per request: {conc:.2f}x"]
    problems = _vllm_problems(requested, gpu_total, gpu_used, terms, kv_tok, max_len, o.gpu_memory_utilization,
                              conc)
    settings = {"gpu_memory_utilization": o.gpu_memory_utilization, "max_model_len": max_len,
                "max_num_batched_tokens": tokens, "max_num_seqs": seqs, "block_size": o.block_size,
                "kv_cache_dtype": o.kv_cache_dtype, "kv_bytes_per_token_per_rank": per_token,
                "tensor_parallel_size": o.tp, "pipeline_parallel_size": o.pp, "data_parallel_size": o.dp,
                "enable_expert_parallel": ep, "enforce_eager": o.enforce_eager, "usage": o.usage, "dtype": o.dtype,
                "version": ".".join(map(str, o.version)), "requested_memory": int(requested)}
    return EnginePlan("vllm", terms, kv_tok, max_len, tuple(lines), settings, problems,
                      tuple({k: v for k, v in p.items() if k not in ("per_token", "concurrency")} for p in per_stage), conc)


def _vllm_problems(requested: float, total: int, used: int, terms: dict[str, float], kv_tok: int,
                   max_len: int, util: float, conc: float) -> tuple[str, ...]:
    out = []
    if used and total - used < requested:
        out.append(f"free memory on the GPU ({(total - used) / GiB:.2f} GiB) is less than desired GPU memory "
                   f"utilization ({util}, {requested / GiB:.2f} GiB): vLLM refuses to start")
    if terms["kv_cache"] <= 0:
        out.append("no memory left for the KV cache: weights + profile run exceed the requested memory "
                   "(raise --gpu-memory-utilization, quantize, or add GPUs with --tp)")
    elif kv_tok < max_len and conc < 1:
        out.append(f"the model's max seq len ({max_len:,}) is larger than the maximum number of tokens that can be "
                   f"stored in KV cache ({kv_tok:,}): lower --max-model-len or raise --gpu-memory-utilization")
    return tuple(out)


# --------------------------------------------------------------------------- SGLang


def sglang_mem_fraction(tp: int) -> float:
    for at_least, frac in ((16, 0.79), (8, 0.81), (4, 0.85), (2, 0.87)):
        if tp >= at_least:
            return frac
    return 0.88


def sglang_plan(spec: ModelSpec, gpu_total: int, o: EngineOptions, gpu_used: int = 0) -> EnginePlan:
    max_len = o.max_model_len or spec.max_position or 4096
    mfs = o.mem_fraction_static or sglang_mem_fraction(o.tp * o.pp)
    elem = kv_bytes_per_elem(spec, o.kv_cache_dtype, o)
    layers = stage_layers(spec, o.pp)
    free_before = gpu_total - gpu_used - SGLANG_INIT
    bpp = o.weight_bytes_per_param or float(compute_bytes(o))
    w = max(stage_weights(spec, ls, s == 0, s == len(layers) - 1, o.tp, bpp) for s, ls in enumerate(layers))
    cell = max(kv_bytes_per_token(spec, ls, o.tp, elem) for ls in layers)
    rest = free_before - w - free_before * (1 - mfs)
    kv_tok = int(max(rest, 0) // cell) if cell else 0
    kv_bytes = kv_tok * cell
    terms = {"weights": w, "kv_cache": kv_bytes, "init": float(SGLANG_INIT), "reserved": free_before * (1 - mfs)}
    lines = [f"Load weight end. mem usage={w / GiB:.2f} GB",  # SGLang's "GB" are 2**30 bytes
             f"KV Cache is allocated. #tokens: {kv_tok}, K size: {kv_bytes / 2 / GiB:.2f} GB, "
             f"V size: {kv_bytes / 2 / GiB:.2f} GB"]
    problems: tuple[str, ...] = ()
    if rest <= 0:
        problems = ("Not enough memory. Please try to increase --mem-fraction-static (SGLang's own message: the "
                    "weights leave no room for the KV pool)",)
    elif kv_tok < max_len:
        problems = (f"the KV pool ({kv_tok:,} tokens) is smaller than the context length ({max_len:,})",)
    settings = {"mem_fraction_static": mfs, "context_length": max_len, "cell_size": cell, "tp_size": o.tp,
                "pp_size": o.pp, "kv_cache_dtype": o.kv_cache_dtype}
    return EnginePlan("sglang", terms, kv_tok, max_len, tuple(lines), settings, problems)


def engine_plan(spec: ModelSpec, gpu_name: str, gpu_total: int, o: EngineOptions, gpu_used: int = 0) -> EnginePlan:
    if o.engine == "vllm":
        p = vllm_plan(spec, gpu_name, gpu_total, o, gpu_used)
    elif o.engine == "sglang":
        p = sglang_plan(spec, gpu_total, o, gpu_used)
    else:
        raise UsageError(f"engine {o.engine!r} has no engine plan (transformers uses the default planner)")
    if spec.max_position and p.max_model_len > spec.max_position:
        p = replace(p, problems=p.problems + (
            f"max_model_len {p.max_model_len:,} is beyond the model's max_position_embeddings {spec.max_position:,}: "
            f"the engine refuses it (it would need RoPE scaling by {p.max_model_len / spec.max_position:.2g}x)",))
    return p


def explain(engine: str) -> str:
    rows = ASSUMPTIONS.get(engine, [])
    return "".join(f"{engine}: {r}\n" for r in rows)


def _fits_with(spec: ModelSpec, gpu_name: str, gpu_total: int, o: EngineOptions, used: int, **changes: Any) -> bool:
    return engine_plan(spec, gpu_name, gpu_total, replace(o, **changes), used).fits


def engine_remedies(spec: ModelSpec, gpu_name: str, gpu_total: int, o: EngineOptions, used: int = 0) -> list[str]:
    """Ranked flag changes that make the engine start, each checked with the same accounting."""
    p = engine_plan(spec, gpu_name, gpu_total, o, used)
    if p.fits:
        return []
    out: list[str] = []
    if p.kv_tokens >= o.block_size:
        out.append(f"--max-model-len {p.kv_tokens}: the longest request the KV cache holds ({p.kv_tokens:,} tokens)")
    elif spec.max_position and p.max_model_len > spec.max_position:
        out.append(f"--max-model-len {spec.max_position} (the model's max_position_embeddings)")
    if o.kv_cache_dtype == "auto" and _fits_with(spec, gpu_name, gpu_total, o, used, kv_cache_dtype="fp8"):
        out.append("--kv-cache-dtype fp8 (half the KV bytes per token)")
    if o.engine == "vllm" and o.gpu_memory_utilization < 0.95 and _fits_with(
            spec, gpu_name, gpu_total, o, used, gpu_memory_utilization=0.95):
        out.append("--gpu-memory-utilization 0.95 (if nothing else shares the GPU)")
    for tp in (2, 4, 8):
        if tp > o.tp and _fits_with(spec, gpu_name, gpu_total, o, used, tp=tp):
            out.append(f"--tp {tp} (tensor parallel over {tp} such GPUs)")
            break
    return out
