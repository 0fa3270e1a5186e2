"""--version, shell completion, and colour rules, through the real entry point."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from conftest import SCENARIOS, run_cli

H100 = str(SCENARIOS / "h100x8_healthy.json")


def test_version_lists_own_and_dependency_versions():
    proc = run_cli("--version")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    import llmdoctor

    assert lines[0] == f"llmdoctor {llmdoctor.__version__}"
    assert f"typer {version('typer')}" in lines
    assert f"rich {version('rich')}" in lines
    assert f"nvidia-ml-py {version('nvidia-ml-py')}" in lines
    assert any(line.startswith("torch ") for line in lines)


def test_version_does_not_import_heavy_modules():
    import subprocess
    import sys

    code = ("import sys; from llmdoctor.cli.app import version_text; version_text(); "
            "print(sorted(m for m in ('torch', 'pynvml', 'rich.console') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "torch" not in out and "pynvml" not in out


def test_bash_completion_completes_commands():
    proc = run_cli(env={"_LLMDOCTOR_COMPLETE": "complete_bash", "COMP_WORDS": "llmdoctor conf", "COMP_CWORD": "1"})
    assert proc.returncode == 0
    assert proc.stdout.split() == ["config"]
    ids = run_cli(env={"_LLMDOCTOR_COMPLETE": "complete_bash", "COMP_WORDS": "llmdoctor explain cuda.dr",
                       "COMP_CWORD": "2"})
    assert ids.stdout.split() == ["cuda.driver"]
    fmts = run_cli(env={"_LLMDOCTOR_COMPLETE": "complete_bash", "COMP_WORDS": "llmdoctor check --format ju",
                        "COMP_CWORD": "3"})
    assert fmts.stdout.split() == ["junit"]
    script = run_cli("--show-completion", "bash")
    assert script.returncode == 0 and "_LLMDOCTOR_COMPLETE" in script.stdout


def test_plain_when_not_a_terminal_and_no_color_honoured():
    piped = run_cli("check", "--from", H100, env={"NO_COLOR": ""})
    assert piped.returncode == 0 and "\x1b[" not in piped.stdout  # stdout is a pipe: plain
    forced = run_cli("check", "--from", H100, "--format", "rich", env={"NO_COLOR": "", "FORCE_COLOR": "1"})
    assert "\x1b[" in forced.stdout
    no_color = run_cli("check", "--from", H100, "--format", "rich", env={"NO_COLOR": "1", "FORCE_COLOR": "1"})
    assert "\x1b[" not in no_color.stdout


def test_checks_lists_origin_of_every_check():
    proc = run_cli("checks")
    assert proc.returncode == 0
    assert all(line.rstrip().endswith("]") for line in proc.stdout.splitlines())
    assert any(line.startswith("expect.gpu-count") and "[builtin]" in line for line in proc.stdout.splitlines())


def test_completion_for_the_named_shell_wins_over_the_login_shell():
    proc = run_cli("--show-completion", "bash", env={"SHELL": "/bin/zsh"})
    assert proc.returncode == 0 and "complete -o" in proc.stdout and "compdef" not in proc.stdout
    zsh = run_cli("--show-completion", "zsh", env={"SHELL": "/bin/bash"})
    assert "compdef" in zsh.stdout


def test_a_group_alone_prints_its_help_not_an_error():
    proc = run_cli("memory")
    assert proc.returncode == 0 and "error" not in proc.stderr
    assert "analyze" in proc.stdout and proc.stdout.startswith("Usage: llmdoctor memory")


COMMANDS = ("check", "snapshot", "checks", "explain", "config", "env", "fit", "explain-error", "diff", "fix",
            "fix pin", "fix nccl", "memory analyze")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_names_values_by_their_option(command):
    import re

    help_ = run_cli(*command.split(), "--help").stdout
    assert help_.startswith("Usage: llmdoctor")
    assert not re.search(r"<(str|int|float)>|\{[A-Za-z_|.]+\}| TEXT\b(?! ?\|)| INTEGER\b| FLOAT\b", help_), help_


def test_root_help_lists_every_command_as_the_whole_app_does_without_importing_them():
    import subprocess
    import sys

    import typer

    from llmdoctor.cli.app import COMMANDS, ROOT_ONLY, SUMMARIES, app, build_app

    whole, root = typer.main.get_command(app), typer.main.get_command(build_app(ROOT_ONLY))
    assert list(root.commands) == list(whole.commands) and set(SUMMARIES) == set(COMMANDS)
    for name, command in whole.commands.items():
        for limit in (30, 45, 80, 200):
            assert root.commands[name].get_short_help_str(limit) == command.get_short_help_str(limit), name
    proc = run_cli("--help")
    assert proc.returncode == 0 and all(f"  {name} " in proc.stdout for name in COMMANDS)
    code = ("import sys; from llmdoctor.cli import main\n"
            "try: main(['--help'])\nexcept SystemExit: pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('llmdoctor.engine', 'llmdoctor.cli.check', "
            "'llmdoctor.report', 'llmdoctor.probes'))), file=sys.stderr)")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr
    assert loaded.strip() == "[]", loaded


def test_an_unknown_command_is_answered_with_a_suggestion_from_the_summaries():
    proc = run_cli("chek")
    assert proc.returncode == 2
    assert "No such command 'chek'. Did you mean 'check'" in proc.stderr
