"""llmdoctor fit / check --model / the in-job API, through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import SCENARIOS, requires_torch, run_cli

from .helpers import model_dir, model_json, write_safetensors


def test_fit_text_bars_and_exit_codes(tmp_path):
    d = model_dir(tmp_path, "llama-3.1-8b")
    ok = run_cli("fit", str(d), "--gpus", "1xH100-80GB", "--seq-len", "8192")
    assert ok.returncode == 0, ok.stderr
    assert "8,030,261,248 parameters" in ok.stdout and "GPU 0" in ok.stdout and "fits" in ok.stdout
    assert "largest context per batch size" in ok.stdout
    bad = run_cli("fit", str(d), "--gpus", "1xRTX4090", "--mode", "full")
    assert bad.returncode == 1 and "DOES NOT FIT" in bad.stdout and "ways to make it fit" in bad.stdout


def test_fit_json(tmp_path):
    d = model_dir(tmp_path, "mixtral-8x7b-v0.1")
    proc = run_cli("fit", str(d / "config.json"), "--gpus", "1xH100-80GB", "--json")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["schema"] == "llmdoctor.fit/1" and out["model"]["params"] == 46_702_792_704
    assert out["plan"]["fits"] is False and out["plan"]["gpus"][0]["terms"]["weights"] > 80 * 2**30
    kinds = [r["kind"] for r in out["remedies"]]
    more = next(r for r in out["remedies"] if r["kind"] == "more-gpus")
    assert more["detail"]["gpus"] == 2 and "max_memory=" in more["text"]
    assert kinds[0] == "quantize-fp8" and "offload" in kinds


def test_fit_exact_from_safetensors_headers(tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    cfg = {"model_type": "llama", "hidden_size": 16, "intermediate_size": 40, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100, "tie_word_embeddings": False}
    (d / "config.json").write_text(json.dumps(cfg))
    t = {"model.embed_tokens.weight": ("BF16", [100, 16]), "lm_head.weight": ("BF16", [100, 16]),
         "model.norm.weight": ("BF16", [16])}
    for i in range(2):
        p = f"model.layers.{i}."
        t.update({p + "self_attn.q_proj.weight": ("BF16", [16, 16]), p + "self_attn.k_proj.weight": ("BF16", [8, 16]),
                  p + "self_attn.v_proj.weight": ("BF16", [8, 16]), p + "self_attn.o_proj.weight": ("BF16", [16, 16]),
                  p + "mlp.gate_proj.weight": ("BF16", [40, 16]), p + "mlp.up_proj.weight": ("BF16", [40, 16]),
                  p + "mlp.down_proj.weight": ("BF16", [16, 40]), p + "input_layernorm.weight": ("BF16", [16]),
                  p + "post_attention_layernorm.weight": ("BF16", [16]),
                  p + "extra.bias": ("F32", [3])})  # something the analytic count does not know
    write_safetensors(d / "model.safetensors", t)
    proc = run_cli("fit", str(d), "--gpus", "1xT4", "--json")
    out = json.loads(proc.stdout)
    assert out["model"]["params_source"] == "safetensors headers (exact)"
    analytic = 2 * 100 * 16 + 16 + 2 * (16 * 16 * 2 + 2 * 8 * 16 + 3 * 16 * 40 + 32)
    assert out["model"]["params"] == analytic + 6


def one_line_exit_2(proc, needle):
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("llmdoctor: error:") and proc.stderr.count("\n") == 1 and needle in proc.stderr
    assert "Traceback" not in proc.stderr


def test_absurd_safetensors_header_refused(tmp_path):
    d = model_dir(tmp_path, "gpt2")
    write_safetensors(d / "model.safetensors", {"wte.weight": ("F32", [4, 4])}, header_len=2**62)
    one_line_exit_2(run_cli("fit", str(d), "--gpus", "T4"), "safetensors header claims")


def test_missing_key_and_unknown_arch(tmp_path):
    cfg = model_json("qwen2.5-7b-instruct")["config"]
    del cfg["intermediate_size"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    one_line_exit_2(run_cli("fit", str(tmp_path), "--gpus", "T4"), "'intermediate_size', which a qwen2 model needs")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "notamodel", "architectures": ["NotAModel"]}))
    one_line_exit_2(run_cli("fit", str(tmp_path), "--gpus", "T4"), "unknown architecture model_type=notamodel")
    (tmp_path / "config.json").write_text("{not json")
    one_line_exit_2(run_cli("fit", str(tmp_path), "--gpus", "T4"), "not valid JSON")


def test_bad_usage(tmp_path):
    d = model_dir(tmp_path, "gpt2")
    one_line_exit_2(run_cli("fit", str(d), "--gpus", "3xH900"), "unknown GPU")
    one_line_exit_2(run_cli("fit", str(d), "--gpus", "T4", "--dtype", "int3"), "--dtype")
    one_line_exit_2(run_cli("fit", str(d), "--gpus", "T4", "--tp", "2"), "--tp 2 needs 2 GPUs")
    one_line_exit_2(run_cli("fit", "no/such-model-here", "--gpus", "T4", env={"HF_HUB_CACHE": str(tmp_path)}),
                    "not in the local Hugging Face cache")


def test_repo_id_from_hf_cache(tmp_path):
    snap = tmp_path / "hub" / "models--Qwen--Qwen2.5-3B-Instruct" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps(model_json("qwen2.5-3b-instruct")["config"]))
    (tmp_path / "hub" / "models--Qwen--Qwen2.5-3B-Instruct" / "refs").mkdir()
    (tmp_path / "hub" / "models--Qwen--Qwen2.5-3B-Instruct" / "refs" / "main").write_text("abc123")
    proc = run_cli("fit", "Qwen/Qwen2.5-3B-Instruct", "--gpus", "T4", "--json", env={"HF_HUB_CACHE": str(tmp_path / "hub")})
    assert json.loads(proc.stdout)["model"]["params"] == 3_085_938_688


def test_gpus_auto_from_snapshot(tmp_path):
    d = model_dir(tmp_path, "llama-2-7b")
    proc = run_cli("fit", str(d), "--from", str(SCENARIOS / "case01_rtx3080_laptop_wsl.json"), "--json")
    out = json.loads(proc.stdout)
    assert proc.returncode == 1 and out["plan"]["gpus"][0]["name"] == "NVIDIA GeForce RTX 3080 Laptop GPU"
    assert any(r["kind"] == "quantize-nf4" for r in out["remedies"])


def test_check_model_adds_memory_fit_case01(tmp_path):
    d = model_dir(tmp_path, "llama-2-7b")
    proc = run_cli("check", "--from", str(SCENARIOS / "case01_rtx3080_laptop_wsl.json"), "--model", str(d),
                   "--mode", "lora", "--dtype", "int8", "--select", "memory", "--json")
    report = json.loads(proc.stdout)
    st = {c["id"]: c["status"] for c in report["checks"]}
    assert st["memory.fit"] == "fail" and proc.returncode == 1
    proc = run_cli("check", "--from", str(SCENARIOS / "h100x8_healthy.json"), "--select", "memory.fit", "--json")
    assert json.loads(proc.stdout)["checks"][0]["status"] == "not_applicable"


def test_explain_lists_formulas():
    proc = run_cli("fit", "x", "--explain")
    assert proc.returncode == 0 and "Korthikanti" in proc.stdout and "QLoRA" in proc.stdout


def test_cli_never_imports_torch():
    code = ("import sys, llmdoctor.cli.app, llmdoctor.cli.fit, llmdoctor.cli.memory_cmd, llmdoctor.memory, "
            "llmdoctor.memory.plan, llmdoctor.memory.analyze, llmdoctor.checks.memory; print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


@requires_torch
def test_injob_api_without_cuda():
    code = ("import io, torch\nfrom llmdoctor import memory\nbuf = io.StringIO()\nassert memory.report(file=buf) == {}\n"
            "print(buf.getvalue().strip())\n"
            "try:\n    with memory.watch('x.pickle', file=buf):\n        raise ValueError('boom')\n"
            "except ValueError as e:\n    print('reraised', e)\n")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=120)
    assert "CUDA is not available" in out.stdout and "reraised boom" in out.stdout, out.stderr


def test_gpus_auto_reads_nvml_with_other_processes(tmp_path):
    """--gpus auto goes through the real NVML probe (fake backend): memory other processes hold counts."""
    fake = tmp_path / "nvml.json"
    fake.write_text(json.dumps({"driver": "550.54.15", "cuda_driver_version": 12040, "nvml_version": "12.550.54.15",
                                "gpus": [{"name": "NVIDIA GeForce RTX 4090", "uuid": "GPU-1", "pci_bus_id": "00000000:01:00.0",
                                          "cc": [8, 9], "memory_total": 24564 * 2**20, "memory_used": 12 * 2**30,
                                          "processes": [{"pid": 4242, "name": "jupyter", "used_memory": 12 * 2**30}],
                                          "mig": False, "persistence": True}]}))
    d = model_dir(tmp_path, "llama-3.1-8b")
    env = {"LLMDOCTOR_FAKE_NVML": str(fake)}
    proc = run_cli("fit", str(d), "--seq-len", "2048", "--json", env=env)
    out = json.loads(proc.stdout)
    assert proc.returncode == 1 and out["plan"]["gpus"][0]["terms"]["others"] == 12 * 2**30
    assert out["remedies"] and any(r["kind"] == "free-gpu-memory" for r in out["remedies"])
    text = run_cli("fit", str(d), "--seq-len", "2048", env=env).stdout
    assert "X" in text.split("GPU 0", 1)[1].splitlines()[0]  # the other processes' share is drawn


def test_rich_bars_use_colour_markup():
    from llmdoctor.memory.architectures import spec_from_config
    from llmdoctor.memory.plan import GpuBudget, Options, plan
    from llmdoctor.memory.render import render

    s = spec_from_config(model_json("gpt2")["config"], "gpt2")
    text = render(plan(s, [GpuBudget("GPU 0", "T4", 15 * 2**30)], Options()), [], [], color=True)
    assert "[blue]W" in text and "[green]fits[/]" in text


def test_explain_memory_fit():
    proc = run_cli("explain", "memory.fit")
    assert proc.returncode == 0 and "device_map" in proc.stdout


# --------------------------------------------------------------------------- issue 14 §4: input and output defects


def test_gpus_decimal_gb_and_gib_mean_what_they_say():
    from llmdoctor import data
    from llmdoctor.memory.plan import parse_gpu_spec

    table = data.load("gpu_memory")["gpus"]
    assert parse_gpu_spec("75.23GB", table)[0].total == int(75.23e9)  # not 7523 GiB
    assert parse_gpu_spec("75.23GiB", table)[0].total == int(75.23 * 2**30)
    assert parse_gpu_spec("2x24GB", table)[1].total == 24 * 10**9
    assert parse_gpu_spec("24 GiB", table)[0].total == 24 * 2**30


def test_fit_tp_that_does_not_fit_prints_alternatives_and_exits_1(tmp_path):
    d = model_dir(tmp_path, "llama-3-70b")
    proc = run_cli("fit", str(d), "--gpus", "2xRTX4090", "--tp", "2")
    assert proc.returncode == 1, proc.stderr
    assert "DOES NOT FIT" in proc.stdout and "ways to make it fit" in proc.stdout
    assert "needs 2 GPUs" not in proc.stdout + proc.stderr
    assert run_cli("fit", str(d), "--gpus", "1xH100", "--tp", "2").returncode == 2  # a real usage error stays 2


def test_fit_context_beyond_max_position_is_refused(tmp_path):
    d = model_dir(tmp_path, "llama-2-7b")  # max_position_embeddings 4096
    proc = run_cli("fit", str(d), "--gpus", "1xH100-80GB", "--seq-len", "32768")
    assert proc.returncode == 1 and "FITS" not in proc.stdout.replace("DOES NOT FIT", "")
    assert "max_position_embeddings 4,096" in proc.stdout and "RoPE scaling" in proc.stdout
    eng = run_cli("fit", str(d), "--gpus", "1xH100-80GB", "--engine", "vllm", "--max-model-len", "32768")
    assert eng.returncode == 1 and "max_position_embeddings" in eng.stdout


def test_fit_offload_folder_must_exist(tmp_path):
    d = model_dir(tmp_path, "llama-3.1-8b")
    proc = run_cli("fit", str(d), "--gpus", "1xRTX4090", "--offload-folder", str(tmp_path / "nonexistent"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "no such directory" in proc.stderr


def test_wrapper_json_fails_fast_on_one_line():
    import time

    start = time.monotonic()
    proc = run_cli("fit", str(model_json.__globals__["MODELS"] / "llama-3.1-8b.json"), "--gpus", "1xH100")
    assert time.monotonic() - start < 3.5
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "not a model config.json" in proc.stderr and "KeyError" not in proc.stderr


def test_mig_slice_is_the_budget(tmp_path):
    from llmdoctor.cli.fit import _budgets_of
    from llmdoctor.snapshot import Gpu, MigDevice

    g = Gpu(0, name="NVIDIA A100-SXM4-80GB", memory_total=80 * 2**30, mig_mode=True,
            mig_devices=(MigDevice(0, profile="1g.10gb", memory_total=9728 * 2**20, memory_used=0),))
    budgets = _budgets_of(g)
    assert [b.total for b in budgets] == [9728 * 2**20] and "1g.10gb" in budgets[0].name


def test_two_gpus_without_tp_says_the_second_is_unused(tmp_path):
    d = model_dir(tmp_path, "llama-3.1-8b")
    proc = run_cli("fit", str(d), "--gpus", "2xRTX4090", "--seq-len", "4096")
    assert proc.returncode == 0 and "unused: GPU 1" in proc.stdout and "--tp 2" in proc.stdout
    eng = run_cli("fit", str(d), "--gpus", "2xRTX4090", "--engine", "vllm", "--max-model-len", "8192")
    assert "unused: GPU 1" in eng.stdout


def test_gpu_names_people_type_have_memory_with_source():
    from llmdoctor import data
    from llmdoctor.memory.plan import parse_gpu_spec

    table = data.load("gpu_memory")["gpus"]
    expect = {"RTX3060": 12, "RTX3070": 8, "RTX3080": 10, "RTX3090": 24, "RTX4060": 8, "RTX4070": 12, "RTX4080": 16,
              "RTX5090": 32, "A5000": 24, "A6000": 48, "L4": 24, "L20": 48, "L40": 48, "L40S": 48, "H20": 96,
              "H800": 80, "H200": 140.4, "B200": 180, "GB200": 186, "T4": 15, "V100": 16, "A10": 24, "A10G": 24,
              "A100-40GB-PCIE": 40, "A100-40GB-SXM": 40, "A100-80GB-PCIE": 80, "A100-80GB-SXM": 80, "H100": 79.6}
    for name, gib in expect.items():
        g = parse_gpu_spec(name, table)[0]
        assert abs(g.total / 2**30 - gib) < 0.1, (name, g.total / 2**30)
    assert all(r["source"] for r in table)


def test_gpus_auto_with_hanging_nvml_is_time_boxed(tmp_path, monkeypatch):
    import time

    from llmdoctor.cli import fit

    assert fit.NVML_TIMEOUT_S < 20  # the shipped box, well inside the scenario's 30 s hang
    monkeypatch.setattr(fit, "NVML_TIMEOUT_S", 1.0)  # the same box, a second long: the suite waits less
    d = model_dir(tmp_path, "llama-3.1-8b")
    start = time.monotonic()
    proc = run_cli("fit", str(d), env={"LLMDOCTOR_FAKE_NVML": str(SCENARIOS.parent / "nvml" / "hang_on_count.json")})
    assert time.monotonic() - start < 20  # the scenario hangs 30 s
    assert proc.returncode == 2 and "--gpus" in proc.stderr


def test_dtype_aliases_case_insensitive(tmp_path):
    d = model_dir(tmp_path, "llama-3.1-8b")
    for alias in ("bfloat16", "BF16", "float16", "FP16"):
        proc = run_cli("fit", str(d), "--gpus", "1xH100", "--dtype", alias, "--json")
        assert proc.returncode == 0, (alias, proc.stderr)


def test_text_at_80_columns_never_cuts_a_word(tmp_path):
    import re

    d = model_dir(tmp_path, "llama-3-70b")
    proc = run_cli("fit", str(d), "--gpus", "2xRTX4090", env={"COLUMNS": "80"})
    lines = proc.stdout.splitlines()
    assert lines and all(len(line) <= 80 for line in lines), max(lines, key=len)
    words = set(re.findall(r"[A-Za-z]+", (MODELS_TEXT := " ".join(lines))))
    assert "layer" not in words or "layers" in MODELS_TEXT  # "80 layer⏎s" would leave a lone "s"
    assert not any(line.strip() in ("s", "GiB", "fits") for line in lines)


def test_lora_batch2_4096_llama31_8b_on_80gb_does_not_fit(tmp_path):
    """A measured LoRA job (batch 2 x 4096, Llama-3.1-8B, 80 GB GPU) ran out of memory; the 128k vocabulary's loss
    (fp32 upcast, log-softmax and its gradient: 20 bytes per logit element) decides it."""
    d = model_dir(tmp_path, "llama-3.1-8b")
    proc = run_cli("fit", str(d), "--gpus", "1xH100-80GB", "--mode", "lora", "--batch", "2", "--seq-len", "4096",
                   "--no-grad-ckpt", "--json")
    out = json.loads(proc.stdout)
    assert proc.returncode == 1 and out["plan"]["fits"] is False


def test_zero3_shards_full_finetune_over_gpus(tmp_path):
    d = model_dir(tmp_path, "llama-3.1-8b")
    one = json.loads(run_cli("fit", str(d), "--gpus", "8xH100", "--mode", "full", "--json").stdout)
    z3 = json.loads(run_cli("fit", str(d), "--gpus", "8xH100", "--mode", "full", "--zero", "3", "--json").stdout)
    t1, t3 = one["plan"]["gpus"][0]["terms"], z3["plan"]["gpus"][0]["terms"]
    assert t3["optimizer"] * 8 == pytest.approx(t1["optimizer"]) and t3["weights"] * 8 == pytest.approx(t1["weights"])
    assert t3["activations"] == t1["activations"]  # each GPU its own micro-batch
    off = json.loads(run_cli("fit", str(d), "--gpus", "8xH100", "--mode", "full", "--zero", "3",
                             "--offload-optimizer", "--json").stdout)
    assert off["plan"]["gpus"][0]["terms"]["optimizer"] == 0


def test_fit_json_carries_engine_terms_by_name(tmp_path):
    d = model_dir(tmp_path, "llama-3.1-8b")
    for engine, names in (("vllm", {"weights", "activations", "non_torch", "cuda_graphs", "kv_cache"}),
                          ("sglang", {"weights", "kv_cache", "init", "reserved"})):
        proc = run_cli("fit", str(d), "--gpus", "1xH100", "--engine", engine, "--max-model-len", "8192", "--json")
        out = json.loads(proc.stdout)
        assert proc.returncode == 0 and set(out["engine_plan"]["terms"]) == names
        assert out["engine_plan"]["kv_tokens"] > 8192 and out["engine_plan"]["lines"]


def test_fit_engine_explain_prints_assumptions():
    proc = run_cli("fit", "x", "--engine", "vllm", "--explain")
    assert proc.returncode == 0 and "gpu-memory-utilization" in proc.stdout and "0.21" in proc.stdout


def test_fp8_checkpoint_stays_fp8_for_inference_unless_dtype_given(tmp_path):
    d = model_dir(tmp_path, "deepseek-v3")  # quantization_config.quant_method fp8
    auto = json.loads(run_cli("fit", str(d), "--gpus", "8xH200", "--tp", "8", "--json").stdout)
    bf16 = json.loads(run_cli("fit", str(d), "--gpus", "8xH200", "--tp", "8", "--dtype", "bf16", "--json").stdout)
    assert auto["plan"]["options"]["dtype"] == "fp8" and bf16["plan"]["options"]["dtype"] == "bf16"
    assert auto["plan"]["totals"]["weights"] < 0.6 * bf16["plan"]["totals"]["weights"]
