"""The known-error table: every row is well formed and cited, recognises its own example, and the check it
belongs to reports it (or errors.known does, naming that check)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from llmdoctor import data
from llmdoctor.facts import known_errors
from llmdoctor.engine import Context, load_registry, run_check
from llmdoctor.snapshot import Snapshot

from conftest import load_scenario

ROWS = data.load("error_patterns")["patterns"]
# check ids of this project: built ones and the ones other issues define (ids are a stable contract)
PLANNED = {"packages.imports", "packages.triton", "packages.numpy-abi", "packages.torch-pins", "memory.fit",
           "memory.gpu-free", "memory.alloc-conf", "nccl.shm", "nccl.env", "nccl.version", "nccl.perf-switches",
           "gpu.topology", "errors.known"}


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_row_is_well_formed_and_cited(row):
    assert set(row) >= {"id", "pattern", "check", "cause", "fix", "severity", "sources", "example"}
    assert row["severity"] in ("fail", "warn")
    assert any(s.startswith("shared/reference/failure_catalog.md") for s in row["sources"])
    assert row["check"] in set(load_registry().ids()) | PLANNED
    assert re.compile(row["pattern"], re.I).search(known_errors.flatten(row["example"]))


def test_ids_unique_and_catalog_families_covered():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids))
    for family in "ABCDEFGHIJK":
        assert any(i.startswith(family) for i in ids), family


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_needle_prefilter_finds_the_example(row):
    text = "noise line\n" * 3000 + row["example"] + "\n" + "more noise\n" * 3000
    spans = known_errors.find_in(text)
    assert any(known_errors.table()[[r["id"] for r in ROWS].index(row["id"])].regex.search(
        known_errors.flatten(text[a:b])) for a, b in spans)


def _error_only(base: Snapshot, text: str) -> Snapshot:
    return dataclasses.replace(base, errors=(text,))


@pytest.mark.parametrize("row", [r for r in ROWS if r["check"] != "errors.known"], ids=lambda r: r["id"])
def test_the_error_is_reported_by_its_check_or_by_errors_known(row):
    # a healthy machine that saw this error: the owner check (when it exists and can run) or errors.known
    # must turn it into a warn/fail finding that names the error
    snap = _error_only(load_scenario("h100x8_healthy"), row["example"])
    registry = load_registry()
    owner = registry.get(row["check"])
    results = []
    if owner is not None:
        results.append(run_check(owner, snap, Context()))
    results.append(run_check(registry.get("errors.known"), snap, Context()))
    probe = known_errors.flatten(row["example"])[:40]

    def names_it(f):  # our finding for the row, or the owner's own finding quoting the text
        texts = [v for v in f.evidence.values() if isinstance(v, str)]
        texts += [str(x) for x in f.evidence.get("errors_seen", ())]
        return f.evidence.get("known_error") == row["id"] or any(probe in " ".join(t.split()) for t in texts)

    hits = [f for r in results for f in r.findings if f.status.value in ("warn", "fail") and names_it(f)]
    assert hits, f"{row['id']} is not reported"
    if owner is None:
        assert any(f.evidence.get("belongs_to") == row["check"] for f in hits)


def test_found_version_detail():
    m = known_errors.recognise(["The NVIDIA driver on your system is too old (found version 11040)."])[0]
    assert m.error.id == "A1" and m.detail == "the driver supports CUDA ≤ 11.4"


def test_errors_known_does_not_repeat_what_the_owner_reports():
    snap = _error_only(load_scenario("h100x8_healthy"), "RuntimeError: CUDA error: no kernel image is available for execution on the device")
    r = run_check(load_registry().get("errors.known"), snap, Context())
    assert r.status.value == "unknown"  # cuda.arch reports it
    owner = run_check(load_registry().get("cuda.arch"), snap, Context())
    assert owner.status.value == "warn"  # torch covers H100: the kernels missing are an extension's


def test_errors_known_skips_without_texts():
    r = run_check(load_registry().get("errors.known"), load_scenario("h100x8_healthy"), Context())
    assert r.status.value == "unknown"
