"""The dump features through the real entry point (python -m llmdoctor)."""

from __future__ import annotations

import json

from conftest import run_cli, run_json, statuses
from dumps_helpers import CASES, DUMPS, case_input


def test_check_from_case_file_fails_on_its_cause(tmp_path):
    f = tmp_path / "issue.txt"
    f.write_text(case_input("case_16.txt"))
    code, report = run_json("check", "--from", str(f), "--json")
    assert code == 1
    assert statuses(report)["cuda.driver"] == "fail"
    assert report["snapshot"]["meta"]["source"] == "dump"
    assert "collect_env" in report["snapshot"]["meta"]["understood"]


def test_check_from_stdin():
    code, report = run_json("check", "--from", "-", "--json", input=case_input("case_04.txt"))
    assert code == 1 and statuses(report)["cuda.arch"] == "fail"


def test_env_fine_case_exits_zero():
    proc = run_cli("check", "--from", "-", "--format", "plain", input=case_input("case_20.txt"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_snapshot_from_dump_saves_what_was_understood(tmp_path):
    out = tmp_path / "snap.json"
    proc = run_cli("snapshot", "--from", str(DUMPS / "nvidia_smi_q.txt"), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    snap = json.loads(out.read_text())
    assert snap["meta"]["understood"] == ["nvidia_smi_q"] and snap["torch"] is None
    # and the saved snapshot reads back as a snapshot
    code, report = run_json("check", "--from", str(out), "--json")
    assert report["snapshot"]["meta"]["source"] == "file"


def test_bad_inputs_exit_2_with_one_line(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    unknown = tmp_path / "notes.txt"
    unknown.write_text("shopping list\nmilk\neggs\n")
    for path in (empty, binary, unknown):
        proc = run_cli("check", "--from", str(path))
        assert proc.returncode == 2, (path, proc.stdout, proc.stderr)
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("llmdoctor: error: ")
        assert "Traceback" not in proc.stderr


def test_big_input_is_read_head_and_tail(tmp_path):
    big = tmp_path / "big.log"
    with big.open("w") as fh:
        fh.write((DUMPS / "collect_env_a100_healthy.txt").read_text())
        fh.write("INFO step 1 loss 2.0 lr 1e-4 throughput 1234 tokens/s padding padding padding\n" * 120000)
        fh.write("RuntimeError: CUDA error: CUDA driver version is insufficient for CUDA runtime version\n")
    assert big.stat().st_size > 8 * 2**20
    code, report = run_json("check", "--from", str(big), "--json")
    assert statuses(report)["cuda.driver"] == "fail"  # the error at the end was seen
    assert report["snapshot"]["driver"]["version"] == "535.104.05"  # the report at the start too


def test_explain_error_text_and_file(tmp_path):
    proc = run_cli("explain-error", "RuntimeError: The NVIDIA driver on your system is too old (found version 11040).")
    assert proc.returncode == 0
    assert "LD-CUDA-001" in proc.stdout and "cuda.driver" in proc.stdout and "CUDA ≤ 11.4" in proc.stdout
    f = tmp_path / "err.txt"
    f.write_text(case_input("case_22.txt"))
    proc = run_cli("explain-error", str(f), "--json")
    doc = json.loads(proc.stdout)
    assert proc.returncode == 0
    assert [r["code"] for r in doc["recognised"]] == ["LD-PKG-001"]
    assert doc["recognised"][0]["check"] == "packages.torch-pins"


def test_explain_error_unknown_text_exits_1():
    proc = run_cli("explain-error", "everything is fine")
    assert proc.returncode == 1 and "No known error" in proc.stdout


def test_diff_ranks_the_cause_first(tmp_path):
    works = tmp_path / "works.txt"
    fails = tmp_path / "fails.txt"
    works.write_text((DUMPS / "collect_env_a100_healthy.txt").read_text())
    fails.write_text((DUMPS / "collect_env_a100_healthy.txt").read_text()
                     .replace("535.104.05", "470.182.03").replace("numpy==1.26.4", "numpy==2.0.0"))
    proc = run_cli("diff", str(works), str(fails), "--json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    keys = [d["key"] for d in doc["differences"]]
    assert keys[0] == "driver.version" and "packages.numpy" in keys
    assert doc["differences"][0]["values"] == ["535.104.05", "470.182.03"]
    same = run_cli("diff", str(works), str(works))
    assert same.returncode == 0 and "No differences" in same.stdout


def test_diff_needs_two_inputs():
    proc = run_cli("diff", str(DUMPS / "nvcc_version.txt"))
    assert proc.returncode == 2


def test_markdown_report_for_an_issue():
    proc = run_cli("check", "--from", "-", "--format", "markdown", input=case_input("case_22.txt"))
    assert proc.returncode == 1
    md = proc.stdout
    assert md.startswith("### llmdoctor: FAILED")
    assert "| ❌ | `packages.torch-pins` |" in md and "<details>" in md and "</details>" in md


def test_anonymize_hides_users_and_uuids():
    text = (DUMPS / "nvidia_smi_q.txt").read_text() + "\n" + (CASES / "case_09.txt").read_text()
    plain = run_cli("snapshot", "--from", "-", input=text).stdout
    assert "GPU-6b1f2c3d" in plain and "jypark" in plain
    anon = run_cli("snapshot", "--from", "-", "--anonymize", input=text).stdout
    assert "GPU-6b1f2c3d" not in anon and "jypark" not in anon
    assert "/home/user/anaconda3" in anon and "GPU-uuid-0" in anon
    json.loads(anon)  # still valid JSON
    md = run_cli("check", "--from", "-", "--format", "markdown", "--anonymize", input=text).stdout
    assert "jypark" not in md


def test_secrets_never_in_markdown():
    proc = run_cli("check", "--from", str(DUMPS / "vllm_collect_env_sectioned.txt"), "--format", "markdown", "-v")
    assert "hf_abcdefghij" not in proc.stdout


def test_explain_error_missing_file_is_usage_error():
    proc = run_cli("explain-error", "no-such-log.txt")
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_error_at_the_end_of_one_huge_line(tmp_path):
    f = tmp_path / "oneline.log"
    f.write_text("x" * 5_000_000 + " RuntimeError: CUDA error: CUDA driver version is insufficient for CUDA runtime version")
    proc = run_cli("explain-error", str(f))
    assert proc.returncode == 0 and "LD-CUDA-003" in proc.stdout
