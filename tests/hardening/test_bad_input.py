"""Bad input is exit 2 with one line on stderr, never exit 3: each hostile input through the real CLI entry."""

from __future__ import annotations

import json
import pickle
import struct
import time

import pytest

from conftest import SCENARIOS, run_cli

SNAPSHOT = '{"schema": "llmdoctor.snapshot/1", '


def assert_usage_error(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stderr.startswith("llmdoctor: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


@pytest.mark.parametrize("body,needle", [
    (SNAPSHOT + '"host": {"ram_total": ' + "1" * 5000 + "}}", "number out of range"),
    (SNAPSHOT + '"host": ' + "[" * 5000 + "]" * 5000 + "}", "nested deeper than 64"),
    (SNAPSHOT + '"x": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}", "nested deeper than 64"),
    (SNAPSHOT + '"host": {"hostname": "\\ud800"}}', "lone surrogate"),
    (SNAPSHOT + '"host": {"ram_total": 1e400}}', "number out of range"),
    (SNAPSHOT + '"host": {"ram_total": NaN}}', "number out of range"),
    (SNAPSHOT + '"host": {"ram_total": -Infinity}}', "number out of range"),
])
@pytest.mark.parametrize("command", [["check", "--from"], ["check", "--json", "--from"], ["diff"], ["env", "--from"],
                                     ["fix", "--from"]])
def test_hostile_snapshot_json(tmp_path, body, needle, command):
    path = tmp_path / "snap.json"
    path.write_text(body)
    args = [*command, str(path)] + ([str(path)] if command == ["diff"] else [])
    assert_usage_error(run_cli(*args), str(path), needle)


def test_hostile_numbers_in_a_dump_are_left_unknown(tmp_path):
    dump = tmp_path / "dump.txt"
    dump.write_text("Num GPUs = " + "9" * 5000 + "\n==((====))==  Unsloth 2024.8: patching\n"
                    "   \\\\   /|    GPU: NVIDIA A100. Max memory: " + "9" * 5000 + " GB. Platform = Linux.\n"
                    "Torch: 2.3.0+cu" + "1" * 5000 + ". CUDA = 8.0. CUDA Toolkit = 12.1.\n")
    start = time.monotonic()
    proc = run_cli("check", "--json", "--from", str(dump))
    assert proc.returncode in (0, 1), proc.stderr
    assert time.monotonic() - start < 20
    gpus = json.loads(proc.stdout)["snapshot"]["gpus"]
    assert all((g.get("memory_total") or 0) < 2**63 for g in gpus or ())


@pytest.mark.parametrize("pyproject,needle", [
    ("tool = 5\n", "'tool' must be a table"),
    ('[tool]\nllmdoctor = "x"\n', "tool.llmdoctor must be a table"),
    ("[tool.llmdoctor]\nselect = 5\n", "select"),
    ("[tool.llmdoctor]\nignore = [1, 2]\n", "ignore"),
    ("[tool.llmdoctor]\nchecks = 5\n", "checks"),
    ('[tool.llmdoctor.checks]\n"nccl.shm" = 5\n', 'checks."nccl.shm"'),
    ("[tool.llmdoctor]\nexpect = 5\n", "expect"),
    ("[tool.llmdoctor]\nfail-on = 5\n", "fail-on"),
    ("[tool.llmdoctor.expect]\ngpu-count = nan\n", "gpu-count"),
    ("[tool.llmdoctor.expect]\ngpu-count = " + "9" * 5000 + "\n", "not a readable TOML file"),
])
@pytest.mark.parametrize("how", ["--config", "discovered"])
def test_wrong_typed_configuration(tmp_path, pyproject, needle, how):
    path = tmp_path / "pyproject.toml"
    path.write_text(pyproject)
    args = ["check", "--from", str(SCENARIOS / "no_gpu.json")]
    proc = run_cli(*args, "--config", str(path)) if how == "--config" else run_cli(*args, cwd=tmp_path)
    if how == "discovered" and "llmdoctor" not in pyproject:  # another tool's pyproject: not ours to judge
        assert proc.returncode == 0 and "config: none" in proc.stdout, proc.stderr
        return
    assert_usage_error(proc, str(path), needle)


LLAMA = {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
         "num_key_value_heads": 8, "vocab_size": 32000, "intermediate_size": 11008, "max_position_embeddings": 4096}


@pytest.mark.parametrize("change,needle", [
    ({"num_attention_heads": 0}, "num_attention_heads is 0"),
    ({"num_key_value_heads": 0}, "num_key_value_heads is 0"),
    ({"hidden_size": float("nan")}, "number out of range"),
    ({"hidden_size": float("inf")}, "number out of range"),
    ({"hidden_size": float("-inf")}, "number out of range"),
    ({"hidden_size": 1e300}, "number out of range"),
    ({"vocab_size": 1e19}, "vocab_size is 1e+19"),
    ({"hidden_size": "4096"}, "hidden_size is '4096'"),
    ({"hidden_size": -4096}, "hidden_size is -4,096"),
    ({"num_hidden_layers": 32.5}, "num_hidden_layers is 32.5"),
    ({"num_hidden_layers": True}, "num_hidden_layers is True"),
    ({"num_hidden_layers": 1e9}, "num_hidden_layers is 1,000,000,000"),
    ({"head_dim": "x"}, "head_dim"),
    ({"sliding_window": "x", "use_sliding_window": True}, "sliding_window"),
    ({"architectures": 5}, "architectures must be a list"),
    ({"layer_types": 5}, "layer_types must be a list"),
    ({"text_config": {"num_hidden_layers": -1}}, "text_config.num_hidden_layers"),
])
@pytest.mark.parametrize("engine", ["transformers", "vllm"])
def test_hostile_config_json(tmp_path, change, needle, engine):
    (tmp_path / "config.json").write_text(json.dumps({**LLAMA, **change}))
    start = time.monotonic()
    proc = run_cli("fit", str(tmp_path), "--gpus", "1xH100-80GB", "--engine", engine)
    assert_usage_error(proc, "config.json", needle)
    assert time.monotonic() - start < 10


def test_the_largest_bounds_still_plan(tmp_path):
    """At the documented bounds (1024 layers) fit answers, in bounded time."""
    from llmdoctor.model_config.loader import MAX_LAYERS

    (tmp_path / "config.json").write_text(json.dumps({**LLAMA, "num_hidden_layers": MAX_LAYERS}))
    start = time.monotonic()
    proc = run_cli("fit", str(tmp_path), "--gpus", "8xH100-80GB", "--json")
    assert proc.returncode in (0, 1), proc.stderr
    assert json.loads(proc.stdout) and time.monotonic() - start < 30


@pytest.mark.parametrize("header,needle", [
    (b'{"w": {"dtype": "F16", "shape": [' + b"9" * 5000 + b"]}}", "number out of range"),
    (b'{"w": {"dtype": "F16", "shape": [' + b",".join([b"99999999"] * 50) + b"]}}", "more than"),
    (b'{"w":' + b"[" * 5000 + b"]" * 5000 + b"}", "nested deeper"),
    (b'{"w": {"dtype": "\\ud800", "shape": [1]}}', "lone surrogate"),
    (b'{"w": {"dtype": "F16", "shape": [NaN]}}', "number out of range"),
])
def test_hostile_safetensors_header(tmp_path, header, needle):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA))
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    assert_usage_error(run_cli("fit", str(tmp_path), "--gpus", "1xH100-80GB"), "model.safetensors", needle)


@pytest.mark.parametrize("weight_map,needle", [({"w": 5}, "weight_map of file names"),
                                               ({"w": "../../etc/passwd"}, "outside the model directory")])
def test_hostile_safetensors_index(tmp_path, weight_map, needle):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA))
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    assert_usage_error(run_cli("fit", str(tmp_path), "--gpus", "1xH100-80GB"), needle)


def _segment(size):
    return {"device": 0, "address": 0, "total_size": size, "segment_type": "large",
            "blocks": [{"size": size, "state": "active_allocated", "address": 0}]}


@pytest.mark.parametrize("size", [10**400, 2**64 + 1, float("inf"), float("-inf"), float("nan")])
@pytest.mark.parametrize("json_", [[], ["--json"]])
def test_memory_analyze_out_of_range_sizes(tmp_path, size, json_):
    path = tmp_path / "snap.pickle"
    path.write_bytes(pickle.dumps({"segments": [_segment(size)], "device_traces": []}, 2))
    assert_usage_error(run_cli("memory", "analyze", *json_, str(path)), str(path), "number out of range")


def test_memory_analyze_blocks_not_a_list(tmp_path):
    path = tmp_path / "snap.pickle"
    path.write_bytes(pickle.dumps({"segments": [{**_segment(100), "blocks": 5}]}, 2))
    proc = run_cli("memory", "analyze", str(path))
    assert proc.returncode == 0 and "segments        1" in proc.stdout, proc.stderr
