"""Every real case in tests/data/cases (expected.tsv: owning check and its expected verdict) run end to end
through `llmdoctor check --from FILE --json`, the dump plus its '# error:' line as a user pastes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dumps_helpers import CASES, case_input
from llmdoctor.cli.app import app

TABLE = [line.split("\t") for line in (CASES / "expected.tsv").read_text(encoding="utf-8").splitlines()[1:] if line]
HEADERS = ("# source:", "# tool:", "# note:", "# root-cause evidence:", "# error:")


def test_the_table_lists_every_case_with_headers_and_covers_every_family():
    listed = {row[0] for row in TABLE}
    on_disk = {p.name for p in CASES.glob("case_1*.txt") if len(p.stem) == 8}
    assert on_disk <= listed
    assert len(listed) >= 60
    assert {"nccl", "cuda", "mig", "cudnn", "packages", "memory"} <= {row[1] for row in TABLE}
    for name in listed:
        head = (CASES / name).read_text(encoding="utf-8").splitlines()[:8]
        assert all(any(line.startswith(h) for line in head) for h in HEADERS), name


def _report(name: str, tmp_path: Path) -> dict:
    path = tmp_path / name
    path.write_text(case_input(name), encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "--from", str(path), "--json"])
    assert result.exit_code in (0, 1), (result.exit_code, result.output[-500:])
    return json.loads(result.stdout)


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r[0])
def test_case_gives_the_verdict_of_its_owning_check(row, tmp_path):
    name, _category, check_id, verdict, absent = (row + [""])[:5]
    report = _report(name, tmp_path)
    checks = {c["id"]: c for c in report["checks"]}
    assert checks[check_id]["status"] == verdict, (check_id, [f["message"][:200] for f in checks[check_id]["findings"]])
    codes = {f.get("evidence", {}).get("known_error") for c in report["checks"] for f in c["findings"]}
    for code in filter(None, absent.split(",")):
        assert code not in codes, f"{code} must not be claimed for {name}"
