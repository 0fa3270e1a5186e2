"""§5: never claim what the input does not state."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from llmdoctor.cli.app import app
from llmdoctor.parsers import parse_dump

TRUNCATED = (
    "PyTorch version: 2.1.0+cu121\nIs debug build: False\nCUDA used to build PyTorch: 12.1\n"
    "GPU models and configuration: GPU 0: NVIDIA GeForce GTX\n"
)
ARCH_ONLY = (
    "UserWarning:\nNVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the current "
    "PyTorch installation.\nThe current PyTorch install supports CUDA capabilities sm_50 sm_60 sm_70 sm_75 "
    "sm_80 sm_86 sm_90.\n"
)


def _report(tmp_path, text: str) -> dict:
    path = tmp_path / "dump.txt"
    path.write_text(text)
    result = CliRunner().invoke(app, ["check", "--from", str(path), "--json"])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def _results(report: dict) -> list[dict]:
    return [dict(c, verdict=c["status"]) for c in report["checks"]]


def test_a_truncated_gpu_name_is_not_taken_for_a_model():
    snap = parse_dump(TRUNCATED, "dump.txt")
    assert snap.gpus is not None and snap.gpus[0].compute_capability is None


def test_a_truncated_gpu_name_gives_no_architecture_verdict(tmp_path):
    arch = next(r for r in _results(_report(tmp_path, TRUNCATED)) if r["id"] == "cuda.arch")
    assert arch["verdict"] == "unknown"


def test_no_driver_is_claimed_when_the_input_states_none(tmp_path):
    report = _report(tmp_path, ARCH_ONLY)
    snap = parse_dump(ARCH_ONLY, "dump.txt")
    assert snap.driver is None
    for r in _results(report):
        blob = json.dumps(r).lower()
        assert "this driver supports" not in blob
        assert "driver supports" not in blob or r["id"] == "cuda.driver"
