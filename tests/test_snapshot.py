import json

import pytest
from hypothesis import given, settings, strategies as st

from llmdoctor.snapshot import SCHEMA, Gpu, Host, Snapshot, SnapshotError, Torch, freeze_mapping

from conftest import SCENARIOS, load_scenario


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.json")), ids=lambda p: p.stem)
def test_scenarios_round_trip_exactly(path):
    snap = Snapshot.from_json(path.read_text())
    again = Snapshot.from_json(snap.to_json())
    assert again == snap
    assert _subset(json.loads(path.read_text()), json.loads(again.to_json()))  # nothing in the file is lost


def _subset(doc, full) -> bool:
    """Every value of doc is in full (fields added since the file was written may be extra in full)."""
    if isinstance(doc, dict):
        return isinstance(full, dict) and all(k in full and _subset(v, full[k]) for k, v in doc.items())
    if isinstance(doc, list):
        return isinstance(full, list) and len(doc) == len(full) and all(_subset(a, b) for a, b in zip(doc, full))
    return doc == full


def test_unknown_parts_stay_unknown():
    snap = Snapshot.from_json(json.dumps({"schema": SCHEMA}))
    assert snap.gpus is None and snap.torch is None and snap.driver is None
    assert "unknown" in snap.unknown_reason("torch")


def test_probe_reason_explains_unknown_part():
    snap = load_scenario("no_gpu")
    assert "libnvidia-ml.so" in snap.unknown_reason("driver")


@pytest.mark.parametrize("doc, fragment", [
    ({"schema": "other/1"}, "unsupported snapshot schema"),
    ({"schema": SCHEMA, "gpus": [{"name": "x"}]}, "missing 'index'"),
    ({"schema": SCHEMA, "gpus": [{"index": "0"}]}, "expected an integer"),
    ({"schema": SCHEMA, "torch": {"installed": "yes"}}, "expected true/false"),
    ({"schema": SCHEMA, "host": []}, "expected an object"),
    ([], "must be a JSON object"),
])
def test_malformed_documents_are_refused_with_a_reason(doc, fragment):
    with pytest.raises(SnapshotError, match=fragment):
        Snapshot.from_dict(doc)


def test_newer_writers_extra_keys_are_ignored():
    snap = Snapshot.from_dict({"schema": SCHEMA, "host": {"os": "Linux", "future_field": 1}, "extra_part": {}})
    assert snap.host == Host(os="Linux")


def test_snapshot_is_frozen():
    snap = load_scenario("h100x8_healthy")
    with pytest.raises(Exception):
        snap.gpus = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        snap.env["X"] = "1"  # type: ignore[index]


names = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=60, deadline=None)
@given(
    gpus=st.one_of(st.none(), st.lists(st.builds(Gpu, index=st.integers(0, 64), name=st.one_of(st.none(), names),
                                                 memory_total=st.one_of(st.none(), st.integers(0, 2**50))), max_size=4)),
    env=st.one_of(st.none(), st.dictionaries(st.from_regex(r"[A-Z_]{1,12}", fullmatch=True), names, max_size=5)),
    torch=st.one_of(st.none(), st.builds(Torch, installed=st.booleans(), version=st.one_of(st.none(), names),
                                         arch_list=st.one_of(st.none(), st.lists(names, max_size=3).map(tuple)),
                                         warnings=st.lists(names, max_size=2).map(tuple))),
)
def test_any_snapshot_survives_json_round_trip(gpus, env, torch):
    snap = Snapshot(gpus=tuple(gpus) if gpus is not None else None,
                    env=freeze_mapping(env) if env is not None else None, torch=torch)
    assert Snapshot.from_json(snap.to_json()) == snap
