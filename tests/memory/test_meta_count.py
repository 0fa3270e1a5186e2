"""Cross-checks with transformers on the meta device (skipped when transformers is not installed)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from conftest import run_cli
from llmdoctor.memory.architectures import spec_from_config

from .helpers import MODELS

needs_transformers = pytest.mark.skipif(importlib.util.find_spec("transformers") is None,
                                        reason="transformers not installed (pip install transformers)")

SCRIPT = r"""
import json, sys, warnings, math
warnings.filterwarnings("ignore")
import torch, transformers
out = {}
for name, cfg in json.load(sys.stdin).items():
    mt = cfg.pop("model_type")
    with torch.device("meta"):
        m = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.for_model(mt, **cfg))
    out[name] = sum(p.numel() for p in m.parameters())
print(json.dumps(out))
"""


@needs_transformers
def test_analytic_counts_match_transformers_meta_instantiation():
    cfgs = {p.stem: json.loads(p.read_text())["config"] for p in sorted(MODELS.glob("*.json"))}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], input=json.dumps(cfgs), capture_output=True, text=True, timeout=300)
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
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


KV_SCRIPT = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
import transformers, torch
out = {}
for name, cfg in json.load(sys.stdin).items():
    mt = cfg.pop("model_type")
    torch.manual_seed(0)
    m = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.for_model(mt, **cfg)).eval()
    ids = torch.randint(0, cfg["vocab_size"], (2, 37))
    with torch.no_grad():
        pkv = m(ids, use_cache=True).past_key_values
    total = 0
    for layer in pkv.layers:
        total += layer.keys.numel() * layer.keys.element_size() + layer.values.numel() * layer.values.element_size()
    out[name] = total
print(json.dumps(out))
"""


@needs_transformers
def test_kv_cache_formula_matches_transformers_cache():
    """Our KV-cache bytes equal what transformers' DynamicCache holds after a real CPU forward (tiny random models)."""
    from llmdoctor.memory.plan import Options, kv_bytes_per_layer

    tiny = {
        "llama-gqa": {"model_type": "llama", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 3,
                      "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 101},
        "qwen3": {"model_type": "qwen3", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
                  "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 32, "vocab_size": 101},
        "gpt2": {"model_type": "gpt2", "n_embd": 48, "n_layer": 2, "n_head": 4, "n_positions": 64, "vocab_size": 101},
        "gpt_neox": {"model_type": "gpt_neox", "hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "vocab_size": 101},
    }
    proc = subprocess.run([sys.executable, "-c", KV_SCRIPT], input=json.dumps(tiny), capture_output=True, text=True, timeout=300)
    measured = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, cfg in tiny.items():
        ours = sum(kv_bytes_per_layer(spec_from_config(cfg, name), Options(dtype="fp32"), 37, 2))
        assert ours == measured[name], name


@needs_transformers
def test_training_activation_formula_matches_saved_tensors():
    """bench/activation_memory.py: training (saved for backward) and inference (transient peak) within 10%."""
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "bench" / "activation_memory.py"
    # a quarter of the bench's default tokens: the same formulas, a quarter of the CPU time
    proc = subprocess.run([sys.executable, str(bench), "--seq", "256", "--batch", "1"], capture_output=True, text=True,
                          timeout=300)
    ratios = [float(line.split()[-1]) for line in proc.stdout.splitlines() if line[:1].isalpha() and "/" not in line.split()[-1]
              and line.split()[-1].replace(".", "").isdigit()]
    assert len(ratios) == 6, proc.stdout + proc.stderr
    assert all(0.9 <= r <= 1.1 for r in ratios), proc.stdout
