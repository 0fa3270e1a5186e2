"""The CLI knows no check: no check id and no "<id>.<setting>" key is written in llmdoctor/cli/ (issue 11, §5)."""

from __future__ import annotations

import ast
from pathlib import Path

from llmdoctor.engine import load_registry

CLI = Path(__file__).resolve().parents[2] / "llmdoctor" / "cli"


def _check_words() -> set[str]:
    words = set()
    for spec in load_registry():
        words.add(spec.id)
        words |= {f"{spec.id}.{name}" for name in spec.settings}
    return words


def test_no_check_id_or_setting_key_in_the_cli():
    words = _check_words()
    found = [f"{path.name}:{node.lineno}: {node.value}" for path in sorted(CLI.glob("*.py"))
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and any(node.value == w or node.value.startswith(w + ".") for w in words)]
    assert found == []


def _reads_of(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, key) of every ``x["key"]`` and ``x.get("key")`` with a constant key."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            out.append((node.lineno, node.slice.value))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            out.append((node.lineno, node.args[0].value))
    return out


def test_the_cli_reads_no_check_input_by_name():
    """Check inputs (--model, --dtype, ...) reach checks through one generic path; the CLI never picks one out
    (it did: ``given.get("model")`` in cli/check.py)."""
    inputs = {name for spec in load_registry() for name, setting in spec.settings.items() if setting.flag}
    found = [f"{path.name}:{line}: {key}" for path in sorted(CLI.glob("*.py"))
             for line, key in _reads_of(ast.parse(path.read_text(encoding="utf-8"))) if key in inputs]
    assert found == []
