"""0 leaking (secret, output) pairs: a snapshot and a pasted dump seeded with the whole secret corpus,
through every format of ``check --from`` (plain, rich, json, junit, github + job summary, markdown)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from conftest import load_scenario, run_cli
from hardening.secret_corpus import CORPUS, ENV_VALUES

FORMATS = ["plain", "rich", "json", "junit", "github", "markdown", "prometheus"]


def _env_secret(value: str) -> str:
    m = re.search(r"://[^:@/]*:([^@]+)@", value)
    return m.group(1) if m else value


SECRETS = sorted({s for _n, _t, s in CORPUS} | {_env_secret(v) for v in ENV_VALUES.values()})


def _seeded_snapshot(tmp_path: Path) -> Path:
    snap = load_scenario("h100x8_healthy")
    env = {f"VAR_{i}": text for i, (_n, text, _s) in enumerate(CORPUS)} | ENV_VALUES
    gpus = (dataclasses.replace(snap.gpus[0], name="H100 " + CORPUS[0][1]), *snap.gpus[1:])
    snap = dataclasses.replace(snap, env=env, gpus=gpus, errors=tuple(t for _n, t, _s in CORPUS))
    path = tmp_path / "seeded.json"
    path.write_text(json.dumps(snap.to_dict()))
    return path


def _seeded_dump(tmp_path: Path) -> Path:
    lines = ["Traceback (most recent call last):", '  File "train.py", line 3, in <module>']
    lines += [f"RuntimeError: CUDA error: out of memory while using {t}" for _n, t, _s in CORPUS]
    path = tmp_path / "pasted.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _leaks(outputs: dict[str, str]) -> list[tuple[str, str]]:
    return [(secret[:12], where) for where, out in outputs.items() for secret in SECRETS if secret in out]


@pytest.mark.parametrize("seed", [_seeded_snapshot, _seeded_dump], ids=["snapshot", "dump"])
def test_no_secret_in_any_format(tmp_path: Path, seed) -> None:
    src = seed(tmp_path)
    assert any(s in src.read_text() for s in SECRETS)  # the input really carries them
    outputs: dict[str, str] = {}
    for fmt in FORMATS:
        summary = tmp_path / f"summary-{fmt}.md"
        proc = run_cli("check", "--from", str(src), "--format", fmt, env={"GITHUB_STEP_SUMMARY": str(summary)})
        assert proc.returncode in (0, 1), (fmt, proc.stderr)
        outputs[f"{fmt} stdout"] = proc.stdout
        outputs[f"{fmt} stderr"] = proc.stderr
        if summary.exists():
            outputs[f"{fmt} job summary"] = summary.read_text()
    proc = run_cli("check", "--json", "--from", str(src))
    outputs["check --json"] = proc.stdout + proc.stderr
    assert _leaks(outputs) == []
