"""memory.* checks as pure functions of scenario snapshots."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import load_scenario
from llmdoctor import data
from llmdoctor.engine import Context, load_registry, run_check
from llmdoctor.memory.architectures import spec_from_config
from llmdoctor.memory.plan import Options
from llmdoctor.results import Status
from llmdoctor.snapshot import Torch

from memory.helpers import model_json


def with_env(env: dict, torch_version: str | None = "2.11.0+cu128", os_name: str = "Linux"):
    s = load_scenario("h100x8_healthy")
    t = Torch(installed=True, version=torch_version, cuda="12.8") if torch_version else None
    return dataclasses.replace(s, env=env, torch=t, host=dataclasses.replace(s.host, os=os_name))


def worst(findings):
    return max((f.status for f in findings), key=lambda s: s.severity)


def run(check_id, snap, options=None):
    return run_check(load_registry().get(check_id), snap, Context(options or {}))


def run_alloc(env, **kw):
    return list(run("memory.alloc-conf", with_env(env, **kw)).findings)


class _One:
    """The single finding of memory.fit, as the old direct call returned it."""

    def __new__(cls, result):
        assert len(result.findings) == 1, result
        return result.findings[0]


def check_memory_fit(snap, ctx):
    return _One(run("memory.fit", snap, dict(ctx.options)))


def check_gpu_free(snap, ctx):
    return list(run("memory.gpu-free", snap, dict(ctx.options)).findings)


def test_alloc_conf_unset_passes():
    assert worst(run_alloc({})) is Status.PASS


@pytest.mark.parametrize("value", ["expandable_segments:True", "max_split_size_mb:128,garbage_collection_threshold:0.6",
                                   "roundup_power2_divisions:[256:1,512:2,1024:4,>:8]", "backend:native",
                                   "expandable_segments: True , max_split_size_mb: 512"])
def test_alloc_conf_valid(value):
    assert worst(run_alloc({"PYTORCH_CUDA_ALLOC_CONF": value})) is Status.PASS


@pytest.mark.parametrize("value,needle", [
    ("expandable_segment:True", "did you mean 'expandable_segments'"),
    ("max_split_size_mb:10", "must be >= 20"),
    ("garbage_collection_threshold:1.0", "(0.0, 1.0)"),
    ("garbage_collection_threshold:0", "(0.0, 1.0)"),
    ("expandable_segments:true", "True/False"),
    ("roundup_power2_divisions:3", "power of 2"),
    ("pinned_num_register_threads:6", "power of 2"),
    ("backend:cudaMalloc", "native, cudaMallocAsync"),
])
def test_alloc_conf_bad_values_fail(value, needle):
    f = run_alloc({"PYTORCH_CUDA_ALLOC_CONF": value})
    assert worst(f) is Status.FAIL and any(needle in x.message for x in f)


def test_both_set_and_disagree_warns():
    f = run_alloc({"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True", "PYTORCH_ALLOC_CONF": "max_split_size_mb:256"})
    assert worst(f) is Status.WARN and any("disagree" in x.message for x in f)


def test_both_set_and_agree_passes():
    v = "expandable_segments:True"
    assert worst(run_alloc({"PYTORCH_CUDA_ALLOC_CONF": v, "PYTORCH_ALLOC_CONF": v})) is Status.PASS


def test_torch_29_ignores_generic_expandable():
    f = run_alloc({"PYTORCH_ALLOC_CONF": "expandable_segments:True"}, torch_version="2.9.1+cu128")
    assert any(x.status is Status.WARN and "#183387" in x.message for x in f)
    assert worst(run_alloc({"PYTORCH_ALLOC_CONF": "expandable_segments:True"}, torch_version="2.11.0")) is Status.PASS
    both = run_alloc({"PYTORCH_ALLOC_CONF": "expandable_segments:True", "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"},
                     torch_version="2.9.1")
    assert worst(both) is Status.PASS


def test_old_torch_reads_only_legacy_name():
    f = run_alloc({"PYTORCH_ALLOC_CONF": "expandable_segments:True"}, torch_version="2.4.1+cu121")
    assert any(x.status is Status.WARN and "reads only PYTORCH_CUDA_ALLOC_CONF" in x.message for x in f)


def test_key_newer_than_torch():
    f = run_alloc({"PYTORCH_CUDA_ALLOC_CONF": "per_process_memory_fraction:0.5"}, torch_version="2.4.1")
    assert worst(f) is Status.WARN and any("may reject" in x.message for x in f)


def test_async_backend_ignores_native_options():
    f = run_alloc({"PYTORCH_CUDA_ALLOC_CONF": "backend:cudaMallocAsync,max_split_size_mb:128"})
    assert worst(f) is Status.WARN and any("ignores max_split_size_mb" in x.message for x in f)


def test_windows_expandable_warns():
    f = run_alloc({"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}, os_name="Windows")
    assert worst(f) is Status.WARN


def test_alloc_conf_table_rows_pinned():
    rows = {r["key"]: r for r in data.load("alloc_conf")["options"]}
    assert rows["max_split_size_mb"]["min"] == 20 and rows["garbage_collection_threshold"]["type"] == "float_open01"
    assert rows["expandable_segments"]["type"] == "bool" and all(r["source"] for r in rows.values())
    assert data.load("alloc_conf")["expandable_ignored_in_generic"]["versions"] == ["2.9"]


def test_gpu_free_warns_with_pid_and_name():
    f = list(check_gpu_free(load_scenario("h100x8_busy_gpu0"), Context()))
    bad = [x for x in f if x.status is Status.WARN]
    assert len(bad) == 1 and "pid 4242 python (30.0 GiB)" in bad[0].message and bad[0].subject.startswith("GPU 0")
    assert all(x.status is Status.PASS for x in f if x is not bad[0])
    relaxed = list(check_gpu_free(load_scenario("h100x8_busy_gpu0"), Context({"memory.gpu-free.threshold": 0.5})))
    assert all(x.status is Status.PASS for x in relaxed)


def test_gpu_free_unknown_memory_skips():
    s = load_scenario("h100x8_healthy")
    s = dataclasses.replace(s, gpus=tuple(dataclasses.replace(g, memory_used=None) for g in s.gpus))
    assert all(x.status is Status.UNKNOWN for x in check_gpu_free(s, Context()))


def fit_ctx(name, **opts):
    return Context({"memory.fit.model": spec_from_config(model_json(name)["config"], name),
                    "memory.fit.options": Options(**opts)})


def test_fit_without_model_is_not_applicable():
    assert check_memory_fit(load_scenario("h100x8_healthy"), Context()).status is Status.NOT_APPLICABLE


def test_fit_on_h100x8_passes():
    f = check_memory_fit(load_scenario("h100x8_healthy"), fit_ctx("mixtral-8x7b-v0.1", seq_len=8192))
    assert f.status is Status.PASS and "fits" in f.message


def test_fit_counts_other_processes():
    # Llama-3.1-8B full fine-tune sharded 8 ways fits on idle H100s; not with a 30 GiB zombie... on GPU 0 only if tight
    s = load_scenario("h100x8_busy_gpu0")
    f = check_memory_fit(s, fit_ctx("llama-3.1-8b", mode="full", tp=8, seq_len=4096))
    assert f.status is Status.PASS
    f = check_memory_fit(s, fit_ctx("mixtral-8x7b-v0.1", mode="full", tp=8, seq_len=4096))
    assert f.status is Status.FAIL and "held by other processes" in f.message


def test_case01_rtx3080_laptop_does_not_fit():
    """shared/cases/case_01.txt: Llama-2-7B 8-bit LoRA fine-tuning on an RTX 3080 Laptop GPU (8 GB)."""
    s = load_scenario("case01_rtx3080_laptop_wsl")
    f = check_memory_fit(s, fit_ctx("llama-2-7b", mode="lora", dtype="int8", quant="bnb", seq_len=4096))
    assert f.status is Status.FAIL and "does not fit" in f.message
    assert "QLoRA" in (f.remedy or "") or "context" in (f.remedy or "")


def test_fit_no_gpus_is_not_applicable():
    assert check_memory_fit(load_scenario("no_gpu"), fit_ctx("gpt2")).status is Status.NOT_APPLICABLE


def test_fit_takes_model_path_from_generic_flag(tmp_path):
    """`check --model DIR --seq-len N` routed generically: the settings named by flag (model, seq_len)."""
    from memory.helpers import model_dir

    d = model_dir(tmp_path, "llama-3.1-8b")
    f = check_memory_fit(load_scenario("h100x8_healthy"), Context({"model": str(d), "seq_len": 8192}))
    assert f.status is Status.PASS and "seq 8192" in f.message


def test_fit_context_beyond_max_position_fails():
    f = check_memory_fit(load_scenario("h100x8_healthy"), fit_ctx("llama-2-7b", seq_len=32768))
    assert f.status is Status.FAIL and "max_position_embeddings 4,096" in f.message and "RoPE" in f.message


def test_fit_mig_slice_is_the_budget():
    from llmdoctor.snapshot import MigDevice

    s = load_scenario("h100x8_healthy")
    g = dataclasses.replace(s.gpus[0], mig_mode=True,
                            mig_devices=(MigDevice(0, profile="1g.10gb", memory_total=10 * 2**30, memory_used=0),))
    s = dataclasses.replace(s, gpus=(g,))
    f = check_memory_fit(s, fit_ctx("llama-3.1-8b", seq_len=4096))
    assert f.status is Status.FAIL and "of 10.0 GiB" not in f.message and "10.0 GiB free" in f.message


def test_settings_declare_flags():
    spec = load_registry().get("memory.fit")
    assert {k: v.flag for k, v in spec.settings.items() if v.flag} == {
        "model": "--model", "seq_len": "--seq-len", "batch": "--batch", "mode": "--mode", "dtype": "--dtype"}
