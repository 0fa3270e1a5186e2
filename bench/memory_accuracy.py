"""The planner's engine terms against public start-up logs, side by side, as ratios predicted / measured.

    python bench/memory_accuracy.py            # the ratio table: term, n, median, worst
    python bench/memory_accuracy.py --rows     # every figure

Figures: tests/data/memory_figures/*.json (verbatim quotes, sources, flags); model configs: tests/data/models.
Pure arithmetic: no GPU, no network.
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llmdoctor.memory.architectures import ModelSpec, spec_from_config  # noqa: E402
from llmdoctor.memory.engines import (EngineOptions, GiB, kv_bytes_per_token, parse_version,  # noqa: E402
                                      sglang_plan, stage_layers, vllm_plan)

FIGURES = ROOT / "tests" / "data" / "memory_figures"
MODELS = ROOT / "tests" / "data" / "models"
TERMS = ("weights", "activations", "non_torch", "kv_cache", "kv_tokens", "kv_tokens_from_memory",
         "kv_cache_one_request")


def load_figures() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(FIGURES.glob("*.json")):
        out.extend(json.loads(path.read_text())["figures"])
    return out


def spec_of(name: str) -> ModelSpec:
    return spec_from_config(json.loads((MODELS / f"{name}.json").read_text())["config"], name)


def options_of(fig: dict[str, Any]) -> EngineOptions:
    flags = dict(fig.get("flags", {}))
    version = parse_version(fig["version"]) if fig.get("version") else None
    o = EngineOptions(engine="vllm", **flags)
    return (replace(o, version=version) if version else o).validate()


def _vllm_predictions(fig: dict[str, Any]) -> dict[str, float]:
    spec = spec_of(fig["config"])
    o = options_of(fig)
    total = int((fig.get("gpu_total_gib") or 80.0) * GiB)
    p = vllm_plan(spec, fig.get("gpu", ""), total, o)
    pred = {k: v / GiB for k, v in p.terms.items()}
    pred["kv_tokens"] = float(p.kv_tokens)
    per_token = kv_bytes_per_token(spec, stage_layers(spec, o.pp)[0], o.tp, 2)
    if "kv_cache" in fig["measured"]:  # tokens the engine makes of the memory it measured
        pred["kv_tokens_from_memory"] = float(int(fig["measured"]["kv_cache"] * GiB // (per_token * 16)) * 16)
    pred["kv_cache_one_request"] = per_token * p.max_model_len / GiB
    return pred


def _shape_predictions(fig: dict[str, Any]) -> list[tuple[str, float, float]]:
    """Figures without a stored config: the KV bytes per token from the published shape."""
    s, m = fig["shape"], fig["measured"]
    per_rank = 2 * s["layers"] * max(1, s["kv_heads"] // s["tp"]) * s["head_dim"] * s["kv_bytes"]
    vllm_tokens = int(m["vllm_kv_cache_gib"] * GiB // (per_rank * 16)) * 16
    sglang_tokens = int(2 * m["sglang_k_size_gib"] * GiB // per_rank)
    return [("kv_tokens_from_memory", vllm_tokens, m["kv_tokens_per_kv_gib_vllm"]),
            ("kv_tokens_from_memory", sglang_tokens, m["kv_tokens_sglang"])]


def comparisons() -> list[tuple[str, str, float, float]]:
    """(figure id, term, predicted, measured) for every measured term the planner predicts."""
    rows: list[tuple[str, str, float, float]] = []
    for fig in load_figures():
        if fig.get("config") is None:
            rows += [(fig["id"], t, p, m) for t, p, m in _shape_predictions(fig)]
            continue
        pred = _vllm_predictions(fig)
        measured = dict(fig["measured"])
        if "kv_tokens" in measured and "kv_cache" in measured:
            measured["kv_tokens_from_memory"] = measured["kv_tokens"]
        if fig.get("gpu_total_gib") is None:  # only what does not depend on the GPU's total is comparable
            measured = {k: v for k, v in measured.items() if k in ("weights", "kv_cache_one_request")}
            if "kv_cache" in fig["measured"] and "kv_tokens" in fig["measured"]:
                measured["kv_tokens_from_memory"] = fig["measured"]["kv_tokens"]
        rows += [(fig["id"], t, pred[t], float(v)) for t, v in measured.items() if t in pred]
    return rows


def table(rows: list[tuple[str, str, float, float]]) -> list[tuple[str, int, float, float]]:
    """(term, n, median ratio, worst ratio: the one farthest from 1)."""
    out = []
    for term in TERMS:
        ratios = [p / m for _, t, p, m in rows if t == term and m]
        if ratios:
            worst = max(ratios, key=lambda r: max(r, 1 / r) if r > 0 else float("inf"))
            out.append((term, len(ratios), statistics.median(ratios), worst))
    return out


def main(argv: list[str]) -> int:
    rows = comparisons()
    if "--rows" in argv:
        print(f"{'figure':<44} {'term':<22} {'predicted':>12} {'measured':>12} {'ratio':>6}")
        for fid, term, p, m in rows:
            print(f"{fid:<44} {term:<22} {p:>12.2f} {m:>12.2f} {p / m:>6.2f}")
        print()
    print(f"{'term':<22} {'n':>3} {'median':>7} {'worst':>7}   (predicted / measured)")
    for term, n, med, worst in table(rows):
        print(f"{term:<22} {n:>3} {med:>7.3f} {worst:>7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))


__all__ = ["comparisons", "table", "load_figures", "replace"]
