"""The package's import structure: every module imports alone (no cycles), and each package imports only
what docs/architecture.md says it may."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "llmdoctor"

# package -> packages it must never import (docs/architecture.md, "What each package may import")
FORBIDDEN = {
    "checks": {"probes", "cli", "fixes", "report", "parsers", "testing"},
    "facts": {"checks", "probes", "cli", "fixes", "report", "testing"},
    "fixes": {"checks", "probes", "cli", "report", "testing"},
    "report": {"checks", "probes", "cli", "fixes", "parsers", "testing"},
    "parsers": {"checks", "probes", "cli", "fixes", "report", "testing"},
    "probes": {"checks", "cli", "fixes", "report", "parsers"},
    "memory": {"checks", "probes", "cli", "fixes", "report"},
    "engine": {"checks", "probes", "cli", "fixes", "report", "parsers"},
    "results": {"checks", "probes", "cli", "fixes", "report", "parsers", "engine"},
    "snapshot": {"checks", "probes", "cli", "fixes", "report", "parsers", "engine", "results"},
    "cache": {"checks", "probes", "cli", "fixes", "report", "parsers", "engine", "results", "snapshot", "facts"},
    # imported by everything: they import nothing of llmdoctor
    "frozen": {"checks", "probes", "cli", "fixes", "report", "parsers", "engine", "results", "snapshot", "facts",
               "cache", "data", "memory", "units", "usage"},
    "usage": {"checks", "probes", "cli", "fixes", "report", "parsers", "engine", "results", "snapshot", "facts",
              "cache", "data", "memory", "units", "frozen"},
}


def modules() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] == "__main__":
            continue
        out.append(".".join(parts))
    return out


def imported(module: str) -> set[str]:
    """Every llmdoctor module ``module`` imports, at the top or inside a function."""
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = PACKAGE.parent / module.replace(".", "/") / "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("llmdoctor")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("llmdoctor"):
                found.add(target)
                found |= {f"{target}.{a.name}" for a in node.names}
    return found


def area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("owner", sorted(FORBIDDEN))
def test_packages_import_only_what_they_may(owner):
    bad = []
    for module in modules():
        if area(module) != owner:
            continue
        for target in imported(module):
            if area(target) in FORBIDDEN[owner] and area(target) != owner:
                bad.append(f"{module} imports {target}")
    assert not bad, "\n".join(sorted(bad))


ALONE = (
    "import importlib, json, sys\n"
    "package, names = json.loads(sys.argv[1])\n"
    "bad = []\n"
    "for name in names:\n"
    "    for loaded in [m for m in sys.modules if m == package or m.startswith(package + '.')]:\n"
    "        del sys.modules[loaded]\n"
    "    try:\n"
    "        importlib.import_module(name)\n"
    "    except Exception as exc:\n"
    "        bad.append(f'{name}: {type(exc).__name__}: {exc}')\n"
    "print('\\n'.join(bad))\n"
)


def import_each_alone(package: str, names: list[str], cwd: Path) -> str:
    """Each module imported first, in a module table without ``package``: the failures, one a line."""
    proc = subprocess.run([sys.executable, "-c", ALONE, json.dumps([package, names])], capture_output=True,
                          text=True, timeout=300, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_every_module_imports_alone():
    """Each module imported first, in a clean module table: a cycle shows as a partial-init error.

    Regression: ``import llmdoctor.cli.fix_nccl`` failed (cli/fix.py <-> fix_nccl.py <-> fix_pin.py).
    """
    assert import_each_alone("llmdoctor", modules(), PACKAGE.parent) == ""


def test_a_cycle_is_caught(tmp_path):
    """The check above can fail: of a cyclic pair, the module imported first finds its partner half-built."""
    pkg = tmp_path / "cyclic"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyclic.b import B\nA = 1\n")
    (pkg / "b.py").write_text("from cyclic.a import A\nB = 2\n")
    (pkg / "c.py").write_text("C = 3\n")
    bad = import_each_alone("cyclic", ["cyclic.c", "cyclic.a", "cyclic.b"], tmp_path).splitlines()
    assert [line.split(":")[0] for line in bad] == ["cyclic.a", "cyclic.b"]
    assert all("partially initialized" in line for line in bad), bad


def test_the_cli_fix_module_imports_alone_in_a_fresh_interpreter():
    for name in ("llmdoctor.cli.fix", "llmdoctor.fixes.pin", "llmdoctor.fixes.registry"):
        proc = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
