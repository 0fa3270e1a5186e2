"""Generate the parts of the docs that must not drift from the code.

    python -m llmdoctor.docsgen            # write docs/checks/*.md and llmdoctor/schemas/*.json
    python -m llmdoctor.docsgen --check    # exit 1 and list what is out of date (what the tests do)

- ``docs/checks/<id>.md``: one page per built-in check (id, title, what it needs, its settings, and its
  docstring: what it verifies, why, the fix, sources), and ``docs/checks/index.md``, the catalogue;
- ``llmdoctor/schemas/snapshot.schema.json``: JSON Schema of ``llmdoctor.snapshot/1``, derived from the
  dataclasses in ``llmdoctor/snapshot.py``;
- ``llmdoctor/schemas/report.schema.json``: JSON Schema of ``llmdoctor.report/2`` (with the snapshot).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .engine import CheckSpec, load_registry
from .results import FAIL_ON, REPORT_SCHEMA, Status
from .snapshot import SCHEMA as SNAPSHOT_SCHEMA, Snapshot

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


# --------------------------------------------------------------------------- JSON Schemas


def _type_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        inner = _type_schema(non_none[0], defs) if len(non_none) == 1 else {"anyOf": [_type_schema(a, defs) for a in non_none]}
        if type(None) in args:
            return {"anyOf": [inner, {"type": "null"}]}
        return inner
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # placeholder against recursion
            defs[name] = _dataclass_schema(tp, defs)
        return {"$ref": f"#/$defs/{name}"}
    if origin is tuple:
        return {"type": "array", "items": _type_schema(args[0], defs) if args else {}}
    if origin in (Mapping, dict, typing.Mapping):
        return {"type": "object", "additionalProperties": _type_schema(args[1], defs) if len(args) == 2 else {}}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    return {}


def _dataclass_schema(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    props, required = {}, []
    for f in dataclasses.fields(cls):
        props[f.name] = _type_schema(hints[f.name], defs)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    out["additionalProperties"] = False
    doc = (cls.__doc__ or "").strip().splitlines()
    if doc and not doc[0].startswith(cls.__name__ + "("):
        out["description"] = doc[0]
    return out


def snapshot_schema() -> dict[str, Any]:
    defs: dict[str, Any] = {}
    body = _dataclass_schema(Snapshot, defs)
    body["properties"]["schema"] = {"const": SNAPSHOT_SCHEMA}
    body["required"] = ["schema"]
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": "urn:llmdoctor:schema:snapshot:1",
            "title": f"llmdoctor snapshot ({SNAPSHOT_SCHEMA})",
            "description": "What the probes found: every part may be null (unknown); see llmdoctor/snapshot.py.",
            **body, "$defs": dict(sorted(defs.items()))}


def report_schema() -> dict[str, Any]:
    statuses = [s.value for s in Status]
    nullable_str = {"type": ["string", "null"]}
    snap = snapshot_schema()
    defs = dict(snap.pop("$defs"))
    for key in ("$schema", "$id"):
        snap.pop(key)
    defs["Snapshot"] = snap
    defs["Finding"] = {
        "type": "object", "additionalProperties": False,
        "required": ["status", "message", "evidence", "remedy", "subject"],
        "properties": {
            "status": {"enum": statuses}, "message": {"type": "string"}, "evidence": {"type": "object"},
            "remedy": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/Remedy"}]}, "subject": nullable_str,
        },
    }
    defs["Remedy"] = {
        "type": "object", "additionalProperties": False,
        "required": ["text", "commands", "fix", "links"],
        "properties": {
            "text": {"type": "string"}, "commands": {"type": "array", "items": {"type": "string"}},
            "fix": nullable_str, "links": {"type": "array", "items": {"type": "string"}},
        },
    }
    defs["CheckResult"] = {
        "type": "object", "additionalProperties": False,
        "required": ["id", "title", "status", "findings", "seconds", "origin"],
        "properties": {
            "id": {"type": "string", "pattern": r"^[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$"},
            "title": {"type": "string"}, "status": {"enum": statuses},
            "findings": {"type": "array", "items": {"$ref": "#/$defs/Finding"}},
            "seconds": {"type": "number", "minimum": 0}, "origin": {"type": "string"},
        },
    }
    return {
        "$schema": JSON_SCHEMA_DIALECT, "$id": "urn:llmdoctor:schema:report:1",
        "title": f"llmdoctor report ({REPORT_SCHEMA})",
        "description": "The output of 'llmdoctor check --json'.",
        "type": "object", "additionalProperties": False,
        "required": ["schema", "summary", "ok", "fail_on", "checks", "snapshot"],
        "properties": {
            "schema": {"const": REPORT_SCHEMA},
            "summary": {"type": "object", "additionalProperties": False, "required": statuses,
                        "properties": {s: {"type": "integer", "minimum": 0} for s in statuses}},
            "ok": {"type": "boolean"},
            "fail_on": {"enum": list(FAIL_ON)},
            "config": {"description": "The configuration file the verdicts used (llmdoctor.toml, pyproject.toml "
                                      "or --config), null when none.", "type": ["string", "null"]},
            "checks": {"type": "array", "items": {"$ref": "#/$defs/CheckResult"}},
            "snapshot": {"$ref": "#/$defs/Snapshot"},
        },
        "$defs": dict(sorted(defs.items())),
    }


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- check pages


def _settings_table(spec: CheckSpec) -> str:
    if not spec.settings:
        return ""
    rows = ["| setting | type | default | meaning |", "|---|---|---|---|"]
    for name, s in sorted(spec.settings.items()):
        rows.append(f"| `{name}` | {getattr(s.type, '__name__', s.type)} | `{s.default!r}` | {s.help} |")
    example = f'```toml\n[checks."{spec.id}"]\n' + "\n".join(
        f"{name} = {json.dumps(s.default) if not isinstance(s.default, bool) else str(s.default).lower()}"
        for name, s in sorted(spec.settings.items())) + "\n```"
    return "\n## Settings\n\nSet in `llmdoctor.toml` (see [Configuration](../configuration.md)); the check reads " \
           "each with `ctx.setting(\"<setting>\")`.\n\n" + "\n".join(rows) + "\n\n" + example + "\n"


def check_page(spec: CheckSpec) -> str:
    needs = ", ".join(f"`{n}`" for n in spec.needs) or "nothing"
    return (f"# `{spec.id}`\n\n**{spec.title}**\n\n"
            f"- needs: {needs} (the check skips, with the reason, when one is unknown)\n"
            f"- run it alone: `llmdoctor check --select {spec.id}`; explain it: `llmdoctor explain {spec.id}`\n\n"
            f"{spec.explanation or '(no explanation)'}\n"
            f"{_settings_table(spec)}\n"
            f"<!-- generated by `python -m llmdoctor.docsgen` from {spec.func.__module__}; do not edit -->\n")


def checks_index(specs: list[CheckSpec]) -> str:
    lines = ["# Check catalogue", "",
             "Every built-in check, by area.  Each page is generated from the check's own docstring "
             "(`python -m llmdoctor.docsgen`); `llmdoctor checks` lists the same, plugins included.", ""]
    area = None
    for spec in specs:
        if spec.area != area:
            area = spec.area
            lines += ["", f"## {area}", "", "| check | verifies |", "|---|---|"]
        lines.append(f"| [`{spec.id}`]({spec.id}.md) | {spec.title} |")
    lines += ["", "<!-- generated by `python -m llmdoctor.docsgen`; do not edit -->"]
    return "\n".join(lines) + "\n"


def builtin_specs() -> list[CheckSpec]:
    return [s for s in load_registry() if s.origin == "builtin"]


# Folders whose every page is generated: a page without its check (or knowledge-base code) is removed.
GENERATED_FOLDERS = (Path("docs") / "checks", Path("docs") / "errors")


def expected_files(root: Path) -> dict[Path, str]:
    """Every generated file and its content: check pages, error-code pages, JSON Schemas."""
    from . import docsgen_errors

    specs = builtin_specs()
    files = {root / "docs" / "checks" / f"{s.id}.md": check_page(s) for s in specs}
    files[root / "docs" / "checks" / "index.md"] = checks_index(specs)
    files.update(docsgen_errors.expected_files(root))
    files[SCHEMA_DIR / "snapshot.schema.json"] = _json(snapshot_schema())
    files[SCHEMA_DIR / "report.schema.json"] = _json(report_schema())
    return files


def _stale(root: Path, files: dict[Path, str]) -> list[Path]:
    return [path for folder in GENERATED_FOLDERS if (root / folder).is_dir()
            for path in sorted((root / folder).glob("*.md")) if path not in files]


def drift(root: Path) -> list[str]:
    """What is out of date: missing, changed, or pages whose check or code no longer exists."""
    files = expected_files(root)
    problems = []
    for path, text in files.items():
        if not path.exists():
            problems.append(f"missing: {path}")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"out of date: {path}")
    return problems + [f"no such check or code any more: {path}" for path in _stale(root, files)]


def write(root: Path) -> list[Path]:
    from .fixes.writer import write_artifact

    files = expected_files(root)
    changed = []
    for path, text in files.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_artifact(path, text, force=True, backup=False)
            changed.append(path)
    for path in _stale(root, files):
        path.unlink()
        changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[args.index("--root") + 1]) if "--root" in args else Path.cwd()
    if "--check" in args:
        problems = drift(root)
        for p in problems:
            print(p)
        if problems:
            print("run: python -m llmdoctor.docsgen", file=sys.stderr)
        return 1 if problems else 0
    for path in write(root):
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
