"""Docs and JSON Schemas stay in step with the code; real outputs validate against the schemas."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.resources import files

import pytest

from conftest import ROOT, SCENARIOS, run_cli, run_json

SCENARIO_FILES = sorted(SCENARIOS.glob("*.json"))


def schema(name: str) -> dict:
    return json.loads(files("llmdoctor").joinpath("schemas", f"{name}.schema.json").read_text())


@pytest.fixture(scope="module")
def validators():
    jsonschema = pytest.importorskip("jsonschema")
    out = {}
    for name in ("snapshot", "report"):
        s = schema(name)
        jsonschema.Draft202012Validator.check_schema(s)
        out[name] = jsonschema.Draft202012Validator(s)
    return out


def errors(validator, doc) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_docs_and_schemas_match_the_registry():
    from llmdoctor.docsgen import drift

    problems = drift(ROOT)
    assert not problems, "docs drifted from the code; run `python -m llmdoctor.docsgen`:\n" + "\n".join(problems)


def test_every_builtin_check_has_a_page_with_its_explanation():
    from llmdoctor.docsgen import builtin_specs

    for spec in builtin_specs():
        page = (ROOT / "docs" / "checks" / f"{spec.id}.md").read_text()
        assert spec.explanation.splitlines()[0] in page
        assert f"({spec.id}.md)" in (ROOT / "docs" / "checks" / "index.md").read_text()


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.stem)
def test_scenario_snapshots_and_their_reports_validate(path, validators):
    from llmdoctor.engine import Context, load_registry, run_checks
    from llmdoctor.snapshot import Snapshot

    assert errors(validators["snapshot"], json.loads(path.read_text())) == []
    registry = load_registry()
    options = {f"expect.{k}": v for k, v in {"gpu-count": 8, "torch": ">=2", "packages": ("vllm",)}.items()}
    report = run_checks(Snapshot.from_json(path.read_text()), list(registry), Context(options), registry=registry)
    # through JSON text, as a consumer reads it
    assert errors(validators["report"], json.loads(json.dumps(report.to_dict()))) == []


def test_live_snapshot_and_report_validate(validators, tmp_path):
    snap = tmp_path / "snap.json"
    proc = run_cli("snapshot", "--timeout", "60", "-o", str(snap))
    assert proc.returncode == 0, proc.stderr
    assert errors(validators["snapshot"], json.loads(snap.read_text())) == []
    code, report = run_json("check", "--from", str(snap), "--json")
    assert code in (0, 1)
    assert errors(validators["report"], report) == []


def test_schemas_reject_what_readers_would_reject(validators):
    doc = json.loads(SCENARIO_FILES[0].read_text())
    assert errors(validators["snapshot"], {**doc, "schema": "llmdoctor.snapshot/2"})
    assert errors(validators["snapshot"], {**doc, "gpus": [{"name": "no index"}]})
    code, report = run_json("check", "--from", str(SCENARIO_FILES[0]), "--json")
    report["checks"][0]["status"] = "maybe"
    assert errors(validators["report"], report)


def test_mkdocs_build_strict(tmp_path):
    if shutil.which("mkdocs") is None and subprocess.run([sys.executable, "-c", "import mkdocs"]).returncode:
        pytest.skip("mkdocs is not installed (pip install -e '.[test]')")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "site" / "checks" / "cuda.driver" / "index.html").exists()
