"""Parameter counts: exact against published totals; analytic == enumerated tensors (property)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from llmdoctor.engine import UsageError
from llmdoctor.memory.architectures import TensorInfo, count_tensors, spec_from_config, spec_with_tensors

from .helpers import MODELS

CASES = sorted(p.stem for p in MODELS.glob("*.json"))


def test_at_least_ten_models_with_sources():
    assert len(CASES) >= 10
    for name in CASES:
        d = json.loads((MODELS / f"{name}.json").read_text())
        assert d["config_source"].startswith("https://huggingface.co/") and d["params_source"]


@pytest.mark.parametrize("name", CASES)
def test_exact_published_count(name):
    d = json.loads((MODELS / f"{name}.json").read_text())
    assert spec_from_config(d["config"], name).params == d["params"]


def test_issue_numbers_pinned():
    got = {n: json.loads((MODELS / f"{n}.json").read_text())["params"] for n in
           ("llama-3.1-8b", "mistral-7b-v0.1", "mixtral-8x7b-v0.1")}
    assert got == {"llama-3.1-8b": 8_030_261_248, "mistral-7b-v0.1": 7_241_732_096, "mixtral-8x7b-v0.1": 46_702_792_704}


def hf_llama_tensors(c: dict) -> list[TensorInfo]:
    """The tensors a transformers Llama/Qwen2/Qwen3 checkpoint holds, enumerated by name (independent of arch.py)."""
    H, L, V, I = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"], c["intermediate_size"]
    nh, nkv = c["num_attention_heads"], c["num_key_value_heads"]
    hd = c.get("head_dim") or H // nh
    t = [TensorInfo("model.embed_tokens.weight", "BF16", (V, H)), TensorInfo("model.norm.weight", "BF16", (H,))]
    if not c.get("tie_word_embeddings"):
        t.append(TensorInfo("lm_head.weight", "BF16", (V, H)))
    for i in range(L):
        p = f"model.layers.{i}."
        t += [TensorInfo(p + "self_attn.q_proj.weight", "BF16", (nh * hd, H)),
              TensorInfo(p + "self_attn.k_proj.weight", "BF16", (nkv * hd, H)),
              TensorInfo(p + "self_attn.v_proj.weight", "BF16", (nkv * hd, H)),
              TensorInfo(p + "self_attn.o_proj.weight", "BF16", (H, nh * hd)),
              TensorInfo(p + "mlp.gate_proj.weight", "BF16", (I, H)), TensorInfo(p + "mlp.up_proj.weight", "BF16", (I, H)),
              TensorInfo(p + "mlp.down_proj.weight", "BF16", (H, I)),
              TensorInfo(p + "input_layernorm.weight", "BF16", (H,)),
              TensorInfo(p + "post_attention_layernorm.weight", "BF16", (H,))]
        if c["model_type"] == "qwen2":
            t += [TensorInfo(p + "self_attn.q_proj.bias", "BF16", (nh * hd,)),
                  TensorInfo(p + "self_attn.k_proj.bias", "BF16", (nkv * hd,)),
                  TensorInfo(p + "self_attn.v_proj.bias", "BF16", (nkv * hd,))]
        if c["model_type"] == "qwen3":
            t += [TensorInfo(p + "self_attn.q_norm.weight", "BF16", (hd,)), TensorInfo(p + "self_attn.k_norm.weight", "BF16", (hd,))]
    return t


@settings(max_examples=60, deadline=None)
@given(mt=st.sampled_from(["llama", "mistral", "qwen2", "qwen3"]), heads=st.integers(1, 16), kv_div=st.sampled_from([1, 2, 4]),
       hd=st.sampled_from([8, 16, 64]), L=st.integers(1, 6), V=st.integers(10, 5000), I=st.integers(1, 512),
       tied=st.booleans())
def test_analytic_equals_enumerated_tensors(mt, heads, kv_div, hd, L, V, I, tied):
    nkv = max(heads // kv_div, 1)
    if heads % nkv:
        nkv = heads
    cfg = {"model_type": mt, "hidden_size": heads * hd, "num_hidden_layers": L, "vocab_size": V, "intermediate_size": I,
           "num_attention_heads": heads, "num_key_value_heads": nkv, "tie_word_embeddings": tied}
    if mt == "qwen3":
        cfg["head_dim"] = hd
    tensors = hf_llama_tensors(cfg)
    assert spec_from_config(cfg).params == count_tensors(tensors)["params"]
    exact = spec_with_tensors(spec_from_config(cfg), tensors)
    assert exact.params_source.startswith("safetensors") and sum(exact.layer_params) + exact.embed_params + exact.head_params + cfg["hidden_size"] == exact.params


def test_missing_key_names_key_and_family():
    cfg = dict(json.loads((MODELS / "mixtral-8x7b-v0.1.json").read_text())["config"])
    del cfg["num_local_experts"]
    with pytest.raises(UsageError, match=r"'num_local_experts'.*mixtral"):
        spec_from_config(cfg)


def test_unknown_architecture_says_what_it_needs():
    with pytest.raises(UsageError, match=r"model_type=mamba.*safetensors.*transformers"):
        spec_from_config({"model_type": "mamba", "architectures": ["MambaForCausalLM"]})


def test_bool_is_not_a_number():
    cfg = dict(json.loads((MODELS / "llama-2-7b.json").read_text())["config"])
    cfg["hidden_size"] = True
    with pytest.raises(UsageError, match="hidden_size"):
        spec_from_config(cfg)
