"""Packages probe: PEP 610 direct_url.json is read, so `fix pin` knows an editable or URL install."""

from __future__ import annotations

import pytest

from llmdoctor.probes import packages


@pytest.mark.parametrize("doc,expected", [
    ('{"url": "file:///src/mylib", "dir_info": {"editable": true}}', {"direct_url": "file:///src/mylib", "editable": True}),
    ('{"url": "https://example.org/x.tar.gz", "archive_info": {}}', {"direct_url": "https://example.org/x.tar.gz", "editable": False}),
    ("not json", {}),
])
def test_direct_url_and_editable_are_read_from_pep_610(tmp_path, doc, expected):
    from importlib.metadata import PathDistribution

    from llmdoctor.probes import target_worker

    info = tmp_path / "mylib-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mylib\nVersion: 1.0\n")
    (info / "direct_url.json").write_text(doc)
    assert target_worker._direct_url(PathDistribution(info)) == expected


def test_index_installs_have_no_direct_url():
    found = packages.probe_packages(None, 10.0).get("packaging")
    assert found is not None and found.direct_url is None and found.editable is False
