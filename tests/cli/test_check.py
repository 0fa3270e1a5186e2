"""llmdoctor check: exit codes, formats, selection and check inputs (the entry function, in process)."""

import json
import os

import pytest

from conftest import NVML_SCENARIOS, SCENARIOS, has_torch, run_cli, run_json, statuses

H100 = str(SCENARIOS / "h100x8_healthy.json")
CORE = {"cuda.driver", "cuda.arch", "cuda.toolkit", "cudnn.version", "gpu.dtype", "gpu.visible", "torch.build"}


def one_line_error(proc):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("llmdoctor: error: ")
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_help_and_version():
    proc = run_cli("--help")
    assert proc.returncode == 0 and "check" in proc.stdout and "snapshot" in proc.stdout
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("llmdoctor ")


def test_live_check_json_on_this_machine():
    code, report = run_json("check", "--json")
    assert report["schema"] == "llmdoctor.report/2"
    assert CORE <= set(statuses(report))
    assert report["snapshot"]["schema"] == "llmdoctor.snapshot/1"
    assert code == (1 if report["summary"]["fail"] else 0)
    for c in report["checks"]:
        assert {"id", "title", "status", "findings"} <= set(c)
        for f in c["findings"]:
            assert {"message", "evidence", "remedy"} <= set(f)


def test_plain_output_when_not_a_terminal_has_no_escape_codes():
    proc = run_cli("check", "--from", str(SCENARIOS / "v100_fp16_only.json"))
    assert proc.returncode == 0
    assert "\x1b[" not in proc.stdout
    assert "! gpu.dtype" in proc.stdout
    assert "float16" in proc.stdout  # the remedy is shown under the warning


@pytest.mark.parametrize("name, code", [
    ("h100x8_healthy", 0), ("no_gpu", 0), ("v100_fp16_only", 0),
    ("a100_driver470_cu121", 1), ("rtx5090_torch26_cu126", 1), ("cpu_torch_on_gpu_host", 1), ("torch_import_fails", 1),
])
def test_exit_codes_on_scenarios(name, code):
    assert run_cli("check", "--from", str(SCENARIOS / f"{name}.json")).returncode == code


def test_fail_on_warn():
    assert run_cli("check", "--from", str(SCENARIOS / "v100_fp16_only.json"), "--fail-on", "warn").returncode == 1


def test_dtype_option_turns_the_warning_into_a_failure():
    code, report = run_json("check", "--from", str(SCENARIOS / "v100_fp16_only.json"), "--dtype", "bf16", "--json")
    assert code == 1 and statuses(report)["gpu.dtype"] == "fail"


def test_select_and_ignore():
    _, report = run_json("check", "--from", str(SCENARIOS / "h100x8_healthy.json"), "--select", "cuda", "--ignore", "cuda.toolkit", "--json")
    assert set(statuses(report)) == {"cuda.driver", "cuda.arch"}


def test_stdin_snapshot():
    text = (SCENARIOS / "rtx5090_torch26_cu126.json").read_text()
    code, report = run_json("check", "--from", "-", "--json", input=text)
    assert code == 1 and statuses(report)["cuda.arch"] == "fail"


def test_fake_nvml_end_to_end():
    code, report = run_json("check", "--json", env={"LLMDOCTOR_FAKE_NVML": str(NVML_SCENARIOS / "h100x8_driver535.json")})
    snap = report["snapshot"]
    assert len(snap["gpus"]) == 8 and snap["driver"]["version"] == "535.104.05"
    if has_torch():
        # a CPU-only torch on a host with 8 GPUs
        assert statuses(report)["torch.build"] == "fail" and code == 1


@pytest.mark.parametrize("args, fragment", [
    (["check", "--from", "/nonexistent/snap.json"], "no such file"),
    (["check", "--select", "cuda.drvier"], "unknown check id 'cuda.drvier'"),
    (["check", "--python", "/nonexistent/python"], "no such interpreter"),
    (["check", "--fail-on", "sometimes"], "--fail-on"),
    (["check", "--dtype", "fp12"], "--dtype"),
    (["check", "--format", "xml"], "--format"),
    (["check", "--timeout", "-1"], "--timeout"),
    (["check", "--bogus"], "No such option"),
    (["explain", "nope.nope"], "unknown check id"),
    (["nosuchcommand"], "No such command"),
])
def test_bad_usage_is_one_line_and_exit_2(args, fragment):
    assert fragment in one_line_error(run_cli(*args))


