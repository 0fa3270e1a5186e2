"""Resolve MODEL (a directory, a config.json, or a repo id in the local Hugging Face cache) to a ModelSpec.

Reads config.json and only the JSON headers of *.safetensors files (8-byte little-endian length, then
that many bytes of JSON); never the tensors, never the network.  Bad input raises UsageError (one line).
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import Any

from ..engine import UsageError
from ..memory.architectures import ModelSpec, TensorInfo, generic_spec, spec_from_config, spec_with_tensors

MAX_HEADER_BYTES = 100 * 2**20  # the safetensors reference implementation refuses headers above 100 MB
MAX_CONFIG_BYTES = 16 * 2**20
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
    from ..boundedio import require_regular

    if p.exists():
        require_regular(p, "config.json")
    try:
        raw = p.read_bytes()[: MAX_CONFIG_BYTES + 1]
    except OSError as exc:
        raise UsageError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise UsageError(f"{p}: larger than {MAX_CONFIG_BYTES // 2**20} MiB, not a config.json")
    try:
        cfg = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(cfg, dict):
        raise UsageError(f"{p}: not a JSON object")
    return looks_like_config(cfg, p)


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
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UsageError(f"{path.name}: safetensors header is not valid JSON") from None
    if not isinstance(header, dict):
        raise UsageError(f"{path.name}: safetensors header is not a JSON object")
    out = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not isinstance(info.get("shape"), list) or not isinstance(info.get("dtype"), str) \
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in info["shape"]):
            raise UsageError(f"{path.name}: tensor {name!r} has no valid dtype/shape in the header")
        out.append(TensorInfo(name, info["dtype"], tuple(info["shape"])))
    return out


def safetensors_files(directory: Path) -> list[Path]:
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
            files = sorted(set(data["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise UsageError(f"{index}: not a valid safetensors index (needs a weight_map)") from None
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
