"""The memory terms against hand-computed values, and properties of the planner."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings, strategies as st

from llmdoctor import data
from llmdoctor.engine import UsageError
from llmdoctor.memory.architectures import spec_from_config
from llmdoctor.memory.plan import (GiB, GpuBudget, Options, bytes_per_param, kv_bytes_per_layer, max_seq,
                                   parse_gpu_spec, plan, remedies, training_bytes, weight_bytes)

from .helpers import MODELS


def spec(name):
    return spec_from_config(json.loads((MODELS / f"{name}.json").read_text())["config"], name)


def gpu(gib, used=0, name="GPU"):
    return GpuBudget("GPU 0", name, int(gib * GiB), int(used * GiB))


def test_kv_cache_llama3_8b_gqa():
    # 2 (K,V) x 32 layers x 8 kv heads x 128 dims x 8192 tokens x 2 bytes = 1 GiB
    assert sum(kv_bytes_per_layer(spec("llama-3.1-8b"), Options(), 8192, 1)) == 2 * 32 * 8 * 128 * 8192 * 2 == GiB


def test_kv_cache_sliding_window_caps_mistral():
    s = spec("mistral-7b-v0.1")
    assert sum(kv_bytes_per_layer(s, Options(), 32768, 1)) == sum(kv_bytes_per_layer(s, Options(), 4096, 1))


def test_kv_cache_mla_is_the_latent():
    s = spec("deepseek-v2-lite")
    assert sum(kv_bytes_per_layer(s, Options(), 1000, 2)) == 27 * (512 + 64) * 1000 * 2 * 2


def test_kv_dtype_fp8_halves():
    s = spec("qwen2.5-7b-instruct")
    assert sum(kv_bytes_per_layer(s, Options(kv_dtype="fp8"), 4096, 1)) * 2 == sum(kv_bytes_per_layer(s, Options(), 4096, 1))


def test_bytes_per_param_quantized():
    assert bytes_per_param("nf4") == 0.5 + 1 / 64 + 4 / (64 * 256)  # QLoRA double quant: 0.127 bits of constants
    assert bytes_per_param("nf4", double_quant=False) == 0.5 + 4 / 64
    assert bytes_per_param("int4", "gptq") == 0.5 + 2 / 128 + 0.5 / 128


def test_quantized_embeddings_stay_16bit():
    s = spec("llama-3.1-8b")
    emb, layers, tail = weight_bytes(s, Options(dtype="nf4", quant="bnb"))
    assert emb == s.embed_params * 2 and tail == s.head_params * 2 + s.hidden * 2
    assert sum(layers) < sum(s.layer_params) * 0.6


def test_full_adam_mixed_precision_is_16_bytes_per_param():
    s = spec("llama-3.1-8b")
    grads, opt = training_bytes(s, Options(mode="full"))
    assert s.params * 2 + grads + opt == 16 * s.params  # ZeRO paper 2 + 2 + 12


def test_8bit_adam_and_lora_are_smaller():
    s = spec("llama-3.1-8b")
    assert sum(training_bytes(s, Options(mode="full", optimizer="adam8bit"))) < sum(training_bytes(s, Options(mode="full")))
    g, o = training_bytes(s, Options(mode="lora", lora_r=16))
    # r=16 over q,k,v,o,gate,up,down of 32 layers: 16*32*((4096+4096)+2*(4096+1024)+(4096+4096)+2*(4096+14336)+(14336+4096))
    n = 16 * 32 * (8192 + 2 * 5120 + 8192 + 2 * 18432 + 18432)
    assert g == n * 4 and o == n * 12


def test_llama8b_fits_one_h100_inference_not_full_finetune():
    s = spec("llama-3.1-8b")
    h100 = parse_gpu_spec("1xH100-80GB", data.load("gpu_memory")["gpus"])
    assert plan(s, h100, Options(seq_len=8192)).fits
    assert not plan(s, h100, Options(mode="full")).fits
    assert plan(s, h100, Options(mode="qlora")).fits


def test_others_memory_counts():
    s = spec("llama-3.1-8b")
    assert plan(s, [gpu(24)], Options(seq_len=2048)).fits
    assert not plan(s, [gpu(24, used=8)], Options(seq_len=2048)).fits


def test_device_map_auto_spreads_mixtral_over_two_h100():
    s = spec("mixtral-8x7b-v0.1")
    two = parse_gpu_spec("2xH100-80GB", data.load("gpu_memory")["gpus"])
    p = plan(s, two, Options(seq_len=4096))
    assert p.fits and len(p.gpus) == 2
    placed = [i for g in p.gpus for i in g.layers]
    assert placed == list(range(32))  # every layer once, in order
    assert not plan(s, two[:1], Options()).fits


def test_remedies_for_mixtral_on_one_h100():
    s = spec("mixtral-8x7b-v0.1")
    one = parse_gpu_spec("H100-80GB", data.load("gpu_memory")["gpus"])
    rems = remedies(s, one, Options(), ram_available=512 * GiB)
    kinds = [r.kind for r in rems]
    assert "more-gpus" in kinds and any(k.startswith("quantize") for k in kinds) and "offload" in kinds
    more = next(r for r in rems if r.kind == "more-gpus")
    assert more.detail["gpus"] == 2 and set(more.detail["max_memory"]) == {0, 1}
    assert [r.rank for r in rems] == sorted(r.rank for r in rems)
    for r in rems:
        if r.kind.startswith("quantize"):
            assert plan(s, one, Options(dtype=r.detail["dtype"], quant=r.detail["quant"])).fits


def test_offload_checked_against_ram_and_disk():
    s = spec("mixtral-8x7b-v0.1")
    one = [gpu(24)]
    low = next(r for r in remedies(s, one, Options(), ram_available=8 * GiB, disk_free=4 * GiB) if r.kind == "offload")
    assert not low.fits and "not enough" in low.text
    disk = next(r for r in remedies(s, one, Options(), ram_available=8 * GiB, disk_free=500 * GiB, offload_folder="/x")
                if r.kind == "offload")
    assert disk.fits and "offload_folder" in disk.text


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 8), gib_=st.integers(17, 80))
def test_max_seq_is_the_boundary(batch, gib_):
    s = spec("llama-3.1-8b")
    g = [gpu(gib_)]
    m = max_seq(s, g, Options(), batch)
    if m:
        assert plan(s, g, Options(), seq=m, batch=batch).fits
        if m < s.max_position:
            assert not plan(s, g, Options(), seq=m + 1, batch=batch).fits


@settings(max_examples=30, deadline=None)
@given(seq=st.integers(1, 100000), batch=st.integers(1, 16), mode=st.sampled_from(["inference", "lora", "qlora", "full"]))
def test_more_tokens_never_need_less(seq, batch, mode):
    s = spec("qwen2.5-3b-instruct")
    o = Options(mode=mode)
    a = plan(s, [gpu(1000)], o, seq=seq, batch=batch).gpus[0].needed
    b = plan(s, [gpu(1000)], o, seq=seq + 1, batch=batch).gpus[0].needed
    assert b >= a


def test_gpu_spec_parsing_and_errors():
    table = data.load("gpu_memory")["gpus"]
    g = parse_gpu_spec("8xH100-80GB", table)
    assert len(g) == 8 and g[0].total == 81559 * 2**20
    assert [x.total for x in parse_gpu_spec("2xRTX4090", table)] == [24564 * 2**20] * 2
    assert parse_gpu_spec("2x24GiB", table)[1].total == 24 * GiB
    assert parse_gpu_spec("2x24GB", table)[1].total == 24 * 10**9  # GB means 10**9 bytes
    with pytest.raises(UsageError, match="unknown GPU"):
        parse_gpu_spec("3xH900", table)


def test_gpu_memory_rows_have_sources():
    rows = data.load("gpu_memory")["gpus"]
    assert all(r["source"] and r["memory_bytes"] > 0 for r in rows)
    pinned = {r["aliases"][0]: r["memory_bytes"] for r in rows if r["nvml_verified"]}
    assert pinned["H100-80GB"] == 81559 * 2**20 and pinned["H200"] == 143771 * 2**20 and pinned["T4"] == 15360 * 2**20


def test_bad_options():
    with pytest.raises(UsageError, match="--dtype"):
        Options(dtype="int3").validate()
    with pytest.raises(UsageError, match="--quant gptq needs"):
        Options(dtype="bf16", quant="gptq").validate()
    with pytest.raises(UsageError, match="--tp 4 needs 4"):
        plan(spec("gpt2"), [gpu(10)], Options(tp=4))


def test_fp8_offered_only_on_gpus_with_fp8_tensor_cores():
    s = spec("mixtral-8x7b-v0.1")
    table = data.load("gpu_memory")["gpus"]
    h100 = [r.kind for r in remedies(s, parse_gpu_spec("H100-80GB", table), Options())]
    a100 = [r.kind for r in remedies(s, parse_gpu_spec("A100-80GB", table), Options())]
    assert "quantize-fp8" in h100 and "quantize-fp8" not in a100 and "quantize-int8" in a100


def test_remedies_name_bigger_gpu_kinds_and_unknown_ram():
    s = spec("llama-3-70b")
    rems = remedies(s, parse_gpu_spec("2xRTX4090", data.load("gpu_memory")["gpus"]), Options())
    other = next(r for r in rems if r.kind == "other-gpus-H100-80GB")
    assert other.detail["gpus"] == 2 and "max_memory=" in other.text
    off = next(r for r in rems if r.kind == "offload")
    assert "not known here" in off.text and "not enough" not in off.text


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 4), used=st.integers(0, 40), seq=st.integers(1, 40000), batch=st.integers(1, 8))
def test_device_map_never_overfills_a_gpu(n, used, seq, batch):
    """device_map="auto": a GPU that received layers never needs more than it has (overflow goes elsewhere)."""
    s = spec("mixtral-8x7b-v0.1")
    gpus = [GpuBudget(f"GPU {i}", "H100", 80 * GiB, used * GiB if i == 0 else 0) for i in range(n)]
    p = plan(s, gpus, Options(), seq=seq, batch=batch)
    for g in p.gpus:
        if g.layers and (p.overflow == 0 or len(p.gpus) > 1):
            assert g.needed <= g.gpu.total + 1


def test_moe_inference_activations_use_the_experts_share():
    s = spec("mixtral-8x7b-v0.1")
    from llmdoctor.memory.plan import activation_bytes

    act = activation_bytes(s, Options(), 1000, 1)
    # experts run one at a time on ~2/8 of the tokens: i = 2 x 14336 x 2/8 = 7168 (not 28672)
    assert act == 1000 * (5 * 4096 + 3 * 7168) * 2 + 32000 * 4


# --------------------------------------------------------------------------- training points with public measurements


def _bench():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "memory_accuracy.py"
    spec_ = importlib.util.spec_from_file_location("memory_accuracy", path)
    mod = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(mod)
    return mod


def test_training_points_are_sourced_with_a_verdict():
    pts = _bench().load_training_points()
    assert len(pts) >= 20 and any(not p["fits"] for p in pts)
    for p in pts:
        assert p["source"].startswith("https://") and p["quote"] and isinstance(p["fits"], bool)


def test_training_verdicts_match_the_measurements():
    wrong = [(pid, meas, pred) for pid, meas, pred in _bench().training_verdicts() if meas != pred]
    assert wrong == []


def test_training_peaks_within_tolerance():
    ratios = [p / m for _, _, p, m in _bench().training_comparisons()]
    assert len(ratios) >= 15 and all(0.8 <= r <= 1.25 for r in ratios), ratios


def test_loss_buffers_are_freed_before_checkpoint_recompute():
    """With gradient checkpointing the loss's backward ends before the first layer is recomputed: the peak holds
    the larger of the two, not both; without checkpointing every layer's activations are still held at the loss."""
    s = spec("llama-3.1-8b")
    o = Options(mode="lora", seq_len=8192)
    from llmdoctor.memory.plan import activation_bytes, logits_bytes

    with_ckpt = activation_bytes(s, o, 8192, 1)
    loss = logits_bytes(s, o, 8192, 1)
    inputs = s.layers * 8192 * s.hidden * 2
    assert with_ckpt == pytest.approx(inputs + loss + 8192 * 8 * s.hidden, rel=1e-9)
    no_ckpt = activation_bytes(s, replace(o, grad_ckpt=False), 8192, 1)
    assert no_ckpt > loss + inputs


def test_older_transformers_loss_costs_more_per_logit():
    s = spec("llama-3.1-8b")
    from llmdoctor.memory.plan import logits_bytes

    new = logits_bytes(s, Options(mode="lora"), 4096, 1)
    old = logits_bytes(s, Options(mode="lora", transformers=(4, 40)), 4096, 1)
    assert old / new == pytest.approx(20 / 16)
