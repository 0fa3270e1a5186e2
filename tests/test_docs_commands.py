"""The docs install this project and their llmdoctor command lines are ones the real CLI accepts.

Every ``llmdoctor ...`` line in a code block of README.md, docs/ and examples/ (shell lines, and the
exec-form lists of Kubernetes/Docker) is parsed by the real click command, without running it; the
preflight recipes run with ``--fail-on unknown``; no page installs PyPI's other ``llmdoctor``.
"""

from __future__ import annotations

import json
import re
import shlex

import pytest

from conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "examples").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console", "yaml", "yml", "cron", "dockerfile"}
SHELL_STOP = {"|", "||", "&&", ";", ">", ">>", "2>&1", "<", "2>", "&"}
PREFLIGHTS = ("GitHub Actions", "GitLab CI", "Slurm prolog", "Kubernetes initContainer", "Docker entrypoint")


def _blocks(text: str) -> list[str]:
    """The code blocks that hold command lines (shell, CI YAML, cron, Dockerfile; not text or TOML)."""
    return [body for lang, body in FENCE.findall(text) if lang.lower() in SHELL_BLOCKS]


def _join_continuations(block: str) -> list[str]:
    return block.replace("\\\n", " ").splitlines()


def _argv(line: str) -> list[str] | None:
    """The arguments after ``llmdoctor`` in a line of a code block, or None when it runs no llmdoctor."""
    exec_form = re.search(r'\[\s*"(?:[^"]*/)?llmdoctor"\s*,.*\]', line)
    if exec_form:
        return json.loads(exec_form.group(0))[1:]
    line = re.sub(r"^\s*(?:-\s+)?(?:run:\s*)?", "", line.split(" #", 1)[0])
    match = re.search(r"(?:^|[\s($\"'])(?:/\S+/)?llmdoctor(\s.*)?$", line)
    if not match or "pip install" in line or "uv tool" in line or "pipx" in line:
        return None
    try:
        words = shlex.split(match.group(1) or "")
    except ValueError:
        return None
    args = []
    for word in words:
        if word in SHELL_STOP or word.startswith((">", "2>", "|")):
            break
        if word.endswith(")"):  # the end of a $(llmdoctor ...) substitution
            args.append(word.rstrip(")"))
            break
        args.append(word)
    return args


def _command_lines():
    for page in PAGES:
        for block in _blocks(page.read_text(encoding="utf-8")):
            for line in _join_continuations(block):
                args = _argv(line)
                if args and not args[0].startswith(("$", "<")) and args[0] not in ("", "..."):
                    yield page.relative_to(ROOT).as_posix(), args


LINES = list(_command_lines())


# Eager options act while they are parsed (--install-completion writes to the shell's rc file): they are
# looked up, not parsed.
EAGER = ("--install-completion", "--show-completion")


def _parse(args: list[str]) -> None:
    """Parse ``llmdoctor ARGS`` with the real click commands, without running anything."""
    import typer.main

    from llmdoctor.cli.app import app

    group = typer.main.get_command(app)
    if args[0] in EAGER:
        assert any(args[0] in p.opts for p in group.params), args
        return
    def rest(ctx) -> list[str]:  # the words after a group's own options
        return [*getattr(ctx, "_protected_args", ()), *ctx.args]

    ctx = group.make_context("llmdoctor", list(args))
    names = rest(ctx)
    command = group
    while names and hasattr(command, "get_command"):  # a group (typer may vendor its own click)
        sub = command.get_command(ctx, names[0])
        assert sub is not None, f"no such command: {names[0]}"
        command = sub
        ctx = command.make_context(names[0], names[1:], parent=ctx)
        names = rest(ctx) if hasattr(command, "get_command") else []
    fail_on = ctx.params.get("fail_on")
    if fail_on is not None:  # validated by the command itself, not by click: the same values
        from llmdoctor.results import FAIL_ON

        assert fail_on.lower() in FAIL_ON, args


def test_the_docs_have_command_lines_to_check():
    assert len(LINES) >= 10 and any(args[0] == "check" for _, args in LINES)


@pytest.mark.parametrize("page, args", LINES, ids=[f"{p}:{' '.join(a)[:60]}" for p, a in LINES])
def test_documented_command_lines_parse_with_the_real_cli(page, args):
    _parse(args)


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start: end if end > 0 else len(text)]


@pytest.mark.parametrize("title", PREFLIGHTS)
def test_preflight_recipes_fail_on_unknown(title):
    section = _section((ROOT / "docs" / "recipes.md").read_text(encoding="utf-8"), title)
    checks = [args for block in _blocks(section) for line in _join_continuations(block)
              if (args := _argv(line)) and args[0] == "check"]
    assert checks, title
    for args in checks:
        assert "--fail-on" in args and args[args.index("--fail-on") + 1] == "unknown", (title, args)
        _parse(args)


OTHER_PROJECT = re.compile(r"\b(?:pip|pipx|uv tool|uv pip)\s+install(?:\s+-\S+)*\s+llmdoctor(?![\w.-])")


@pytest.mark.parametrize("page", [p for p in PAGES if p.exists()], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_page_installs_pypis_other_llmdoctor(page):
    text = page.read_text(encoding="utf-8")
    assert not OTHER_PROJECT.search(text), OTHER_PROJECT.search(text).group(0)


def test_the_distribution_is_named_llmdoctor_cli_and_keeps_command_and_plugin_group():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "llmdoctor-cli"
    assert project["scripts"]["llmdoctor"].startswith("llmdoctor.")
    plugin = tomllib.loads((ROOT / "examples" / "llmdoctor-example-plugin" / "pyproject.toml").read_text())["project"]
    assert "llmdoctor-cli" in plugin["dependencies"][0] and "llmdoctor.checks" in plugin["entry-points"]
