"""Resolve MODEL (a directory, a config.json, or a repo id in the local Hugging Face cache) to a ModelSpec.

Reads config.json and only the JSON headers of *.safetensors files (8-byte little-endian length, then
that many bytes of JSON); never the tensors, never the network.  Bad input raises UsageError (one line).
"""

from __future__ import annotations

import math
import os
import re
import struct
from pathlib import Path
from typing import Any

from ..boundedio import load_json, read_file
from ..engine import UsageError
from ..memory.architectures import ModelSpec, TensorInfo, generic_spec, spec_from_config, spec_with_tensors

MAX_HEADER_BYTES = 100 * 2**20  # the safetensors reference implementation refuses headers above 100 MB
MAX_CONFIG_BYTES = 16 * 2**20
MAX_TENSOR_ELEMENTS = 2**48  # 256 T elements: ~500 TB in bf16, far beyond any one tensor of a checkpoint
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def hf_cache_dirs() -> list[Path]:
    """Where the Hugging Face hub cache lives (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub)."""
    out = []
    if os.environ.get("HF_HUB_CACHE"):
        out.append(Path(os.environ["HF_HUB_CACHE"]))
    if os.environ.get("HUGGINGFACE_HUB_CACHE"):
        out.append(Path(os.environ["HUGGINGFACE_HUB_CACHE"]))
    home = Path(os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface")
    out.append(home / "hub")
    return out


def resolve(model: str) -> tuple[Path, str]:
    """(directory holding config.json, display name)."""
    path = Path(model).expanduser()
    if path.is_file():
        if path.suffix != ".json":
            raise UsageError(f"{model}: give a model directory, its config.json, or a repo id in the Hugging Face cache")
        return path.parent, path.parent.name or str(path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UsageError(f"{model}: no config.json in this directory")
        return path, path.name
    if _REPO_ID.match(model):
        for cache in hf_cache_dirs():
            repo = cache / ("models--" + model.replace("/", "--"))
            if not repo.is_dir():
                continue
            ref = repo / "refs" / "main"
            snaps = repo / "snapshots"
            candidates = []
            if ref.is_file():
                candidates.append(snaps / ref.read_text().strip())
            if snaps.is_dir():
                candidates.extend(sorted(snaps.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True))
            for snap in candidates:
                if (snap / "config.json").is_file():
                    return snap, model
            raise UsageError(f"{model}: in the Hugging Face cache ({repo}) but without a config.json")
        raise UsageError(f"{model}: no such file or directory, and not in the local Hugging Face cache "
                         f"({', '.join(str(c) for c in hf_cache_dirs())}); nothing is downloaded: "
                         f"huggingface-cli download {model} config.json")
    raise UsageError(f"{model}: no such file or directory")


def read_config(directory: Path, config_path: Path | None = None) -> dict[str, Any]:
    p = config_path or directory / "config.json"
    cfg = load_json(read_file(p, MAX_CONFIG_BYTES, "config.json"), str(p), "config.json")
    if not isinstance(cfg, dict):
        raise UsageError(f"{p}: not a JSON object")
    return validate_config(looks_like_config(cfg, p), p)


# The sizes the planner reads, each bounded: a value outside is refused (exit 2) before any arithmetic or
# per-layer loop.  The upper bounds are far above every public model (the largest: Llama 3.1 405B with
# 126 layers and hidden 16384, DeepSeek-V3 with 256 routed experts, Gemma 3 with a 262144-token
# vocabulary, Llama 4 Scout with a 10M-token context) and keep the per-layer tables and the plan search
# small.  The same table is in docs/memory-planner.md.
MAX_LAYERS = 1024
MAX_WIDTH = 2**20  # hidden, intermediate and head sizes
MAX_HEADS = 2**16
MAX_VOCAB = 2**24
MAX_POSITIONS = 2**30
FIELD_BOUNDS: dict[str, tuple[int, int]] = {
    **dict.fromkeys(("num_hidden_layers", "n_layer", "num_layers"), (1, MAX_LAYERS)),
    **dict.fromkeys(("hidden_size", "n_embd", "d_model"), (1, MAX_WIDTH)),
    **dict.fromkeys(("intermediate_size", "ffn_dim", "n_inner", "ffn_hidden_size", "moe_intermediate_size",
                     "shared_expert_intermediate_size"), (0, MAX_WIDTH)),
    **dict.fromkeys(("num_attention_heads", "n_head", "num_heads", "num_key_value_heads", "num_kv_heads",
                     "n_head_kv"), (1, MAX_HEADS)),
    **dict.fromkeys(("head_dim", "kv_lora_rank", "q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim",
                     "v_head_dim"), (0, MAX_WIDTH)),
    "vocab_size": (1, MAX_VOCAB),
    **dict.fromkeys(("max_position_embeddings", "n_positions", "sliding_window"), (0, MAX_POSITIONS)),
    **dict.fromkeys(("num_local_experts", "num_experts", "n_routed_experts", "num_experts_per_tok",
                     "n_shared_experts"), (0, MAX_HEADS)),
    **dict.fromkeys(("first_k_dense_replace", "num_nextn_predict_layers", "decoder_sparse_step", "moe_layer_freq",
                     "max_window_layers", "sliding_window_pattern"), (0, MAX_LAYERS)),
}
POSITIVE = ("decoder_sparse_step", "moe_layer_freq", "sliding_window_pattern", "num_experts_per_tok")


def validate_config(cfg: dict[str, Any], where: Path) -> dict[str, Any]:
    """``cfg`` when every size the planner reads is a whole number within :data:`FIELD_BOUNDS`, else UsageError.

    NaN, Infinity, 1e300, strings, booleans, negative numbers and zeros where the planner divides are
    refused naming the key; a null value is "not set".  ``text_config`` (multimodal configs) is checked too.
    """
    for table, prefix in ((cfg, ""), (cfg.get("text_config"), "text_config.")):
        if not isinstance(table, dict):
            continue
        for key, (low, high) in FIELD_BOUNDS.items():
            if table.get(key) is not None:
                _bounded(table, key, max(low, 1) if key in POSITIVE else low, high, f"{where}: {prefix}{key}")
        _typed(table, where, prefix)
    return cfg


def _bounded(table: dict[str, Any], key: str, low: int, high: int, where: str) -> None:
    value = table[key]
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if number is None or (isinstance(number, float) and not number.is_integer()):
        shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
        raise UsageError(f"{where} is {shown[:40]}: expected a whole number from {low:,} to {high:,}")
    if not low <= number <= high:
        shown = f"{number:,}" if abs(number) < 10**30 else f"a {len(str(int(abs(number))))}-digit number"
        raise UsageError(f"{where} is {shown}: expected a whole number from {low:,} to {high:,} "
                         f"(see 'Input bounds' in docs/memory-planner.md)")
    table[key] = int(number)


def _typed(table: dict[str, Any], where: Path, prefix: str) -> None:
    """The non-numeric fields the planner reads have the type it reads them as."""
    checks = (("model_type", str, "a string"), ("architectures", list, "a list of strings"),
              ("layer_types", list, "a list of strings"), ("mlp_only_layers", list, "a list of layer numbers"))
    for key, kind, what in checks:
        value = table.get(key)
        if value is None:
            continue
        ok = isinstance(value, kind)
        if ok and key in ("architectures", "layer_types"):
            ok = all(isinstance(v, str) for v in value)
        if ok and key == "mlp_only_layers":
            ok = all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        if not ok:
            raise UsageError(f"{where}: {prefix}{key} must be {what}")


CONFIG_KEYS = ("model_type", "architectures", "text_config")


def looks_like_config(cfg: dict[str, Any], where: Path) -> dict[str, Any]:
    """A Hugging Face config.json names its model_type or architectures; anything else (a wrapper, a
    tokenizer_config.json, a results file) is refused at once, naming what it holds."""
    if any(k in cfg for k in CONFIG_KEYS):
        return cfg
    keys = ", ".join(sorted(cfg)[:6]) + (", ..." if len(cfg) > 6 else "")
    hint = next((f"; it holds one under {k!r}: save that object as config.json" for k in ("config", "model_config")
                 if isinstance(cfg.get(k), dict) and any(c in cfg[k] for c in CONFIG_KEYS)), "")
    raise UsageError(f"{where}: not a model config.json (no model_type or architectures; its keys: "
                     f"{keys or 'none'}){hint}")


def read_safetensors_header(path: Path) -> list[TensorInfo]:
    """Tensor names, dtypes and shapes from one file's header; refuses absurd or broken headers."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise UsageError(f"{path.name}: too short for a safetensors file")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES or n > size - 8:
                raise UsageError(f"{path.name}: safetensors header claims {n:,} bytes "
                                 f"(file is {size:,} bytes, limit {MAX_HEADER_BYTES:,}); refusing a corrupt or hostile file")
            raw = fh.read(n)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    header = load_json(raw, path.name, "safetensors header")
    if not isinstance(header, dict):
        raise UsageError(f"{path.name}: safetensors header is not a JSON object")
    out = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not isinstance(info.get("shape"), list) or not isinstance(info.get("dtype"), str) \
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in info["shape"]):
            raise UsageError(f"{path.name}: tensor {name[:80]!r} has no valid dtype/shape in the header")
        if len(info["shape"]) > 16 or math.prod(info["shape"]) > MAX_TENSOR_ELEMENTS:
            raise UsageError(f"{path.name}: tensor {name[:80]!r} claims a shape of more than {MAX_TENSOR_ELEMENTS:,} "
                             f"elements or 16 dimensions; refusing a corrupt or hostile header")
        out.append(TensorInfo(name, info["dtype"], tuple(info["shape"])))
    return out


def safetensors_files(directory: Path) -> list[Path]:
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        data = load_json(read_file(index, MAX_HEADER_BYTES, "safetensors index"), str(index), "safetensors index")
        weight_map = data.get("weight_map") if isinstance(data, dict) else None
        if not isinstance(weight_map, dict) or not all(isinstance(f, str) for f in weight_map.values()):
            raise UsageError(f"{index}: not a valid safetensors index (needs a weight_map of file names)")
        files = sorted(set(weight_map.values()))
        if any(Path(f).is_absolute() or ".." in Path(f).parts for f in files):
            raise UsageError(f"{index}: a weight_map names a file outside the model directory")
        paths = [directory / f for f in files]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            return []  # a config-only download: fall back to the analytic count
        return paths
    return sorted(directory.glob("*.safetensors"))


def load_model_spec(model: str) -> ModelSpec:
    """The ModelSpec for MODEL: exact counts from safetensors headers when present, else analytic."""
    path = Path(model).expanduser()
    directory, name = resolve(model)
    cfg = read_config(directory, path if path.is_file() else None)
    files = safetensors_files(directory)
    tensors: list[TensorInfo] = []
    for f in files:
        tensors.extend(read_safetensors_header(f))
    try:
        spec = spec_from_config(cfg, name)
    except UsageError as exc:
        if not str(exc).startswith("unknown architecture"):
            raise  # a missing key of a known family: say which
        if tensors:
            return generic_spec(cfg, tensors, name, "safetensors headers (exact)")
        from .meta_count import meta_tensors

        try:
            found = meta_tensors(dict(cfg))
        except UsageError as meta_exc:
            raise UsageError(f"{str(exc).split(': llmdoctor counts')[0]}: not modelled by llmdoctor, and {meta_exc}") from None
        if found is None:  # transformers not installed
            raise
        infos = [TensorInfo(n, d, tuple(s)) for n, d, s in found]
        return generic_spec(cfg, infos, name, "transformers meta-device instantiation (exact)")
    return spec_with_tensors(spec, tensors) if tensors else spec
