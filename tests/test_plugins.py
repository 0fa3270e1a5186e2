"""Plugins through the real entry-point group: the example package pip-installed, broken and
duplicate plugins (written as real dist-info folders), all seen through `python -m llmdoctor`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SCENARIOS, run_cli, run_json, statuses
from helpers.shared import once_per_run

EXAMPLE = ROOT / "examples" / "llmdoctor-example-plugin"
H100 = str(SCENARIOS / "h100x8_healthy.json")


@pytest.fixture(scope="module")
def example_site(tmp_path_factory) -> Path:
    """pip install the example plugin (no deps: llmdoctor is already here) into a target folder, once per run."""
    return Path(once_per_run(tmp_path_factory, "example-plugin-site", _install_example))


def _install_example(target: Path) -> str:
    import importlib.util

    # setuptools is here already (torch depends on it): build offline; otherwise pip fetches it
    offline = ["--no-build-isolation", "--no-index"] if importlib.util.find_spec("setuptools") else []
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *offline,
         "--target", str(target), str(EXAMPLE)],
        capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        pytest.fail(f"pip install of the example plugin failed:\n{proc.stderr[-2000:]}")
    return str(target)


def with_path(*folders: Path) -> dict[str, str]:
    existing = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": os.pathsep.join([*(str(f) for f in folders), *([existing] if existing else [])])}


def test_installed_plugin_is_listed_with_its_origin(example_site):
    proc = run_cli("checks", "--json", env=with_path(example_site))
    assert proc.returncode == 0, proc.stderr
    rows = {r["id"]: r for r in json.loads(proc.stdout)["checks"]}
    assert rows["example.ram-per-gpu"]["origin"] == "llmdoctor-example-plugin:example"
    assert rows["example.ram-per-gpu"]["settings"] == ["min_gib"]
    assert rows["cuda.driver"]["origin"] == "builtin"
    text = run_cli("checks", env=with_path(example_site)).stdout
    assert any(line.startswith("example.ram-per-gpu") and line.endswith("[llmdoctor-example-plugin:example]")
               for line in text.splitlines())


def test_installed_plugin_runs_like_a_builtin_and_reads_its_setting(example_site, tmp_path):
    code, report = run_json("check", "--from", H100, "--json", "--select", "example", env=with_path(example_site),
                            cwd=tmp_path)
    assert code == 0
    (result,) = report["checks"]
    assert result["id"] == "example.ram-per-gpu" and result["status"] == "pass"
    assert result["origin"] == "llmdoctor-example-plugin:example" and result["seconds"] >= 0
    (tmp_path / "llmdoctor.toml").write_text('[checks."example.ram-per-gpu"]\nmin_gib = 300\n')
    code, report = run_json("check", "--from", H100, "--json", "--select", "example", env=with_path(example_site),
                            cwd=tmp_path)
    assert code == 1 and report["checks"][0]["findings"][0]["evidence"]["min_gib"] == 300
    explained = run_cli("explain", "example.ram-per-gpu", env=with_path(example_site))
    assert "from: llmdoctor-example-plugin:example" in explained.stdout


def test_a_plugin_flag_reaches_its_check(example_site, tmp_path):
    """The flag the plugin's check declares is a `check` option, routed to the check's setting."""
    code, report = run_json("check", "--from", H100, "--json", "--select", "example", "--min-ram-per-gpu", "300",
                            env=with_path(example_site), cwd=tmp_path)
    assert code == 1 and report["checks"][0]["findings"][0]["evidence"]["min_gib"] == 300
    assert "--min-ram-per-gpu" in run_cli("check", "--help", env=with_path(example_site)).stdout
    assert run_cli("check", "--from", H100, "--min-ram-per-gpu", "300").returncode == 2  # not installed: no flag


def test_setting_of_a_plugin_is_validated(example_site, tmp_path):
    (tmp_path / "llmdoctor.toml").write_text('[checks."example.ram-per-gpu"]\nmin_gb = 300\n')
    proc = run_cli("check", "--from", H100, env=with_path(example_site), cwd=tmp_path)
    assert proc.returncode == 2 and "min_gb" in proc.stderr and "min_gib" in proc.stderr


def fake_dist(site: Path, dist: str, module: str, source: str) -> None:
    """A real installed distribution: dist-info with an entry point, and its module."""
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[llmdoctor.checks]\nmain = {module}\n")
    (site / f"{module}.py").write_text(source)


def test_plugin_that_fails_to_import_is_an_error_result(tmp_path):
    fake_dist(tmp_path, "broken-plugin", "broken_plugin", "import does_not_exist_anywhere\n")
    proc = run_cli("check", "--from", H100, "--json", env=with_path(tmp_path))
    assert proc.returncode == 3, proc.stderr  # nothing failed, but something could not be verified
    report = json.loads(proc.stdout)
    errors = [c for c in report["checks"] if c["status"] == "error"]
    assert len(errors) == 1 and errors[0]["origin"] == "broken-plugin:main"
    assert "does_not_exist_anywhere" in errors[0]["findings"][0]["message"]
    assert statuses(report)["cuda.driver"] == "pass"  # the built-ins still ran


def test_duplicate_check_id_is_refused_naming_both_owners(tmp_path):
    fake_dist(tmp_path, "dup-plugin", "dup_plugin",
              "from llmdoctor.engine import check\n"
              "@check('cuda.driver', 'an impostor')\n"
              "def impostor():\n    return None\n")
    proc = run_cli("checks", "--json", env=with_path(tmp_path))
    data = json.loads(proc.stdout)
    assert {r["id"]: r["origin"] for r in data["checks"]}["cuda.driver"] == "builtin"
    (err,) = data["load_errors"]
    assert "cuda.driver" in err["error"] and "builtin" in err["error"] and "dup-plugin:main" in err["error"]
