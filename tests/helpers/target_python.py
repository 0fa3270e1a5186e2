"""The worker scripts in llmdoctor/probes/ run inside the *target* interpreter (Python 3.8+).

``oldest_python()`` finds the oldest CPython >= 3.8 on this machine (python3.8, 3.9, ... on PATH or in
pyenv) to run them under; ``newer_syntax(source)`` lists what a 3.8 interpreter (or
``typing.get_type_hints`` on one) could not take: ``X | Y`` types and builtin generics (``list[str]``).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
from pathlib import Path

BUILTIN_GENERICS = {"list", "dict", "set", "frozenset", "tuple", "type"}


def _candidates(minor: int) -> list[str]:
    found = [p for p in (shutil.which(f"python3.{minor}"),) if p]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found += sorted(str(p) for p in pyenv.glob(f"3.{minor}.*/bin/python3.{minor}"))
    return found


def oldest_python(newest_minor: int = 10) -> tuple[str, tuple[int, int]] | None:
    """(path, (3, minor)) of the oldest working CPython from 3.8 up to 3.``newest_minor``; None if none."""
    for minor in range(8, newest_minor + 1):
        for path in _candidates(minor):
            try:
                ok = subprocess.run([path, "-c", "import sys; assert sys.version_info[:2] == (3, %d)" % minor],
                                    capture_output=True, timeout=20).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ok = False
            if ok:
                return path, (3, minor)
    return None


def newer_syntax(source: str) -> list[str]:
    """'line N: ...' for every ``X | Y`` in a type and every builtin generic, in annotations or not."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in BUILTIN_GENERICS:
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    for ann in _annotations(ast.parse(source)):
        for node in ast.walk(ann):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def _annotations(tree: ast.AST) -> list[ast.expr]:
    out: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            every = args.posonlyargs + args.args + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a]
            out += [a.annotation for a in every if a.annotation is not None]
            out += [node.returns] if node.returns is not None else []
        elif isinstance(node, ast.AnnAssign):
            out.append(node.annotation)
    return out
