"""llmdoctor env: -f/--format like `fix nccl`, --shell kept as the same option."""

from __future__ import annotations

import pytest

from conftest import SCENARIOS, run_cli

NCCL_BAD = str(SCENARIOS / "nccl_misconfigured.json")


@pytest.mark.parametrize("shell", ["fish", "powershell", "sh"])
def test_format_and_shell_are_the_same_option(shell):
    short = run_cli("env", "-f", shell, "--from", NCCL_BAD)
    long = run_cli("env", "--format", shell, "--from", NCCL_BAD)
    alias = run_cli("env", "--shell", shell, "--from", NCCL_BAD)
    assert short.returncode == 0 and short.stdout == long.stdout == alias.stdout
    assert short.stdout


def test_unknown_shell_is_bad_usage():
    proc = run_cli("env", "-f", "tcsh", "--from", NCCL_BAD)
    assert proc.returncode == 2 and "--format 'tcsh'" in proc.stderr
