"""load.* on real model directories written with the safetensors library and torch.save."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from conftest import run_cli
from llmdoctor.engine import Context, load_registry, run_check
from llmdoctor.probes.storage import probe_model_storage
from llmdoctor.results import Status
from llmdoctor.snapshot import Host, Snapshot

# torch and safetensors are imported by the first test that writes a checkpoint, not at collection: every
# xdist worker collects this module, and `import torch` costs seconds of CPU in each
pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None or importlib.util.find_spec("safetensors") is None,
                                reason="needs torch and safetensors (pip install torch==2.13.0 safetensors)")


def _torch():
    import torch

    return torch


def _save_safetensors(tensors: dict, path: str) -> None:
    import safetensors.torch

    safetensors.torch.save_file(tensors, path)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / "tests" / "data" / "models" / "llama-3.1-8b.json").read_text())["config"]
TINY = {**CONFIG, "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "vocab_size": 4096}


def _tensors() -> dict:
    torch = _torch()
    g = torch.Generator().manual_seed(0)
    return {f"model.layers.{i}.mlp.up_proj.weight": torch.randn(512, 256, generator=g).to(torch.bfloat16) for i in range(8)}


def sharded(tmp_path: Path, shards: int = 2) -> Path:
    d = tmp_path / "model"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(TINY))
    tensors, names = _tensors(), sorted(_tensors())
    weight_map = {}
    for s in range(shards):
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {k: tensors[k] for k in names[s::shards]}
        _save_safetensors(part, str(d / fname))
        weight_map.update({k: fname for k in part})
    (d / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return d


def run(check_id: str, directory: Path, host: Host | None = None, **probe) -> object:
    storage = probe_model_storage(directory, **probe)
    spec = load_registry().get(check_id)
    assert spec is not None
    return run_check(spec, Snapshot(model_storage=storage, host=host), Context())


def test_a_whole_sharded_safetensors_model_passes(tmp_path):
    d = sharded(tmp_path)
    assert run("load.shards", d).status is Status.PASS
    assert run("load.checkpoint-format", d).status is Status.PASS


def test_a_pickle_checkpoint_warns_with_the_conversion_command(tmp_path):
    d = tmp_path / "pickle"
    d.mkdir()
    _torch().save(_tensors(), str(d / "pytorch_model.bin"))
    result = run("load.checkpoint-format", d)
    assert result.status is Status.WARN
    assert "safe_serialization=True" in result.findings[0].remedy.commands[0]


def test_a_truncated_shard_fails_before_the_job(tmp_path):
    d = sharded(tmp_path)
    shard = d / "model-00002-of-00002.safetensors"
    shard.write_bytes(shard.read_bytes()[:-1000])
    result = run("load.shards", d)
    assert result.status is Status.FAIL and "truncated" in result.findings[0].message


def test_an_index_naming_a_missing_shard_fails(tmp_path):
    d = sharded(tmp_path)
    (d / "model-00001-of-00002.safetensors").unlink()
    result = run("load.shards", d)
    assert result.status is Status.FAIL and "model-00001-of-00002.safetensors" in result.findings[0].message


def test_an_index_that_is_not_json_is_one_clear_finding(tmp_path):
    d = sharded(tmp_path)
    (d / "model.safetensors.index.json").write_text("{ not json")
    result = run("load.shards", d)
    assert result.status is Status.FAIL and "not a valid index" in result.findings[0].message


def test_a_directory_without_weights_says_so(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(TINY))
    result = run("load.checkpoint-format", d)
    assert result.status is Status.FAIL and "nothing to load" in result.findings[0].message


def test_a_link_out_of_the_model_directory_is_not_followed(tmp_path):
    d = sharded(tmp_path)
    outside = tmp_path / "elsewhere.safetensors"
    _save_safetensors({"x": _torch().zeros(4)}, str(outside))
    os.symlink(outside, d / "extra.safetensors")
    storage = probe_model_storage(d)
    assert storage.links_outside == ("extra.safetensors",)
    assert all(f.name != "extra.safetensors" for f in storage.files)
    assert run("load.checkpoint-format", d).status is Status.WARN


def test_an_unreadable_weight_file_is_named(tmp_path):
    d = sharded(tmp_path)
    os.mkfifo(d / "broken.safetensors")  # not a regular file: never opened for reading
    result = run("load.checkpoint-format", d)
    assert result.status is Status.FAIL and "broken.safetensors" in result.findings[0].message


def test_weights_on_nfs_warn(tmp_path):
    d = sharded(tmp_path)
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/vda / ext4 rw 0 0\nfiler:/export {tmp_path} nfs4 rw,vers=4.1 0 0\n")
    result = run("load.storage", d, mounts=mounts)
    assert result.status is Status.WARN and "nfs4" in result.findings[0].message


def test_eight_ranks_against_a_cgroup_limit_fail(tmp_path):
    d = sharded(tmp_path)
    cg = tmp_path / "cgroup"
    cg.mkdir()
    shard = max(f.stat().st_size for f in d.glob("*.safetensors"))
    (cg / "memory.max").write_text(str(shard * 4))
    (cg / "memory.current").write_text("0")
    result = run("load.host-memory", d, host=Host(ram_available=2**40), cgroup_root=cg, local_ranks=8)
    assert result.status is Status.FAIL and "cgroup" in result.findings[0].message


def test_one_rank_fits_and_full_copies_warn(tmp_path):
    d = sharded(tmp_path)
    total = sum(f.stat().st_size for f in d.glob("*.safetensors"))
    assert run("load.host-memory", d, host=Host(ram_available=total * 10), cgroup_root=tmp_path / "none").status is Status.PASS
    warned = run("load.host-memory", d, host=Host(ram_available=total * 2), cgroup_root=tmp_path / "none", local_ranks=2)
    assert warned.status is Status.WARN and "low_cpu_mem_usage" in str(warned.findings[0].remedy)


def test_host_memory_without_ram_facts_is_unknown(tmp_path):
    d = sharded(tmp_path)
    assert run("load.host-memory", d, host=None, cgroup_root=tmp_path / "none").status is Status.UNKNOWN


def test_a_slow_load_names_faster_alternatives(tmp_path):
    from dataclasses import replace

    d = sharded(tmp_path)
    storage = replace(probe_model_storage(d), throughput=1e3, storage_class="network", local_ranks=8,
                      copy_rate=1e9)
    spec = load_registry().get("load.time")
    result = run_check(spec, Snapshot(model_storage=storage), Context())
    assert result.status is Status.WARN
    names = [a["name"] for a in result.findings[0].evidence["alternatives"]]
    assert names[0] == "load once and broadcast" and "copy to local NVMe first" in names


def test_an_incomplete_hf_cache_snapshot_fails_offline(tmp_path, monkeypatch):
    repo = tmp_path / "hub" / "models--org--tiny"
    snap = repo / "snapshots" / "abc123"
    src = sharded(tmp_path)
    (repo / "blobs").mkdir(parents=True)
    snap.mkdir(parents=True)
    for f in src.iterdir():
        blob = repo / "blobs" / f.name
        blob.write_bytes(f.read_bytes())
        os.symlink(os.path.relpath(blob, snap), snap / f.name)
    complete = run_check(load_registry().get("load.hf-cache"), Snapshot(model_storage=probe_model_storage(snap)), Context())
    assert complete.status is Status.PASS
    (snap / "model-00002-of-00002.safetensors").unlink()
    (repo / "blobs" / "deadbeef.incomplete").write_bytes(b"")
    storage = probe_model_storage(snap)
    offline = Snapshot(model_storage=storage, env={"HF_HUB_OFFLINE": "1"})
    result = run_check(load_registry().get("load.hf-cache"), offline, Context())
    assert result.status is Status.FAIL and "huggingface-cli download org/tiny" in result.findings[0].remedy.commands


def test_fit_load_end_to_end(tmp_path):
    d = sharded(tmp_path)
    ok = run_cli("fit", str(d), "--gpus", "1xH100-80GB", "--load", "--json")
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)["load"]
    assert doc["weight_bytes"] == sum(f.stat().st_size for f in d.glob("*.safetensors"))
    assert doc["predicted_seconds"] is not None and {c["id"] for c in doc["checks"]} >= {"load.shards", "load.time"}
    (d / "model-00001-of-00002.safetensors").unlink()
    broken = run_cli("fit", str(d), "--gpus", "1xH100-80GB", "--load")
    assert broken.returncode == 1 and "load.shards" in broken.stdout and "missing" in broken.stdout