@pytest.mark.parametrize("content, fragment", [
    (b"", "empty input"),
    (b"\x00\x01\x02binary", "binary data"),
    (b'{"schema": "llmdoctor.snapshot/1", "gpus": [{"index": "zero"}]}', "invalid snapshot"),
    (b'{"schema": "llmdoctor.snapshot/1", "gpus": [', "broken snapshot JSON"),
    (b'{"schema": "llmdoctor.snapshot/9"}', "unsupported snapshot schema"),
])
def test_bad_input_files(tmp_path, content, fragment):
    path = tmp_path / "in.json"
    path.write_bytes(content)
    line = one_line_error(run_cli("check", "--from", str(path)))
    assert fragment in line


def test_snapshot_round_trip_and_no_clobber(tmp_path):
    out = tmp_path / "snap.json"
    proc = run_cli("snapshot", "-o", str(out))  # the one live probe: this machine's snapshot, saved
    assert proc.returncode == 0 and out.exists()
    first = out.read_text()
    assert json.loads(first)["schema"] == "llmdoctor.snapshot/1"
    # the saved snapshot checks offline
    code, report = run_json("check", "--from", str(out), "--json")
    assert report["snapshot"]["meta"]["source"] == "file"
    # no clobbering (the same writer whatever the source; --from keeps it offline)
    proc = run_cli("snapshot", "--from", H100, "-o", str(out))
    assert "exists" in one_line_error(proc)
    assert out.read_text() == first  # nothing overwritten
    proc = run_cli("snapshot", "--from", H100, "-o", str(out), "--force")
    assert proc.returncode == 0 and (tmp_path / "snap.json.bak").read_text() == first


def test_snapshot_into_a_missing_folder_is_bad_usage(tmp_path):
    assert "does not exist" in one_line_error(run_cli("snapshot", "-o", str(tmp_path / "no" / "snap.json")))


def test_secrets_never_appear(tmp_path):
    secret = "hf_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"
    env = {"HF_TOKEN": secret, "NCCL_IB_HCA": "mlx5_0", "WANDB_API_KEY": "0123456789abcdef",
           "TORCH_HOME": f"https://user:{secret}@example.org/x"}
    proc = run_cli("check", "--json", "-v", env=env)  # one live probe: the report holds the snapshot
    assert proc.stdout, proc.stderr
    assert secret not in proc.stdout and "0123456789abcdef" not in proc.stdout
    snap = json.loads(proc.stdout)["snapshot"]
    assert snap["env"]["HF_TOKEN"] == "<redacted>"
    assert snap["env"]["NCCL_IB_HCA"] == "mlx5_0"
    assert snap["env"]["TORCH_HOME"] == "https://user:<redacted>@example.org/x"


def test_checks_and_explain():
    proc = run_cli("checks")
    assert proc.returncode == 0
    for check_id in CORE:
        assert check_id in proc.stdout
    proc = run_cli("explain", "cuda.driver")
    assert proc.returncode == 0
    assert "525.60.13" in proc.stdout and "Sources:" in proc.stdout


def test_no_color_and_forced_color(monkeypatch):
    proc = run_cli("check", "--from", str(SCENARIOS / "v100_fp16_only.json"), "--format", "rich", env={"FORCE_COLOR": "1", "NO_COLOR": ""})
    assert "\x1b[" in proc.stdout
    proc = run_cli("check", "--from", str(SCENARIOS / "v100_fp16_only.json"), "--format", "rich")
    assert "\x1b[" not in proc.stdout  # NO_COLOR=1 from run_cli


def test_verbose_shows_every_check_with_what_it_found():
    proc = run_cli("check", "--from", str(SCENARIOS / "h100x8_healthy.json"), "-v")
    assert "cuda.driver" in proc.stdout and "535.104.05" in proc.stdout  # -vv adds the full evidence


def test_python_option_inspects_another_interpreter(tmp_path):
    import subprocess, sys
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    code, report = run_json("check", "--json", "--python", str(venv / "bin" / "python"))
    assert report["snapshot"]["torch"]["installed"] is False
    assert report["snapshot"]["python"]["executable"].startswith(str(venv))
    assert statuses(report)["torch.build"] == "not_applicable"  # no torch there: nothing to check


# --------------------------------------------------------------------------- issue 12 §4 and the check inputs

V100 = str(SCENARIOS / "v100_fp16_only.json")


def test_python_that_is_not_python_is_bad_usage():
    line = one_line_error(run_cli("check", "--python", "/bin/ls"))
    assert "not a Python interpreter" in line


def test_python_given_a_venv_folder_suggests_its_interpreter(tmp_path):
    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    line = one_line_error(run_cli("check", "--python", str(venv)))
    assert f"did you mean --python {python}?" in line


def test_output_file_is_announced_on_stderr(tmp_path):
    out = tmp_path / "report.json"
    proc = run_cli("check", "--from", H100, "--select", "cuda.driver", "--json", "-o", str(out))
    assert proc.returncode == 0 and proc.stdout == ""
    assert f"written to {out}" in proc.stderr
    assert json.loads(out.read_text())["schema"] == "llmdoctor.report/2"


