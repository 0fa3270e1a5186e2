"""Engine accounting (vLLM, SGLang) against public start-up logs and the engines' own rules."""

from __future__ import annotations

import functools
import importlib.util
import json
import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from llmdoctor.engine import UsageError
from llmdoctor.memory.engines import (EngineOptions, GiB, engine_plan, kv_bytes_per_token, sglang_plan,
                                      stage_layers, stage_weights, vllm_defaults, vllm_plan)


ROOT = Path(__file__).resolve().parents[2]


def spec(name):
    return bench().spec_of(name)


@functools.lru_cache(maxsize=1)
def bench():
    s = importlib.util.spec_from_file_location("memory_accuracy", ROOT / "bench" / "memory_accuracy.py")
    mod = importlib.util.module_from_spec(s)
    s.loader.exec_module(mod)
    return mod


def ratios(term):
    return [p / m for _, t, p, m in bench().comparisons() if t == term]


# --------------------------------------------------------------------------- against public logs (issue targets)


def test_figures_are_sourced_and_quoted():
    figs = bench().load_figures()
    assert len(figs) >= 40 and len({f["id"] for f in figs}) == len(figs)
    for f in figs:
        assert f["source"].startswith("https://github.com/") and f["quote"] and f["measured"]
        if f.get("config"):
            assert bench().spec_of(f["config"]).params > 0, f["id"]


def test_every_file_says_which_figures_fitted_a_constant():
    ids = {f["id"] for f in bench().load_figures()}
    for path in (ROOT / "tests" / "data" / "memory_figures").glob("*.json"):
        doc = json.loads(path.read_text())
        if "figures" in doc:
            fitted = set(doc["fitting"]) - {"note"}
            assert fitted <= ids, fitted - ids


def test_kv_tokens_within_targets():
    r = ratios("kv_tokens") + ratios("kv_tokens_from_memory")
    assert len(r) >= 6
    assert 0.9 <= statistics.median(r) <= 1.1
    assert all(0.75 <= x <= 1.25 for x in r), r


def test_activation_term_within_targets():
    r = ratios("activations")
    assert len(r) >= 5
    assert 0.8 <= statistics.median(r) <= 1.25
    assert all(0.6 <= x <= 1.6 for x in r), r


def test_weights_within_two_percent():
    r = ratios("weights")
    assert len(r) >= 4 and all(0.98 <= x <= 1.02 for x in r), r


# --------------------------------------------------------------------------- the engines' rules


def test_vllm_defaults_by_gpu_and_version():
    o = EngineOptions()
    assert vllm_defaults("NVIDIA H100 80GB HBM3", 80 * GiB, o, 131072) == (8192, 1024)
    assert vllm_defaults("NVIDIA A100-SXM4-80GB", 80 * GiB, o, 131072) == (2048, 256)  # A100 excluded
    assert vllm_defaults("NVIDIA GeForce RTX 4090", 24 * GiB, o, 131072) == (2048, 256)
    v0 = replace(o, version=(0, 6))
    assert vllm_defaults("H100", 80 * GiB, v0, 8192) == (8192, 256)  # V0 prefills the whole prompt
    assert vllm_defaults("H100", 80 * GiB, v0, 131072) == (2048, 256)  # chunked prefill above 32k


def test_activations_do_not_shrink_with_tp():
    """Measured: Llama-3.1-8B 1.89 GiB at TP 1, 2 and 4 (the sampler's logits are whole on every rank)."""
    s = spec("llama-3.1-8b")
    acts = [vllm_plan(s, "H100", 80 * GiB, EngineOptions(tp=tp)).terms["activations"] for tp in (1, 2, 4)]
    assert acts[0] == acts[1] == acts[2]
    assert 0.8 <= acts[0] / (1.89 * GiB) <= 1.25


def test_mla_kv_replicated_on_every_tp_rank():
    s = spec("deepseek-v3")
    layers = stage_layers(s, 1)[0]
    one, eight = kv_bytes_per_token(s, layers, 1, 2), kv_bytes_per_token(s, layers, 8, 2)
    assert one == eight == 61 * (512 + 64) * 2


