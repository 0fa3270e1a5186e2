"""No module of llmdoctor refers to a file of this repository that does not exist (issue 11, §6).

Every string in llmdoctor/ (messages, docstrings, paths) is scanned for paths with a file suffix that name
this repository's files: ``docs/formats.md``, ``llmdoctor/schemas/report.schema.json``, or, relative to
the package, ``data/gpus.json`` and ``facts/derived.py``.  Paths of other projects (a URL, or one named
after its repository: "NVIDIA/nccl docs/userguide/source/env.rst") are not ours and are left alone.
``data.load("name")`` with a constant name must name a table in llmdoctor/data/.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "llmdoctor"
PATH = re.compile(r"(?<![\w/.-])((?:\.?[\w-]+/)+[\w.-]+\.(?:py|json|md|toml|txt|sh|rst|ya?ml|cfg|ini|typed))\b")
URL = re.compile(r"https?://\S+")
OTHER_REPO = re.compile(r"\b[\w-]+/[\w.-]+\s+$")  # "pytorch/pytorch " just before the path
OURS = {p.name for p in ROOT.iterdir() if not p.name.startswith(".") or p.name == ".ci"} \
    | {p.name for p in PACKAGE.iterdir() if p.is_dir()}


def _strings(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):
            yield node.lineno, "".join(v.value for v in node.values if isinstance(v, ast.Constant))


def references(text: str) -> list[str]:
    """The paths ``text`` names that belong to this repository (by their first folder)."""
    text = " ".join(URL.sub(" ", text).split())
    found = []
    for m in PATH.finditer(text):
        path = m.group(1)
        if path.split("/", 1)[0] in OURS and not OTHER_REPO.search(text[:m.start()]):
            found.append(path)
    return found


def _exists(path: str) -> bool:
    return (ROOT / path).exists() or (PACKAGE / path).exists()


def test_references_tell_ours_from_other_projects():
    assert references("see data/gpus.json and docs/formats.md") == ["data/gpus.json", "docs/formats.md"]
    assert references("NVIDIA/nccl docs/userguide/source/env.rst; pytorch/pytorch\n    .ci/build.sh") == []
    assert references("https://github.com/x/y/blob/main/docs/a.md, vllm/engine/arg_utils.py") == []
    assert not _exists("data/no_such_table.json") and _exists("data/gpus.json") and _exists("docs/formats.md")


def test_every_repository_file_a_module_names_exists():
    missing = [f"{path.relative_to(ROOT)}:{line}: {ref}"
               for path in sorted(PACKAGE.rglob("*.py")) for line, text in _strings(path)
               for ref in references(text) if not _exists(ref)]
    assert missing == []


def test_every_table_data_load_names_exists():
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "load" \
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str) \
                    and "data" in ast.unparse(node.func) + path.as_posix():
                if not (PACKAGE / "data" / f"{node.args[0].value}.json").is_file():
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.args[0].value}")
    assert missing == []
