"""Environment scripts in many shells and formats, with quoting that sets exactly the given value.

An ``Action`` sets (value is a str) or unsets (value is None) one variable, with a comment saying why.
``render(actions, fmt)`` turns a list of them into text for:

- ``sh`` (also bash, zsh): ``export NAME='value'``; POSIX single quotes keep every byte literally, a
  quote is written as ``'\\''``.  Works in bash, zsh, dash, ksh.
- ``fish``: ``set -gx NAME 'value'``; inside fish single quotes only ``\\'`` and ``\\\\`` are escapes.
- ``powershell``: ``$env:NAME = 'value'``; single-quoted, a quote doubled.  PowerShell also treats the
  typographic quotes U+2018-U+201B as single quotes, so they are doubled too.
- ``dotenv``: for ``docker run --env-file FILE``, docker compose ``env_file:`` and python-dotenv.  A value
  made of word characters (``[A-Za-z0-9_@%+=:,./-]``, every value NCCL takes) is written bare,
  ``NAME=value``, which every reader takes literally.  Any other value is written ``NAME='value'`` as
  python-dotenv reads it (no ``${...}`` interpolation, ``\\`` and ``\'`` the only escapes), with a comment
  saying that docker --env-file, which takes values literally, would keep the quotes.
- ``docker``: only ``-e NAME=VALUE`` words, one pair per line, no comments, for
  ``docker run $(llmdoctor fix nccl -f docker) IMAGE``: an unquoted command substitution is split on
  whitespace and nothing is unquoted, so each word is written bare; a value that is not made of word
  characters cannot travel that way and is refused (``ValueError``: use the dotenv format).  Unsets are
  left out: a variable not passed is not set in the container.
- ``k8s``: a Kubernetes container ``env:`` list (``spec.containers[].env``); values as YAML double-quoted
  scalars.

Variable names must be portable identifiers (``[A-Za-z_][A-Za-z0-9_]*``); values must not contain NUL
(no environment can hold one).  Both are checked: ``ValueError`` otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ..frozen import frozen

FORMATS = ("sh", "bash", "zsh", "fish", "powershell", "dotenv", "docker", "k8s")
ALIASES = {"bash": "sh", "zsh": "sh", "pwsh": "powershell", "ps1": "powershell", "kubernetes": "k8s", "env": "dotenv"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# characters a shell neither splits on, globs, expands nor unquotes (shlex.quote leaves these bare)
_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]*\Z")


def is_word(value: str) -> bool:
    """Whether a value survives unquoted word splitting and every dotenv reader unchanged."""
    return bool(_WORD.match(value))


@frozen
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


def _sh(a: Action) -> list[str]:
    return [*_comment("#", a.why), f"unset {a.name}" if a.value is None else f"export {a.name}={sh_quote(a.value)}"]


def _fish(a: Action) -> list[str]:
    return [*_comment("#", a.why), f"set -e {a.name} 2>/dev/null; or true" if a.value is None
            else f"set -gx {a.name} {fish_quote(a.value)}"]


def _powershell(a: Action) -> list[str]:
    return [*_comment("#", a.why), f"Remove-Item Env:{a.name} -ErrorAction SilentlyContinue" if a.value is None
            else f"$env:{a.name} = {ps_quote(a.value)}"]


def _dotenv(a: Action) -> list[str]:
    lines = _comment("#", a.why)
    if a.value is None:
        return [*lines, f"# {a.name}: remove it from this file (a dotenv file cannot unset)"]
    if is_word(a.value):
        return [*lines, f"{a.name}={a.value}"]
    return [*lines, f"# {a.name} is quoted for python-dotenv; docker --env-file would keep the quotes",
            f"{a.name}={dotenv_quote(a.value)}"]


def _docker(a: Action) -> list[str]:
    if a.value is None:
        return []  # not passed = not set in the container
    if not is_word(a.value):
        raise ValueError(f"{a.name}={a.value!r} cannot be passed as a bare `docker run -e` word (spaces, quotes or "
                         "shell characters); use the dotenv format with docker run --env-file")
    return [f"-e {a.name}={a.value}"]


def _k8s(a: Action) -> list[str]:
    lines = _comment("  #", a.why)
    if a.value is None:
        return [*lines, f"  # {a.name}: remove it from the container's env"]
    return [*lines, f"  - name: {a.name}", f"    value: {yaml_quote(a.value)}"]


_RENDERERS = {"sh": _sh, "fish": _fish, "powershell": _powershell, "dotenv": _dotenv, "docker": _docker, "k8s": _k8s}


def render(actions: list[Action], fmt: str, header: str = "") -> str:
    """The script for ``fmt``; ``header`` becomes a leading comment (not in the docker format: words only)."""
    fmt = canonical(fmt)
    for a in actions:
        _check(a)
    lines: list[str] = [] if fmt == "docker" else _comment("#", header)
    if fmt == "k8s":
        lines.append("env:" if any(a.value is not None for a in actions) else "env: []")
    for a in actions:
        lines += _RENDERERS[fmt](a)
    return "\n".join(lines) + "\n" if lines else ""


def docker_args(actions: list[Action]) -> list[str]:
    """The ``-e NAME=value`` arguments (as argv) that the docker format encodes."""
    out = []
    for a in actions:
        if a.value is not None:
            out += ["-e", f"{a.name}={a.value}"]
    return out
