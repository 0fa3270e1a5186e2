"""The planner's terms against public measurements, side by side, as ratios predicted / measured.

    python bench/memory_accuracy.py            # the ratio tables: term, n, median, worst (serving, training)
    python bench/memory_accuracy.py --rows     # every figure

Serving figures: tests/data/memory_figures/*.json with "figures" (vLLM / SGLang start-up lines: verbatim quotes,
sources, flags); training points: the files with "training_points" (fine-tuning VRAM tables: verbatim quotes,
sources, the job's settings, fits or OOM).  Model configs: tests/data/models, and tests/data/memory_figures/models
for those only the figures use.  Pure arithmetic: no GPU, no network.
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
from llmdoctor.memory.engines import (EngineOptions, GiB, kv_bytes_per_elem, kv_bytes_per_token,  # noqa: E402
                                      parse_version, sglang_plan, stage_layers, vllm_plan)
from llmdoctor.memory.plan import GpuBudget, Options, plan, weight_bytes  # noqa: E402

FIGURES = ROOT / "tests" / "data" / "memory_figures"
MODELS = ROOT / "tests" / "data" / "models"
TERMS = ("weights", "activations", "non_torch", "kv_cache", "kv_tokens", "kv_tokens_from_memory",
         "kv_cache_one_request")
TRAINING_TERMS = ("peak",)
GB = 10**9


def _load(key: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(FIGURES.glob("*.json")):
        out.extend(json.loads(path.read_text()).get(key, []))
    return out


def load_figures() -> list[dict[str, Any]]:
    return _load("figures")


def load_training_points() -> list[dict[str, Any]]:
    return _load("training_points")


def fitting_ids() -> set[str]:
    """Figures a constant was read from (each file's "fitting"): the others are held out."""
    out: set[str] = set()
    for path in sorted(FIGURES.glob("*.json")):
        out |= set(json.loads(path.read_text()).get("fitting", {})) - {"note"}
    return out


def spec_of(name: str) -> ModelSpec:
    """A config from tests/data/models (parameter counts pinned to published ones) or, for configs only the
    figures use, tests/data/memory_figures/models (shapes from the model's config.json, no pinned count)."""
    path = MODELS / f"{name}.json"
    if not path.is_file():
        path = FIGURES / "models" / f"{name}.json"
    return spec_from_config(json.loads(path.read_text())["config"], name)


def options_of(fig: dict[str, Any]) -> EngineOptions:
    flags = dict(fig.get("flags", {}))
    version = parse_version(fig["version"]) if fig.get("version") else None
    o = EngineOptions(engine=fig.get("engine", "vllm"), **flags)
    return (replace(o, version=version) if version else o).validate()


def _weight_bpp(spec: ModelSpec, fig: dict[str, Any]) -> float | None:
    """Bytes per parameter of a quantized checkpoint (fp8: Linear weights 1 byte, the rest 16-bit)."""
    if not fig.get("weights_dtype"):
        return None
    emb, layers, tail = weight_bytes(spec, Options(dtype=fig["weights_dtype"]))
    return (emb + sum(layers) + tail) / spec.params


def _vllm_predictions(fig: dict[str, Any], spec: ModelSpec, o: EngineOptions) -> dict[str, float]:
    total = int((fig.get("gpu_total_gib") or 80.0) * GiB)
    p = vllm_plan(spec, fig.get("gpu") or "", total, o)
    terms = p.stages[fig["stage"]] if "stage" in fig else {**p.terms, "kv_tokens": float(p.kv_tokens)}
    pred = {k: v / GiB for k, v in terms.items() if k != "kv_tokens"}
    pred["kv_tokens"] = float(terms["kv_tokens"])
    elem = kv_bytes_per_elem(spec, o.kv_cache_dtype, o)
    per_token = kv_bytes_per_token(spec, stage_layers(spec, o.pp)[0], o.tp, elem)
    if "kv_cache" in fig["measured"]:  # tokens the engine makes of the memory it measured
        pred["kv_tokens_from_memory"] = float(int(fig["measured"]["kv_cache"] * GiB // (per_token * 16)) * 16)
    pred["kv_cache_one_request"] = per_token * p.max_model_len / GiB
    return pred


def _sglang_predictions(fig: dict[str, Any], spec: ModelSpec, o: EngineOptions) -> dict[str, float]:
    p = sglang_plan(spec, int(fig["gpu_total_gib"] * GiB), o)
    cell = p.settings["cell_size"]
    pred = {"weights": p.terms["weights"] / GiB, "kv_cache": p.terms["kv_cache"] / GiB, "kv_tokens": float(p.kv_tokens)}
    if "kv_cache" in fig["measured"]:
        pred["kv_tokens_from_memory"] = float(int(fig["measured"]["kv_cache"] * GiB // cell))
    return pred


def _shape_predictions(fig: dict[str, Any]) -> list[tuple[str, float, float]]:
    """Figures without a stored config: the KV bytes per token from the published shape."""
    s, m = fig["shape"], fig["measured"]
    per_rank = 2 * s["layers"] * max(1, s["kv_heads"] // s["tp"]) * s["head_dim"] * s["kv_bytes"]
    vllm_tokens = int(m["vllm_kv_cache_gib"] * GiB // (per_rank * 16)) * 16
    sglang_tokens = int(2 * m["sglang_k_size_gib"] * GiB // per_rank)
    return [("kv_tokens_from_memory", vllm_tokens, m["kv_tokens_per_kv_gib_vllm"]),
            ("kv_tokens_from_memory", sglang_tokens, m["kv_tokens_sglang"])]


def _comparable(fig: dict[str, Any]) -> dict[str, float]:
    measured = dict(fig["measured"])
    if "kv_tokens" in measured and "kv_cache" in measured:
        measured["kv_tokens_from_memory"] = measured["kv_tokens"]
    if fig.get("gpu_total_gib") is None:  # only what does not depend on the GPU's total is comparable
        keep = {k: v for k, v in measured.items() if k in ("weights", "kv_cache_one_request", "kv_tokens_from_memory")}
        return keep
    return measured


def comparisons() -> list[tuple[str, str, float, float]]:
    """(figure id, term, predicted, measured) for every measured serving term the planner predicts."""
    rows: list[tuple[str, str, float, float]] = []
    for fig in load_figures():
        if fig.get("config") is None:
            rows += [(fig["id"], t, p, m) for t, p, m in _shape_predictions(fig)]
            continue
        spec, o = spec_of(fig["config"]), options_of(fig)
        bpp = _weight_bpp(spec, fig)
        o = replace(o, weight_bytes_per_param=bpp) if bpp else o
        if o.engine == "sglang":
            pred = _sglang_predictions(fig, spec, o)
        else:
            pred = _vllm_predictions(fig, spec, o)
        rows += [(fig["id"], t, pred[t], float(v)) for t, v in _comparable(fig).items() if t in pred]
    return rows


# --------------------------------------------------------------------------- training


def training_options(pt: dict[str, Any]) -> Options:
    job = dict(pt["job"])
    if "transformers" in job:
        job["transformers"] = tuple(job["transformers"])
    return Options(**job).validate()


def training_spec(pt: dict[str, Any]) -> ModelSpec:
    spec = spec_of(pt["config"])
    return replace(spec, max_position=pt["max_position"]) if pt.get("max_position") else spec


def training_gpus(pt: dict[str, Any]) -> list[GpuBudget]:
    n = pt.get("gpus", 1)
    return [GpuBudget(f"GPU {i}", pt["gpu"], int(pt["gpu_total_gib"] * GiB)) for i in range(n)]


def training_prediction(pt: dict[str, Any]) -> tuple[float, bool]:
    """(predicted peak of one GPU in bytes, fits) as `llmdoctor fit` plans the job."""
    p = plan(training_spec(pt), training_gpus(pt), training_options(pt))
    return max(g.needed for g in p.gpus), p.fits


def training_comparisons() -> list[tuple[str, str, float, float]]:
    """(point id, 'peak', predicted, measured) in GB for the points that give a number."""
    rows = []
    for pt in load_training_points():
        if pt.get("measured_gb") is not None:
            rows.append((pt["id"], "peak", training_prediction(pt)[0] / GB, float(pt["measured_gb"])))
    return rows


def training_verdicts() -> list[tuple[str, bool, bool]]:
    """(point id, measured fits, predicted fits)."""
    return [(pt["id"], pt["fits"], training_prediction(pt)[1]) for pt in load_training_points()]


# --------------------------------------------------------------------------- tables


def table(rows: list[tuple[str, str, float, float]], terms: tuple[str, ...] = TERMS) -> list[tuple[str, int, float, float]]:
    """(term, n, median ratio, worst ratio: the one farthest from 1)."""
    out = []
    for term in terms:
        ratios = [p / m for _, t, p, m in rows if t == term and m]
        if ratios:
            worst = max(ratios, key=lambda r: max(r, 1 / r) if r > 0 else float("inf"))
            out.append((term, len(ratios), statistics.median(ratios), worst))
    return out


def _print_rows(rows: list[tuple[str, str, float, float]]) -> None:
    print(f"{'figure':<48} {'term':<22} {'predicted':>12} {'measured':>12} {'ratio':>6}")
    for fid, term, p, m in rows:
        print(f"{fid:<48} {term:<22} {p:>12.2f} {m:>12.2f} {p / m:>6.2f}")
    print()


def _print_table(title: str, rows: list[tuple[str, int, float, float]]) -> None:
    print(f"{title:<22} {'n':>3} {'median':>7} {'worst':>7}   (predicted / measured)")
    for term, n, med, worst in rows:
        print(f"{term:<22} {n:>3} {med:>7.3f} {worst:>7.3f}")


def main(argv: list[str]) -> int:
    rows, trows = comparisons(), training_comparisons()
    verdicts = training_verdicts()
    if "--rows" in argv:
        _print_rows(rows + trows)
        for pid, meas, pred in verdicts:
            print(f"{pid:<48} measured {'fits' if meas else 'OOM':<5} predicted {'fits' if pred else 'OOM':<5}"
                  f"{'' if meas == pred else '  WRONG'}")
        print()
    figs, points = load_figures(), load_training_points()
    print(f"serving: {len(figs)} figures ({len(rows)} measured terms)")
    _print_table("term", table(rows))
    fitted = fitting_ids()
    held = [r for r in rows if r[0] not in fitted]
    print(f"held out ({len({r[0] for r in held})} figures not used to fit any constant)")
    _print_table("term", table(held))
    print()
    right = sum(1 for _, m, p in verdicts if m == p)
    print(f"training: {len(points)} points, verdict right on {right}/{len(verdicts)}")
    _print_table("term (GB, one GPU)", table(trows, TRAINING_TERMS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))


__all__ = ["comparisons", "fitting_ids", "table", "load_figures", "load_training_points", "training_comparisons",
           "training_verdicts", "replace"]
