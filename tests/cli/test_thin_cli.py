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
