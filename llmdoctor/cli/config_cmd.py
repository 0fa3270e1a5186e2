"""llmdoctor config: the effective configuration, and where each value came from."""

from __future__ import annotations

import json
from typing import Any

import typer

from ..engine import load_registry
from . import options


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return str(value)


def show_config(config_file: options.ConfigFile = None, json_: options.Json = False) -> None:
    """Print the effective configuration and where each value comes from (file or default)."""
    from ..config import EXPECTATIONS, load_config

    registry = load_registry()
    config = load_config(config_file, registry)
    if json_:
        typer.echo(json.dumps(config.to_dict(), indent=2))
        return
    rows: list[tuple[str, str]] = []
    typer.echo(f"# configuration file: {config.path if config.path else '(none found; defaults)'}")
    for key, value in (("select", config.select), ("ignore", config.ignore), ("fail-on", config.fail_on)):
        rows.append((f"{key} = {_toml_value(value.value)}", value.source))
    by_check: dict[str, list[tuple[str, Any]]] = {}
    for name, value in sorted(config.settings.items()):
        spec_id, setting = name.rsplit(".", 1)
        by_check.setdefault(spec_id, []).append((setting, value))
    lines = [_row(*r) for r in rows]
    for spec_id, settings in by_check.items():
        lines.append(f'\n[checks."{spec_id}"]')
        spec = registry.get(spec_id)
        for setting, value in settings:
            help_ = spec.settings[setting].help if spec and setting in spec.settings else ""
            lines.append(_row(f"{setting} = {_toml_value(value.value)}", value.source + (f"; {help_}" if help_ else "")))
    lines.append("\n[expect]")
    for key, (_, help_) in EXPECTATIONS.items():
        expected = config.expect.get(key)
        if expected is None:
            lines.append(_row(f"# {key} (not set)", help_))
        else:
            lines.append(_row(f"{key} = {_toml_value(expected.value)}", expected.source))
    typer.echo("\n".join(lines))


def _row(text: str, note: str) -> str:
    return f"{text:<40}  # {note}"
