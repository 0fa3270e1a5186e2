"""llmdoctor fit / check --model / the in-job API, through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys

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
    assert json.loads(proc.stdout)["checks"][0]["status"] == "unknown"


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
