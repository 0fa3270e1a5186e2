"""Cross-checks with transformers on the meta device (skipped when transformers is not installed)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from helpers.shared import once_per_run
from llmdoctor.memory.architectures import spec_from_config

from .helpers import MODELS

needs_transformers = pytest.mark.skipif(importlib.util.find_spec("transformers") is None,
                                        reason="transformers not installed (pip install transformers)")

# One interpreter imports torch and transformers (seconds of CPU) for all three cross-checks below: the
# meta-device counts, the KV cache after a real forward, and bench/activation_memory.py (run as __main__
# with its own argv, as `python bench/activation_memory.py ...` would).  Each part's result or traceback is
# kept apart, so each test still passes or fails on its own part alone.
SCRIPT = r"""
import contextlib, io, json, runpy, sys, traceback, warnings
warnings.filterwarnings("ignore")
import torch, transformers
jobs = json.load(sys.stdin)
out = {}

def counts(cfgs):
    res = {}
    for name, cfg in cfgs.items():
        mt = cfg.pop("model_type")
        with torch.device("meta"):
            m = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.for_model(mt, **cfg))
        res[name] = sum(p.numel() for p in m.parameters())
    return res

def kv(cfgs):
    res = {}
    for name, cfg in cfgs.items():
        mt = cfg.pop("model_type")
        torch.manual_seed(0)
        m = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.for_model(mt, **cfg)).eval()
        ids = torch.randint(0, cfg["vocab_size"], (2, 37))
        with torch.no_grad():
            pkv = m(ids, use_cache=True).past_key_values
        total = 0
        for layer in pkv.layers:
            total += layer.keys.numel() * layer.keys.element_size() + layer.values.numel() * layer.values.element_size()
        res[name] = total
    return res

def bench(argv):
    buf = io.StringIO()
    saved, sys.argv = sys.argv, argv
    try:
        with contextlib.redirect_stdout(buf):
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise RuntimeError(f"{argv[0]} exited {exc.code}: {buf.getvalue()}")
    finally:
        sys.argv = saved
    return buf.getvalue()

for part, fn in (("counts", counts), ("kv", kv), ("activation", bench)):
    try:
        out[part] = {"ok": fn(jobs[part])}
    except Exception:
        out[part] = {"error": traceback.format_exc()}
print(json.dumps(out))
"""

# tiny random models for the KV-cache cross-check
TINY = {
    "llama-gqa": {"model_type": "llama", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 3,
                  "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 101},
    "qwen3": {"model_type": "qwen3", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 32, "vocab_size": 101},
    "gpt2": {"model_type": "gpt2", "n_embd": 48, "n_layer": 2, "n_head": 4, "n_positions": 64, "vocab_size": 101},
    "gpt_neox": {"model_type": "gpt_neox", "hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2,
                 "num_attention_heads": 4, "vocab_size": 101},
}
BENCH = Path(__file__).resolve().parents[2] / "bench" / "activation_memory.py"


def model_configs() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text())["config"] for p in sorted(MODELS.glob("*.json"))}


def _run_transformers(folder: Path) -> dict:
    # a quarter of the bench's default tokens: the same formulas, a quarter of the CPU time
    jobs = {"counts": model_configs(), "kv": TINY, "activation": [str(BENCH), "--seq", "256", "--batch", "1"]}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], input=json.dumps(jobs), capture_output=True, text=True,
                          timeout=600)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def transformers_run(tmp_path_factory) -> dict:
    return once_per_run(tmp_path_factory, "transformers-cross-checks", _run_transformers)


def part(run: dict, name: str):
    assert "ok" in run[name], run[name].get("error")
    return run[name]["ok"]


@needs_transformers
def test_analytic_counts_match_transformers_meta_instantiation(transformers_run):
    cfgs = model_configs()
    counts = part(transformers_run, "counts")
    assert sorted(counts) == sorted(cfgs)
    for name, cfg in cfgs.items():
        ours = spec_from_config(cfg, name).params
        if name == "deepseek-v3":
            # transformers keeps e_score_correction_bias as a buffer; the checkpoint stores it (58 MoE layers x 256)
            assert ours - counts[name] == 58 * 256
        else:
            assert ours == counts[name], name


@needs_transformers
def test_unknown_architecture_counted_on_meta_device(tmp_path):
    cfg = {"model_type": "starcoder2", "architectures": ["Starcoder2ForCausalLM"], "vocab_size": 49152, "hidden_size": 3072,
           "intermediate_size": 12288, "num_hidden_layers": 30, "num_attention_heads": 24, "num_key_value_heads": 2,
           "max_position_embeddings": 16384, "sliding_window": 4096, "use_bias": True, "tie_word_embeddings": True}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    out = json.loads(run_cli("fit", str(tmp_path), "--gpus", "L4", "--json").stdout)
    assert out["model"]["params"] == 3_030_371_328  # StarCoder2-3B
    assert out["model"]["params_source"] == "transformers meta-device instantiation (exact)"


def test_unknown_architecture_without_transformers_says_what_it_needs(tmp_path):
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "transformers.py").write_text("raise ImportError('hidden for this test')\n")
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "starcoder2", "hidden_size": 64, "num_hidden_layers": 2,
                                               "num_attention_heads": 4, "vocab_size": 10}))
    proc = run_cli("fit", str(d), "--gpus", "L4", env={"PYTHONPATH": str(hide)})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "unknown architecture model_type=starcoder2" in proc.stderr and "install transformers" in proc.stderr


@needs_transformers
def test_kv_cache_formula_matches_transformers_cache(transformers_run):
    """Our KV-cache bytes equal what transformers' DynamicCache holds after a real CPU forward (tiny random models)."""
    from llmdoctor.memory.plan import Options, kv_bytes_per_layer

    measured = part(transformers_run, "kv")
    assert sorted(measured) == sorted(TINY)
    for name, cfg in TINY.items():
        ours = sum(kv_bytes_per_layer(spec_from_config(cfg, name), Options(dtype="fp32"), 37, 2))
        assert ours == measured[name], name


@needs_transformers
def test_training_activation_formula_matches_saved_tensors(transformers_run):
    """bench/activation_memory.py: training (saved for backward) and inference (transient peak) within 10%."""
    stdout = part(transformers_run, "activation")
    ratios = [float(line.split()[-1]) for line in stdout.splitlines() if line[:1].isalpha() and "/" not in line.split()[-1]
              and line.split()[-1].replace(".", "").isdigit()]
    assert len(ratios) == 6, stdout
    assert all(0.9 <= r <= 1.1 for r in ratios), stdout
