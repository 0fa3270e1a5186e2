"""llmdoctor watch: rounds of live health checks, changes printed, the Prometheus file rewritten."""

from __future__ import annotations

import subprocess

from conftest import NVML_SCENARIOS, run_cli

from llmdoctor.cli.watch import changes, probe_live_health, round_checks
from llmdoctor.report.vocabulary import headline
from llmdoctor.engine import load_registry, run_checks, select


def llmdoctor(*args: str, scenario: str) -> subprocess.CompletedProcess:
    return run_cli(*args, env={"LLMDOCTOR_FAKE_NVML": str(NVML_SCENARIOS / f"{scenario}.json")})


def test_watch_writes_the_textfile_and_prints_the_first_round(tmp_path):
    out = tmp_path / "llmdoctor.prom"
    proc = llmdoctor("watch", "--every", "0.05", "--count", "2", "-o", str(out), scenario="health_remap_pending")
    assert proc.returncode == 1, proc.stderr  # a failed check, as `check` exits
    lines = proc.stdout.splitlines()
    assert any("health.remapped-rows: fail:" in line for line in lines)
    assert len([l for l in lines if "health.remapped-rows" in l]) == 1  # round 2 changed nothing
    text = out.read_text()
    assert 'llmdoctor_gpu_remapped_rows_pending{gpu="0"' in text and text.endswith("\n")
    assert not list(tmp_path.glob(".*.tmp")) and not (tmp_path / "llmdoctor.prom.bak").exists()


def test_changes_between_rounds(monkeypatch):
    specs = select(load_registry(), ["health"], [])
    monkeypatch.setenv("LLMDOCTOR_FAKE_NVML", str(NVML_SCENARIOS / "health_h100x8_healthy.json"))
    first = run_checks(probe_live_health(5.0), specs)
    monkeypatch.setenv("LLMDOCTOR_FAKE_NVML", str(NVML_SCENARIOS / "health_throttle_thermal.json"))
    second = run_checks(probe_live_health(5.0), specs)
    lines = changes({r.id: r.status.value for r in first.checks}, second)
    assert lines == [l for l in lines if l.startswith("health.clocks: pass -> warn:")] and len(lines) == 1
    # the change is told with the headline every renderer leads with (the GPU it is about, "+N more")
    clocks = next(r for r in second.checks if r.id == "health.clocks")
    assert lines[0].endswith(": " + headline(clocks)) and clocks.findings[0].subject in lines[0]


def test_a_round_runs_the_health_checks_whose_parts_it_probes():
    registry = load_registry()
    ids = {s.id for s in round_checks(registry, [])}
    assert "health.clocks" in ids and all(i.startswith("health.") for i in ids)
    assert all("packages" not in s.needs for s in round_checks(registry, []))  # no package scan in a round
    assert [s.id for s in round_checks(registry, ["health.nvml-bindings"])] == ["health.nvml-bindings"]


def test_watch_refuses_bad_intervals():
    proc = llmdoctor("watch", "--every", "0", scenario="health_h100x8_healthy")
    assert proc.returncode == 2 and "--every" in proc.stderr