def test_kv_heads_fewer_than_tp_are_replicated():
    s = spec("llama-3.1-8b")  # 8 KV heads
    layers = stage_layers(s, 1)[0]
    full = kv_bytes_per_token(s, layers, 1, 2)
    assert kv_bytes_per_token(s, layers, 8, 2) == full / 8
    assert kv_bytes_per_token(s, layers, 16, 2) == full / 8  # one head per rank, not half a head


def test_pipeline_stages_split_layers_with_embedding_first_and_head_last():
    s = spec("llama-3.1-8b")
    stages = stage_layers(s, 2)
    assert [len(x) for x in stages] == [16, 16]
    first = stage_weights(s, stages[0], True, False, 1, 2.0)
    last = stage_weights(s, stages[1], False, True, 1, 2.0)
    assert first - sum(s.layer_params[i] for i in stages[0]) * 2 == s.embed_params * 2
    assert last - sum(s.layer_params[i] for i in stages[1]) * 2 >= s.head_params * 2
    with pytest.raises(UsageError):
        stage_layers(s, 33)
    # vLLM get_pp_indices gives the remainder to the stages before the last: 27 layers over 2 -> 14 + 13
    assert [len(x) for x in stage_layers(spec("deepseek-v2-lite"), 2)] == [14, 13]


def test_moe_activations_are_the_fused_moe_workspace():
    s = spec("qwen3-30b-a3b")  # 8 of 128 experts of 768: the workspace is top_k x tokens x (3 x 768 + hidden)
    p = vllm_plan(s, "H100", 80 * GiB, EngineOptions(max_num_seqs=1))
    per_token = 2 * (2 * s.hidden + 8 * (3 * 768 + s.hidden))
    assert p.terms["activations"] == pytest.approx(8192 * per_token * 1.07, rel=0.01)


def test_vllm_prints_the_engine_lines_and_refuses_too_long_context():
    s = spec("llama-3.1-8b")
    p = vllm_plan(s, "RTX 4090", 24 * GiB, EngineOptions())
    assert any(line.startswith("GPU KV cache size: ") and line.endswith(" tokens") for line in p.lines)
    assert any("Maximum concurrency for 131,072 tokens per request:" in line for line in p.lines)
    assert not p.fits and "larger than the maximum number of tokens" in p.problems[0]
    ok = vllm_plan(s, "RTX 4090", 24 * GiB, EngineOptions(max_model_len=8192))
    assert ok.fits and ok.kv_tokens % 16 == 0


def test_engine_refuses_context_beyond_max_position():
    p = engine_plan(spec("llama-2-7b"), "H100", 80 * GiB, EngineOptions(max_model_len=32768))
    assert not p.fits and any("max_position_embeddings 4,096" in x for x in p.problems)


