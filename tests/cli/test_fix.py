"""`llmdoctor fix` through the real entry point: listing, fix pin, -o/--force/.bak, bad input = one line, exit 2."""

from __future__ import annotations

import os
import stat

import pytest

from conftest import SCENARIOS, run_cli

A100 = str(SCENARIOS / "a100_driver470_cu121.json")
H100 = str(SCENARIOS / "h100x8_healthy.json")


def one_error_line(proc, code=2):
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmdoctor: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_fix_lists_the_fixes_findings_name():
    proc = run_cli("fix", "--from", A100)
    assert proc.returncode == 0, proc.stderr
    assert f"llmdoctor fix pin --repair --from {A100}    (for cuda.driver)" in proc.stdout
    assert "Available fixes: " in proc.stdout and "pin" in proc.stdout.split("Available fixes: ")[1]


def test_fix_on_a_healthy_machine_lists_nothing_to_do():
    proc = run_cli("fix", "--from", H100)
    assert proc.returncode == 0
    assert "No fix applies" in proc.stdout


def test_unknown_fix_id_is_one_line_exit_2():
    line = one_error_line(run_cli("fix", "frobnicate", "--from", H100))
    assert "unknown fix 'frobnicate'" in line and "pin" in line


@pytest.mark.parametrize("args,needle", [
    (("--format", "xml"), "--format 'xml': choose one of requirements"),
    (("--only", "gpu"), "--only 'gpu'"),
    (("--from", "/no/such/snapshot.json"), "no such file"),
    (("--from", H100, "--python", "/usr/bin/python3"), "cannot be combined"),
])
def test_bad_input_is_one_line_exit_2(args, needle):
    base = ("fix", "pin") + (() if "--from" in args else ("--from", H100))
    assert needle in one_error_line(run_cli(*base, *args))


def test_stdout_by_default_and_deterministic():
    first = run_cli("fix", "pin", "--repair", "--format", "dockerfile", "--from", A100)
    second = run_cli("fix", "pin", "--repair", "--format", "dockerfile", "--from", A100)
    assert first.returncode == 0 and first.stderr == ""
    assert first.stdout == second.stdout
    assert "FROM nvidia/cuda:11.8.0-runtime-ubuntu22.04" in first.stdout
    assert "'torch==2.6.0+cu118'" in first.stdout


def test_output_file_is_written_atomically_and_never_clobbered(tmp_path):
    out = tmp_path / "requirements.txt"
    proc = run_cli("fix", "pin", "--from", A100, "-o", str(out))
    assert proc.returncode == 0 and proc.stdout == ""
    assert proc.stderr.strip() == f"written to {out}"
    reproduced = out.read_text()
    assert "torch==2.4.0+cu121" in reproduced.splitlines()

    # refuses to overwrite without --force; the file is unchanged
    line = one_error_line(run_cli("fix", "pin", "--repair", "--from", A100, "-o", str(out)))
    assert "exists; use --force" in line
    assert out.read_text() == reproduced

    # --force replaces it and keeps the old one as .bak
    proc = run_cli("fix", "pin", "--repair", "--from", A100, "-o", str(out), "--force")
    assert proc.returncode == 0, proc.stderr
    assert "torch==2.6.0+cu118" in out.read_text().splitlines()
    assert (tmp_path / "requirements.txt.bak").read_text() == reproduced
    assert sorted(os.listdir(tmp_path)) == ["requirements.txt", "requirements.txt.bak"]


def test_output_same_bytes_as_stdout(tmp_path):
    out = tmp_path / "environment.yml"
    printed = run_cli("fix", "pin", "-f", "conda", "--from", H100).stdout
    assert run_cli("fix", "pin", "-f", "conda", "--from", H100, "-o", str(out)).returncode == 0
    assert out.read_text() == printed


@pytest.mark.parametrize("where", ["missing_folder", "directory", "proc"])
def test_unwritable_path_is_one_line_exit_2_and_writes_nothing(tmp_path, where):
    if where == "proc" and not os.path.isdir("/proc/self"):
        pytest.skip("needs Linux /proc")
    target = {"missing_folder": str(tmp_path / "nope" / "r.txt"), "directory": str(tmp_path),
              "proc": "/proc/llmdoctor-fix-test.txt"}[where]
    before = sorted(os.listdir(tmp_path))
    one_error_line(run_cli("fix", "pin", "--from", H100, "-o", target))
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert "Permission denied" in one_error_line(run_cli("fix", "pin", "--from", H100, "-o", str(ro / "r.txt")))
        assert os.listdir(ro) == []
    finally:
        os.chmod(ro, 0o700)


