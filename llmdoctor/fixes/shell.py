"""Environment scripts in many shells and formats, with quoting that sets exactly the given value.

An ``Action`` sets (value is a str) or unsets (value is None) one variable, with a comment saying why.
``render(actions, fmt)`` turns a list of them into text for:

- ``sh`` (also bash, zsh): ``export NAME='value'``; POSIX single quotes keep every byte literally, a
  quote is written as ``'\\''``.  Works in bash, zsh, dash, ksh.
- ``fish``: ``set -gx NAME 'value'``; inside fish single quotes only ``\\'`` and ``\\\\`` are escapes.
- ``powershell``: ``$env:NAME = 'value'``; single-quoted, a quote doubled.  PowerShell also treats the
  typographic quotes U+2018-U+201B as single quotes, so they are doubled too.
- ``dotenv``: ``NAME='value'`` as python-dotenv reads it (single quotes: no ``${...}`` interpolation,
  ``\\`` and ``\'`` are the only escapes).  Other dotenv readers (docker --env-file) differ.
- ``docker``: ``-e 'NAME=value'`` flags for ``docker run`` (POSIX-quoted for the shell that runs docker).
- ``k8s``: a Kubernetes container ``env:`` list; values as YAML double-quoted scalars.

Variable names must be portable identifiers (``[A-Za-z_][A-Za-z0-9_]*``); values must not contain NUL
(no environment can hold one).  Both are checked: ``ValueError`` otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FORMATS = ("sh", "bash", "zsh", "fish", "powershell", "dotenv", "docker", "k8s")
ALIASES = {"bash": "sh", "zsh": "sh", "pwsh": "powershell", "ps1": "powershell", "kubernetes": "k8s", "env": "dotenv"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Action:
    name: str
    value: str | None  # None = unset
    why: str = ""


def canonical(fmt: str) -> str:
    f = fmt.lower()
    f = ALIASES.get(f, f)
    if f not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    return f


def _check(action: Action) -> None:
    if not _NAME.match(action.name):
        raise ValueError(f"not a portable variable name: {action.name!r}")
    if action.value is not None and "\x00" in action.value:
        raise ValueError(f"{action.name}: a value cannot contain a NUL character")


def sh_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def fish_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_PS_QUOTES = "'\u2018\u2019\u201a\u201b"


def ps_quote(value: str) -> str:
    return "'" + "".join(c + c if c in _PS_QUOTES else c for c in value) + "'"


def dotenv_quote(value: str) -> str:
    """python-dotenv single quotes: no interpolation; only \\\\ and \\' are escapes (CR may be normalised)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def yaml_quote(value: str) -> str:
    """A YAML double-quoted scalar (YAML 1.1 and 1.2) that reads back as exactly ``value``."""
    out = []
    for c in value:
        o = ord(c)
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif o < 0x20 or 0x7F <= o <= 0x9F or o in (0x2028, 0x2029, 0xFEFF) or 0xD800 <= o <= 0xDFFF or o in (0xFFFE, 0xFFFF):
            out.append(f"\\x{o:02x}" if o <= 0xFF else f"\\u{o:04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _comment(prefix: str, why: str) -> list[str]:
    if not why:
        return []
    # a comment is one line: newlines in a reason must not end the comment, other control characters are
    # shown escaped (YAML refuses them even in comments)
    lines = why.replace("\r", " ").split("\n")
    return [f"{prefix} " + "".join(c if c.isprintable() else ascii(c)[1:-1] for c in line) for line in lines]


def render(actions: list[Action], fmt: str, header: str = "") -> str:
    fmt = canonical(fmt)
    for a in actions:
        _check(a)
    lines: list[str] = []
    cprefix = "#"
    if header:
        lines += _comment(cprefix, header)
    if fmt == "k8s":
        lines.append("env:")
    for a in actions:
        if fmt == "sh":
            lines += _comment("#", a.why)
            lines.append(f"unset {a.name}" if a.value is None else f"export {a.name}={sh_quote(a.value)}")
        elif fmt == "fish":
            lines += _comment("#", a.why)
            lines.append(f"set -e {a.name} 2>/dev/null; or true" if a.value is None else f"set -gx {a.name} {fish_quote(a.value)}")
        elif fmt == "powershell":
            lines += _comment("#", a.why)
            lines.append(f"Remove-Item Env:{a.name} -ErrorAction SilentlyContinue" if a.value is None
                         else f"$env:{a.name} = {ps_quote(a.value)}")
        elif fmt == "dotenv":
            lines += _comment("#", a.why)
            lines.append(f"# {a.name}: remove it from this file (a dotenv file cannot unset)" if a.value is None
                         else f"{a.name}={dotenv_quote(a.value)}")
        elif fmt == "docker":
            lines += _comment("#", a.why)
            lines.append(f"# {a.name}: do not pass it (docker run -e cannot unset)" if a.value is None
                         else f"-e {sh_quote(a.name + '=' + a.value)}")
        elif fmt == "k8s":
            lines += _comment("  #", a.why)
            if a.value is None:
                lines.append(f"  # {a.name}: remove it from the container's env")
            else:
                lines.append(f"  - name: {a.name}")
                lines.append(f"    value: {yaml_quote(a.value)}")
    if fmt == "k8s" and not any(a.value is not None for a in actions):
        lines[lines.index("env:")] = "env: []"
    return "\n".join(lines) + "\n"


def docker_args(actions: list[Action]) -> list[str]:
    """The ``-e NAME=value`` arguments (unquoted, as argv) that the docker format encodes."""
    out = []
    for a in actions:
        if a.value is not None:
            out += ["-e", f"{a.name}={a.value}"]
    return out