def test_sglang_pool_formula():
    s = spec("llama-3.1-8b")
    p = sglang_plan(s, 80 * GiB, EngineOptions(engine="sglang", mem_fraction_static=0.9))
    free_before = 80 * GiB - 1.0 * GiB
    cell = 32 * 8 * 128 * 2 * 2
    assert p.kv_tokens == int((free_before * 0.9 - p.terms["weights"]) // cell)
    assert p.lines[-1].startswith(f"KV Cache is allocated. #tokens: {p.kv_tokens}, K size: ")


def test_kv_cache_dtype_fp8_doubles_the_tokens():
    s = spec("qwen2.5-7b-instruct")
    a = vllm_plan(s, "H100", 80 * GiB, EngineOptions(max_model_len=32768))
    b = vllm_plan(s, "H100", 80 * GiB, EngineOptions(max_model_len=32768, kv_cache_dtype="fp8"))
    assert abs(b.kv_tokens / a.kv_tokens - 2) < 0.01


def test_enforce_eager_drops_cuda_graphs():
    s = spec("llama-3.1-8b")
    assert vllm_plan(s, "H100", 80 * GiB, EngineOptions()).terms["cuda_graphs"] > 0
    assert vllm_plan(s, "H100", 80 * GiB, EngineOptions(enforce_eager=True)).terms["cuda_graphs"] == 0


def test_engine_options_validate():
    for bad in (dict(engine="tgi"), dict(gpu_memory_utilization=1.5), dict(kv_cache_dtype="int3"), dict(tp=0),
                dict(max_model_len=0)):
        with pytest.raises(UsageError):
            EngineOptions(**bad).validate()


def test_engine_remedies_are_checked_with_the_same_accounting():
    from llmdoctor.memory.engines import engine_remedies

    s = spec("llama-3.1-8b")
    o = EngineOptions()
    rems = engine_remedies(s, "RTX 4090", 24 * GiB, o)
    assert rems and rems[0].startswith("--max-model-len ")
    n = int(rems[0].split()[1].rstrip(":"))
    assert vllm_plan(s, "RTX 4090", 24 * GiB, replace(o, max_model_len=n)).fits
    assert any(r.startswith("--tp 2") for r in rems)
    assert engine_remedies(s, "RTX 4090", 24 * GiB, replace(o, max_model_len=8192)) == []


# --------------------------------------------------------------------------- issue 14, second pass


def test_v1_sampler_is_slimmer_from_0_17():
    """llm-d-planner report: Qwen3-14B 5.64 GiB at 0.16, 2.23 GiB at 0.17 (same model, GPU and flags)."""
    s = spec("qwen3-14b")
    old, new = (vllm_plan(s, "H100", 80 * GiB, EngineOptions(max_model_len=8192, version=v)).terms["activations"]
                for v in ((0, 16), (0, 17)))
    assert old / new > 2


def test_moe_workspace_stays_beside_the_sampler_from_0_10():
    s = spec("qwen3-30b-a3b")
    o = EngineOptions(max_model_len=8192)
    from llmdoctor.memory.engines import moe_workspace, sampler_peak

    act = vllm_plan(s, "H100", 80 * GiB, o).terms["activations"]
    assert act == pytest.approx(sampler_peak(s, o, 8192, 1024, 2) + moe_workspace(s, 8192, 1, 2))
    v09 = replace(o, version=(0, 9))  # before the modular kernel: the workspace is freed after each layer
    before = vllm_plan(s, "H100", 80 * GiB, v09).terms["activations"]
    assert before == pytest.approx(sampler_peak(s, v09, 8192, 1024, 2))


def test_float32_checkpoint_is_served_in_16_bit_unless_asked():
    s = spec("gemma-2-9b")  # torch_dtype float32
    auto = vllm_plan(s, "H100", 80 * GiB, EngineOptions(max_model_len=8192))
    fp32 = vllm_plan(s, "H100", 80 * GiB, EngineOptions(max_model_len=8192, dtype="fp32"))
    assert auto.terms["weights"] == pytest.approx(s.params * 2, rel=1e-6)
    assert fp32.terms["weights"] == pytest.approx(s.params * 4, rel=1e-6)
    assert fp32.settings["kv_bytes_per_token_per_rank"] == 2 * auto.settings["kv_bytes_per_token_per_rank"]


def test_llm_class_takes_bigger_batches_than_vllm_serve():
    o = EngineOptions(usage="llm")
    assert vllm_defaults("H100", 80 * GiB, o, 8192) == (16384, 1024)
    assert vllm_defaults("A100-SXM4-40GB", 40 * GiB, o, 8192) == (8192, 256)


def test_sliding_window_requests_need_only_the_window_from_0_10():
    """Gemma-3: 5 of 6 layers slide over 1024 tokens; the pool prints tokens as if every layer held each token,
    but a request of max_model_len needs the window only on sliding layers (SlidingWindowSpec)."""
    s = spec("gemma-3-12b")
    o = EngineOptions(max_model_len=131072)
    p = vllm_plan(s, "H100", 80 * GiB, o)
    assert p.concurrency > 3 * p.kv_tokens / p.max_model_len
    old = vllm_plan(s, "H100", 80 * GiB, replace(o, version=(0, 9)))
    assert old.concurrency == pytest.approx(old.kv_tokens / old.max_model_len)
    assert f"{p.concurrency:.2f}x" in p.lines[-1]


def _gemma3(layers):
    cfg = json.loads((ROOT / "tests/data/memory_figures/models/gemma-3-12b.json").read_text())["config"]
    cfg["text_config"]["num_hidden_layers"] = layers
    return bench().spec_from_config(cfg, f"gemma-3-{layers}-layers")


@pytest.mark.parametrize("layers,groups,group_size", [(48, 6, 8), (62, 7, 10)])
def test_hybrid_allocator_groups_and_pads_like_vllm(layers, groups, group_size):
    """vllm/v1/core/kv_cache_utils.py: layers of one type are cut into groups of the fewest type's count, the
    last sliding group padded (62 layers: 10 full + 52 sliding -> 7 groups of 10, 70 slots); every slot shares one
    tensor of num_blocks pages, the log prints num_blocks // groups x block_size, and a request takes
    cdiv(max_len, 16) blocks in the full group and cdiv(min(window - 1 + batched, max_len), 16) + 1 in each
    sliding group (SlidingWindowSpec.max_memory_usage_bytes)."""
    s = _gemma3(layers)
    p = vllm_plan(s, "H100", 80 * GiB, EngineOptions(max_model_len=131072))
    page = kv_bytes_per_token(s, [0], 1, 2) * 16
    num_blocks = int(p.terms["kv_cache"] // page // group_size)
    assert p.kv_tokens == num_blocks // groups * 16
    batched = p.settings["max_num_batched_tokens"]
    per_request = -(-131072 // 16) + (groups - 1) * (-(-min(1024 - 1 + batched, 131072) // 16) + 1)
    assert p.concurrency == pytest.approx(num_blocks / per_request)
    every_layer = p.terms["kv_cache"] / kv_bytes_per_token(s, list(range(layers)), 1, 2)
    if groups * group_size == layers:  # no padding: the pool holds what every layer's bytes allow
        assert p.kv_tokens == pytest.approx(every_layer, abs=16 * groups)
    else:  # padding slots take memory too
        assert p.kv_tokens < 0.9 * every_layer


def test_one_full_group_counts_whole_blocks_per_request():
    """Full attention only: concurrency = blocks / cdiv(max_model_len, block_size) (a 1000-token request holds
    63 blocks, not 62.5)."""
    p = vllm_plan(spec("llama-3.1-8b"), "H100", 80 * GiB, EngineOptions(max_model_len=1000))
    assert p.concurrency == pytest.approx((p.kv_tokens // 16) / 63)


def test_expert_parallel_splits_only_the_experts():
    s = spec("deepseek-v3")
    tp8 = vllm_plan(s, "H200", 141 * GiB, EngineOptions(tp=8, max_model_len=8192))
    ep = vllm_plan(s, "H200", 141 * GiB, EngineOptions(tp=1, dp=8, expert_parallel=True, max_model_len=8192))
    dense = (s.params - s.expert_params) * 2
    assert tp8.terms["weights"] == pytest.approx(s.params * 2 / 8, rel=1e-6)
    assert ep.terms["weights"] == pytest.approx(dense + s.expert_params * 2 / 8, rel=1e-6)  # attention whole per rank
    assert ep.settings["enable_expert_parallel"] and ep.settings["data_parallel_size"] == 8


def test_pipeline_stage_terms_are_each_stages_own():
    s = spec("llama-3.1-8b")
    p = vllm_plan(s, "H100", 80 * GiB, EngineOptions(pp=2, max_model_len=8192))
    first, last = p.stages
    assert last["activations"] > first["activations"]  # only the last stage samples
    assert p.kv_tokens == min(first["kv_tokens"], last["kv_tokens"])


def test_sglang_figures_are_compared():
    rows = [r for r in bench().comparisons() if r[0].startswith("sglang-")]
    assert {t for _, t, _, _ in rows} >= {"weights", "kv_tokens"}
    assert all(0.9 <= p / m <= 1.1 for _, _, p, m in rows)
