"""llmdoctor snapshot: -o refuses an existing file before any probing."""

from __future__ import annotations

import json

from conftest import SCENARIOS, run_cli

H100 = str(SCENARIOS / "h100x8_healthy.json")


def test_existing_output_is_refused_before_probing(tmp_path, monkeypatch):
    import llmdoctor.probes

    def no_probing(*args, **kwargs):
        raise AssertionError("probed although the output file was going to be refused")

    monkeypatch.setattr(llmdoctor.probes, "collect", no_probing)
    out = tmp_path / "existing.json"
    out.write_text("{}")
    proc = run_cli("snapshot", "-o", str(out))
    assert proc.returncode == 2 and "exists; use --force" in proc.stderr
    assert out.read_text() == "{}"


def test_snapshot_from_a_file_round_trips(tmp_path):
    out = tmp_path / "snap.json"
    proc = run_cli("snapshot", "--from", H100, "-o", str(out))
    assert proc.returncode == 0 and f"written to {out}" in proc.stderr
    assert json.loads(out.read_text())["schema"] == "llmdoctor.snapshot/1"
