"""Pure modules: diff ranking, the markdown renderer, anonymisation."""

from __future__ import annotations

import dataclasses

from llmdoctor import diff as D
from llmdoctor.anonymize import anonymize_for, anonymizer
from llmdoctor.engine import Context, load_registry, run_checks, select
from llmdoctor.report import RENDERERS, RenderOptions
from llmdoctor.snapshot import Torch

from conftest import load_scenario


def test_diff_ignores_unknown_and_ranks_driver_over_packages():
    a = load_scenario("h100x8_healthy")
    b = dataclasses.replace(a, driver=dataclasses.replace(a.driver, version="470.82.01", cuda_version="11.4"),
                            torch=None)
    diffs = D.diff_snapshots([a, b])
    keys = [d.key for d in diffs]
    assert keys[:2] == ["driver.cuda_version", "driver.version"]
    assert not any(k.startswith("torch.") for k in keys)  # unknown in b: not a difference by itself
    assert D.diff_snapshots([a, a]) == []


def test_diff_three_inputs_and_cpu_build():
    a = load_scenario("h100x8_healthy")
    cpu = dataclasses.replace(a, torch=Torch(installed=True, version="2.4.0+cpu", cuda=None))
    diffs = {d.key: d for d in D.diff_snapshots([a, a, cpu])}
    assert diffs["torch.cuda"].values[2] == "none (CPU build)"
    assert len(diffs["torch.cuda"].values) == 3


def test_diff_env_variables():
    a = load_scenario("docker_small_shm")
    env = dict(a.env or {})
    env["NCCL_P2P_DISABLE"] = "1"
    b = dataclasses.replace(a, env=env)
    d = {x.key: x for x in D.diff_snapshots([a, b])}
    assert d["env.NCCL_P2P_DISABLE"].values == ("(unset)", "1")


def _report(name):
    snap = load_scenario(name)
    reg = load_registry()
    return run_checks(snap, select(reg), Context(), registry=reg)


def test_markdown_is_compact_and_escaped():
    report = _report("a100_driver470_cu121")
    md = RENDERERS["markdown"](report, RenderOptions())
    assert md.startswith("### llmdoctor: FAILED")
    table = [l for l in md.splitlines() if l.startswith("| ")]
    assert table[0] == "| | check | finding |"
    assert all(l.count(" | ") >= 2 for l in table)  # no stray pipes break the table
    assert md.count("<details>") == md.count("</details>") >= 1
    ok = RENDERERS["markdown"](_report("h100x8_healthy"), RenderOptions())
    assert "| ❌" not in ok


def test_anonymizer_rules():
    snap_json = '{"file": "/home/alice/venv/lib/torch", "uuid": "GPU-6b1f2c3d-4e5f-6789-abcd-ef0123456789",' \
                ' "win": "C:\\\\Users\\\\Bob\\\\env"}'
    anon = anonymizer(snap_json, ("gpu-node-17.example.com", "gpu-node-17"))
    text = ("alice ran on gpu-node-17 (gpu-node-17.example.com) with GPU-6b1f2c3d-4e5f-6789-abcd-ef0123456789 "
            "from /home/alice/x and C:\\Users\\Bob\\env; /home/root stays")
    out = anon(text)
    assert "alice" not in out and "Bob" not in out and "gpu-node-17" not in out and "6b1f2c3d" not in out
    assert "/home/user/x" in out and "GPU-uuid-0" in out and "/home/root" in out and "host" in out


def test_anonymize_for_live_snapshot_hostname():
    snap = load_scenario("h100x8_healthy")
    if snap.host is None or not snap.host.hostname:
        return
    out = anonymize_for(snap)(snap.to_json())
    assert snap.host.hostname not in out


def test_shell_prompts_are_anonymised():
    out = anonymizer("{}")("(base) alice@gpu-box:~/work$ python train.py")
    assert "alice" not in out and "gpu-box" not in out and "user@host:~/work" in out