def test_cannot_repair_is_one_line_exit_1(tmp_path):
    import json

    doc = json.loads((SCENARIOS / "rtx5090_torch26_cu126.json").read_text())
    doc["driver"].update(version="470.82.01", cuda_version="11.4")
    path = tmp_path / "old_driver.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "r.txt"
    line = one_error_line(run_cli("fix", "pin", "--repair", "--from", str(path), "-o", str(out)), code=1)
    assert "cannot repair: no official torch build runs on driver 470.82.01" in line
    assert not out.exists()


def test_repaired_file_fed_back_passes_cuda_driver_and_cuda_arch(tmp_path):
    """End to end: repair, 'install' the repaired torch into the snapshot, run llmdoctor check on it."""
    import json

    from packaging.requirements import Requirement

    from llmdoctor import data

    text = run_cli("fix", "pin", "--repair", "--from", A100).stdout
    torch = [Requirement(line) for line in text.splitlines() if line.startswith("torch==")][0]
    version = str(torch.specifier).removeprefix("==")
    doc = json.loads((SCENARIOS / "a100_driver470_cu121.json").read_text())
    doc["torch"].update(version=version, cuda=data.torch_release(version)["variants"][version.split("+")[1]]["cuda"],
                        arch_list=None, warnings=[], cuda_available=None)
    path = tmp_path / "repaired.json"
    path.write_text(json.dumps(doc))
    proc = run_cli("check", "--from", str(path), "--select", "cuda.driver,cuda.arch", "--format", "json")
    assert proc.returncode == 0, proc.stdout
    report = json.loads(proc.stdout)
    assert {c["id"]: c["status"] for c in report["checks"]} == {"cuda.driver": "pass", "cuda.arch": "pass"}


def test_from_given_to_fix_applies_to_the_subcommand():
    assert run_cli("fix", "--from", A100, "pin").stdout == run_cli("fix", "pin", "--from", A100).stdout


# --------------------------------------------------------------------------- generic over the registry

NCCL_BAD = str(SCENARIOS / "nccl_misconfigured.json")


def test_options_given_to_fix_reach_the_fix():
    """Regression: `fix --from SNAP nccl` ignored --from and wrote a script for this machine."""
    parent = run_cli("fix", "--from", NCCL_BAD, "nccl")
    child = run_cli("fix", "nccl", "--from", NCCL_BAD)
    assert parent.returncode == 0 and child.returncode == 0, parent.stderr
    assert parent.stdout == child.stdout
    assert "NCCL_SOCKET_IFNAM" in parent.stdout  # the snapshot's misspelled variable, not this machine's env


def test_fix_list_from_a_snapshot_suggests_commands_with_from():
    proc = run_cli("fix", "--from", NCCL_BAD)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("llmdoctor fix ")]
    assert lines and all(f"--from {NCCL_BAD}" in line for line in lines)


def test_every_registered_fix_is_a_subcommand_with_the_shared_options():
    from llmdoctor.fixes.registry import load_fixes

    for fix_id, spec in load_fixes().items():
        help_ = run_cli("fix", fix_id, "--help").stdout
        for flag in ("--from", "--python", "--timeout", "--output", "--force"):
            assert flag in help_, (fix_id, flag)
        for name in spec.options:
            assert "--" + name.replace("_", "-") in help_


def test_fix_output_file_goes_through_the_writer(tmp_path):
    out = tmp_path / "requirements.txt"
    proc = run_cli("fix", "pin", "--from", H100, "-o", str(out))
    assert proc.returncode == 0 and f"written to {out}" in proc.stderr
    again = run_cli("fix", "pin", "--from", H100, "-o", str(out))
    assert again.returncode == 2 and "exists; use --force" in again.stderr
    assert run_cli("fix", "pin", "--from", H100, "-o", str(out), "--force").returncode == 0
    assert (tmp_path / "requirements.txt.bak").exists()