def test_output_file_that_exists_is_refused_before_checking(tmp_path):
    out = tmp_path / "report.txt"
    out.write_text("keep me")
    line = one_line_error(run_cli("check", "--from", H100, "-o", str(out)))
    assert "exists; use --force" in line and out.read_text() == "keep me"


def test_empty_selection_is_bad_usage_with_a_hint():
    line = one_line_error(run_cli("check", "--from", H100, "--select", "gpu.dtype", "--ignore", "gpu"))
    assert "selection is empty" in line and "--ignore" in line


def test_force_color_colours_through_a_pipe_without_format():
    proc = run_cli("check", "--from", H100, "--select", "cuda.driver", env={"NO_COLOR": "", "FORCE_COLOR": "1"})
    assert "\x1b[" in proc.stdout


@pytest.mark.parametrize("value", ["0", "-1"])
def test_timeout_must_be_positive(value):
    assert "must be > 0" in one_line_error(run_cli("check", "--timeout", value))


def test_seq_len_without_model_is_bad_usage():
    line = one_line_error(run_cli("check", "--from", H100, "--seq-len", "8192"))
    assert "--seq-len only applies with --model" in line


@pytest.mark.parametrize("alias", ["bfloat16", "BF16", "torch.bfloat16", "Bf16"])
def test_dtype_aliases_are_accepted_case_insensitively(alias):
    code, report = run_json("check", "--from", V100, "--select", "gpu.dtype", "--dtype", alias, "--json")
    assert code == 1 and statuses(report)["gpu.dtype"] == "fail"  # V100 has no bf16: the alias reached the check


def test_unknown_dtype_names_the_choices():
    line = one_line_error(run_cli("check", "--from", H100, "--dtype", "bfloat17"))
    assert "--dtype 'bfloat17'" in line and "bf16" in line


def test_unknown_flag_suggests_only_a_close_real_flag():
    bogus = one_line_error(run_cli("check", "--from", H100, "--bogus"))
    assert "--bogus" in bogus and "did you mean" not in bogus
    typo = one_line_error(run_cli("check", "--from", H100, "--dtyp", "bf16"))
    assert "did you mean --dtype?" in typo


def test_fail_on_accepts_unknown():
    proc = run_cli("check", "--from", H100, "--select", "cuda.driver", "--fail-on", "UNKNOWN")
    assert proc.returncode in (0, 1), proc.stderr
    assert "error" not in proc.stderr


def test_fail_on_bad_value_names_unknown():
    assert "'unknown'" in one_line_error(run_cli("check", "--from", H100, "--fail-on", "sometimes"))


def test_a_flag_a_check_declares_reaches_it_as_a_setting(monkeypatch):
    """The generic path: a check declares Setting(flag=...), `check` accepts the flag and the check reads it."""
    from llmdoctor import engine
    from llmdoctor.engine import Context, Setting, check
    from llmdoctor.results import passed

    @check("test.answer", "reads a declared flag",
           settings={"answer": Setting(int, 1, "the answer", flag="--the-answer")})
    def check_answer(ctx: Context):
        return passed(f"the answer is {ctx.setting('answer')}")

    registry = engine.Registry()
    for spec in engine.load_registry():
        registry.register(spec)
    registry.register(engine.verify(check_answer.__llmdoctor_check__))
    monkeypatch.setattr(engine, "_REGISTRY", registry)
    code, report = run_json("check", "--from", H100, "--select", "test.answer", "--the-answer", "42", "--json")
    assert code == 0
    assert report["checks"][0]["findings"][0]["message"] == "the answer is 42"
    assert "must be" in one_line_error(run_cli("check", "--from", H100, "--the-answer", "0"))
    assert "--the-answer" in run_cli("check", "--help").stdout


def test_a_check_without_a_model_imports_no_planner_no_torch_and_no_rich_for_plain_text():
    """Start-up pays for what the run needs: the memory planner only with --model, rich only for colour."""
    import subprocess
    import sys

    code = ("import sys\nfrom llmdoctor.cli import main\n"
            f"try: main(['check', '--from', {H100!r}, '--format', 'plain'])\nexcept SystemExit as e: code = e.code\n"
            "heavy = ('torch', 'pynvml', 'rich', 'llmdoctor.memory.plan', 'llmdoctor.memory.architectures')\n"
            "print(code, sorted(m for m in heavy if m in sys.modules), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert " passed" in proc.stdout  # the whole report was written
    assert proc.stderr.strip().splitlines()[-1] == "0 []", proc.stderr
