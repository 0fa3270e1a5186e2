"""The scenarios of issue 2: each gives the right verdicts, pinned as golden JSON reports.

Golden files hold the whole report minus timings.  After an intended change, regenerate with
LLMDOCTOR_UPDATE_GOLDEN=1 and review the diff.
"""

import json
import os

import pytest

from llmdoctor.engine import Context, load_registry, run_checks
from llmdoctor.results import Status

from conftest import DATA, load_scenario

GOLDEN = DATA / "golden"
CORE_CHECKS = ("cuda.arch", "cuda.driver", "cuda.toolkit", "cudnn.version", "gpu.dtype", "gpu.visible", "torch.build")

EXPECTED = {
    "h100x8_healthy": {"cuda.driver": "pass", "cuda.arch": "pass", "torch.build": "pass", "gpu.dtype": "pass",
                       "cuda.toolkit": "pass", "cudnn.version": "pass", "gpu.visible": "pass"},
    "a100_driver470_cu121": {"cuda.driver": "fail"},
    "rtx5090_torch26_cu126": {"cuda.arch": "fail", "cuda.driver": "pass"},
    "v100_fp16_only": {"gpu.dtype": "warn", "cuda.arch": "pass"},
    "cpu_torch_on_gpu_host": {"torch.build": "fail"},
    "no_gpu": {"cuda.driver": "not_applicable", "cuda.arch": "not_applicable", "gpu.dtype": "not_applicable",
               "gpu.visible": "not_applicable"},
    "torch_import_fails": {"torch.build": "fail", "cuda.driver": "unknown"},
}


def _report(name):
    reg = load_registry()
    return run_checks(load_scenario(name), [s for s in reg if s.id in CORE_CHECKS], Context())


def _stable(report):
    doc = report.to_dict()
    for c in doc["checks"]:
        c.pop("seconds")
    return doc


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scenario_verdicts(name):
    statuses = {c.id: c.status.value for c in _report(name).checks}
    for check_id, status in EXPECTED[name].items():
        assert statuses[check_id] == status, f"{name}: {check_id}"


def test_healthy_and_no_gpu_scenarios_have_no_failure():
    for name in ("h100x8_healthy", "no_gpu"):
        assert not any(c.status in (Status.FAIL, Status.ERROR) for c in _report(name).checks), name


def test_no_gpu_skips_say_why():
    for c in _report("no_gpu").checks:
        if c.status in (Status.UNKNOWN, Status.NOT_APPLICABLE):
            assert c.findings[0].message and ("GPU" in c.findings[0].message or "CPU-only" in c.findings[0].message or "torch" in c.findings[0].message)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_reports(name):
    path = GOLDEN / f"{name}.json"
    doc = _stable(_report(name))
    if os.environ.get("LLMDOCTOR_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    golden = json.loads(path.read_text())
    assert doc["checks"] == golden["checks"]
    assert doc["summary"] == golden["summary"]
