"""What checks print cites public sources only: no internal notes (reference_facts, the failure catalog, shared/)."""

import json
import re

import pytest

from llmdoctor.engine import Context, load_registry, run_check
from llmdoctor.facts.derived import public_source

from conftest import SCENARIOS, load_scenario

INTERNAL = re.compile(r"reference_facts|failure[_ ]catalog|shared/|Known error [A-Z]\d", re.IGNORECASE)
# the modules whose checks are on the typed contract here (the others are being migrated)
MODULES = ("cuda", "torch_build", "gpu", "cudnn", "expect", "topology", "dist")


def _specs():
    return [s for s in load_registry() if s.func.__module__.rsplit(".", 1)[-1] in MODULES]


def test_public_source_drops_internal_parts_only():
    text = "vllm-project/vllm issue #5458 (maintainer comment); shared/cases/case_11.txt"
    assert public_source(text) == "vllm-project/vllm issue #5458 (maintainer comment)"
    assert public_source("pytorch scheduler.py GPUTooOldForTriton; failure_catalog.md B4") == (
        "pytorch scheduler.py GPUTooOldForTriton")


def _snapshots():
    from helpers.dumps import CASES, case_input
    from llmdoctor.parsers import parse_dump

    yield from ((p.stem, lambda p=p: load_scenario(p.stem)) for p in sorted(SCENARIOS.glob("*.json")))
    yield from ((p.name, lambda p=p: parse_dump(case_input(p.name), p.name)) for p in sorted(CASES.glob("case_*.txt")))


@pytest.mark.parametrize("name, load", list(_snapshots()), ids=[n for n, _ in _snapshots()])
def test_findings_cite_no_internal_file(name, load):
    snap = load()
    for spec in _specs():
        for finding in run_check(spec, snap, Context()).findings:
            if finding.status.value in ("warn", "fail") and finding.message.startswith("Known error"):
                continue  # a recognised error text worded by facts/known_error_findings.py (not these checks)
            text = json.dumps(finding.to_dict(), ensure_ascii=False, default=str)
            assert not INTERNAL.search(text), f"{spec.id} on {name}: {text[:300]}"


def test_explanations_cite_no_internal_file():
    for spec in _specs():
        assert not INTERNAL.search(spec.explanation), spec.id
