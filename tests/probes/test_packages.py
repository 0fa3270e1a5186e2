"""Packages probe: PEP 610 direct_url.json is read, so `fix pin` knows an editable or URL install."""

from __future__ import annotations

from importlib.metadata import distribution

import pytest

from llmdoctor.probes import packages


def test_direct_url_and_editable_are_recorded():
    try:
        raw = distribution("llmdoctor").read_text("direct_url.json")
    except Exception:
        raw = None
    if not raw:
        pytest.skip("llmdoctor is not installed from a path here (pip install -e . records direct_url.json)")
    found = packages.probe_packages(None, 10.0).get("llmdoctor")
    assert found is not None and found.direct_url and found.direct_url.startswith("file://")
    assert found.editable == ('"editable": true' in raw.replace(" ", "").replace('"editable":true', '"editable": true'))


def test_index_installs_have_no_direct_url():
    found = packages.probe_packages(None, 10.0).get("packaging")
    assert found is not None and found.direct_url is None and found.editable is False
