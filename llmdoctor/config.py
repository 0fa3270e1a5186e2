"""Configuration: ``llmdoctor.toml``, ``[tool.llmdoctor]`` in ``pyproject.toml``, or ``--config FILE``.

Searched from the working directory upward to the repository or project root (see :func:`find_config`);
in each folder ``llmdoctor.toml`` wins over a ``pyproject.toml`` that has a ``[tool.llmdoctor]`` table.
Files owned by another user or writable by others are ignored with a warning.  The command line wins
over the file.

    select = ["cuda", "gpu"]          # check ids or prefixes (default: all)
    ignore = ["cudnn.version"]
    fail-on = "warn"                  # "fail" (default), "warn" or "unknown"

    [checks."nccl.shm"]               # per-check settings: exactly those the check declares
    min_bytes = 1073741824            # reaches the check as ctx.option("nccl.shm.min_bytes")

    [expect]                          # fleet expectations: each becomes an expect.* check
    gpu-count = 8
    gpu-model = "H100"
    min-driver = "535.104"
    torch = ">=2.4,<2.6"
    packages = ["vllm>=0.6", "flash-attn"]
    env = { NCCL_IB_DISABLE = "0" }

Unknown keys and bad values raise ``UsageError`` naming the file and the key (exit 2).
Reading the file is input, like ``inputs.py``: checks only ever see the resulting options.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .engine import CheckSpec, Registry, UsageError
from .frozen import frozen

FILE_NAME = "llmdoctor.toml"
DEFAULT = "default"
COMMAND_LINE = "command line"
from .results import FAIL_ON  # noqa: E402  (the one vocabulary: fail, warn, unknown)
TOP_KEYS = ("select", "ignore", "fail-on", "checks", "expect")


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib


# --------------------------------------------------------------------------- expectations


def _str(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value.strip()


def _count(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("expected a whole number >= 0")
    return value


def _version(key: str, value: Any) -> str:
    from packaging.version import InvalidVersion, Version

    text = _str(key, value)
    try:
        Version(text)
    except InvalidVersion:
        raise ValueError(f"{text!r} is not a version like '535.104.05'") from None
    return text


def _specifier(key: str, value: Any) -> str:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    text = _str(key, value)
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        raise ValueError(f"{text!r} is not a version specifier like '>=2.4,<2.6'") from None
    return text


def _requirements(key: str, value: Any) -> tuple[str, ...]:
    from packaging.requirements import InvalidRequirement, Requirement

    if isinstance(value, str) or not isinstance(value, list):
        raise ValueError('expected a list of requirements like ["vllm>=0.6", "flash-attn"]')
    out = []
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"{item!r} is not a requirement string")
        try:
            Requirement(item)
        except InvalidRequirement:
            raise ValueError(f"{item!r} is not a requirement like 'vllm>=0.6'") from None
        out.append(item.strip())
    return tuple(out)


def _env(key: str, value: Any) -> dict[str, str]:
    from .probes.env import is_allowed

    if not isinstance(value, dict):
        raise ValueError('expected a table like { NCCL_IB_DISABLE = "0" }')
    out = {}
    for name, wanted in value.items():
        if not isinstance(wanted, str):
            raise ValueError(f"{name}: expected a string value")
        if not is_allowed(name):
            raise ValueError(f"{name}: llmdoctor does not record this variable (see llmdoctor/probes/env.py)")
        from .redact import is_secret_name

        if is_secret_name(name):
            raise ValueError(f"{name}: a secret's value is redacted in snapshots, so it cannot be expected")
        out[name] = wanted
    return out


# expectation key -> (validator, help).  Each key K is read by the check ``expect.K``.
EXPECTATIONS: dict[str, tuple[Callable[[str, Any], Any], str]] = {
    "gpu-count": (_count, "number of NVIDIA GPUs this host must have"),
    "gpu-model": (_str, "text every GPU name must contain, case-insensitive (e.g. \"H100\")"),
    "min-driver": (_version, "lowest acceptable NVIDIA driver version (e.g. \"535.104\")"),
    "torch": (_specifier, "version specifier torch must satisfy (e.g. \">=2.4,<2.6\")"),
    "packages": (_requirements, "requirements that must be installed (e.g. [\"vllm>=0.6\"])"),
    "env": (_env, "environment variables that must have these values"),
}


# --------------------------------------------------------------------------- the effective configuration


@frozen
class Value:
    """A configured value and where it came from (default, file, command line)."""

    value: Any
    source: str


@dataclass
class Config:
    """The configuration of one run: selection, fail-on level, check options."""

    path: Path | None = None
    select: Value = field(default_factory=lambda: Value((), DEFAULT))
    ignore: Value = field(default_factory=lambda: Value((), DEFAULT))
    fail_on: Value = field(default_factory=lambda: Value("fail", DEFAULT))
    settings: dict[str, Value] = field(default_factory=dict)  # "<check id>.<name>" -> value
    expect: dict[str, Value] = field(default_factory=dict)  # "<key>" -> value

    def options(self) -> dict[str, Any]:
        """What checks see through ``ctx.option``."""
        opts = {name: v.value for name, v in self.settings.items()}
        opts.update({f"expect.{key}": v.value for key, v in self.expect.items()})
        return opts

    def override(self, select: Iterable[str] | None = None, ignore: Iterable[str] | None = None,
                 fail_on: str | None = None) -> "Config":
        select, ignore = list(select or ()), list(ignore or ())
        if select:
            self.select = Value(tuple(select), COMMAND_LINE)
        if ignore:
            self.ignore = Value(tuple(ignore), COMMAND_LINE)
        if fail_on is not None:
            self.fail_on = Value(fail_on, COMMAND_LINE)
        return self

    def to_dict(self) -> dict[str, Any]:
        def entry(v: Value) -> dict[str, Any]:
            value = list(v.value) if isinstance(v.value, tuple) else v.value
            return {"value": value, "source": v.source}

        return {
            "file": str(self.path) if self.path else None,
            "select": entry(self.select),
            "ignore": entry(self.ignore),
            "fail-on": entry(self.fail_on),
            "checks": {name: entry(v) for name, v in sorted(self.settings.items())},
            "expect": {key: entry(v) for key, v in sorted(self.expect.items())},
        }


MAX_CONFIG_BYTES = 4 * 2**20
ROOT_MARKERS = (".git", ".hg", ".svn")  # a repository root: the search stops there


def warn(message: str) -> None:
    sys.stderr.write(f"llmdoctor: warning: {message}\n")
    sys.stderr.flush()


def untrusted(path: Path, st: os.stat_result | None = None) -> str | None:
    """Why ``path`` must not configure this run, or None when it may.

    Like git's ``safe.directory``: a file owned by another user (root excepted: root can replace llmdoctor
    itself) or writable by group or others could have been written by someone else, and a configuration
    decides verdicts (``ignore = [...]`` turns a failure into "OK").
    """
    st = st or path.stat()
    me = os.geteuid() if hasattr(os, "geteuid") else None
    if me is not None and st.st_uid not in (me, 0):
        return f"owned by uid {st.st_uid}, not by you (uid {me}) or root"
    if st.st_mode & 0o022:
        return f"writable by {'group and others' if st.st_mode & 0o022 == 0o022 else 'group' if st.st_mode & 0o020 else 'others'} (mode {st.st_mode & 0o777:o})"
    return None


def _candidate(path: Path) -> os.stat_result | None:
    """The stat of a regular file ``path``, or None (absent, a directory, a FIFO ...: never opened)."""
    import stat

    try:
        st = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        if path.exists():
            warn(f"ignoring {path}: not a regular file")
        return None
    return st


def _has_table(pyproject: Path) -> bool:
    """Whether a (bounded, readable) pyproject.toml has a [tool.llmdoctor] table."""
    from .boundedio import read_file

    try:
        text = read_file(pyproject, MAX_CONFIG_BYTES, "pyproject.toml").decode("utf-8")
    except (UsageError, UnicodeDecodeError) as exc:
        warn(f"ignoring {pyproject}: {str(exc).removeprefix(f'{pyproject}: ')[:120]}")
        return False
    if "llmdoctor" not in text:  # cheap: most pyproject files never mention us
        return False
    try:
        data = _toml().loads(text)
    except Exception:  # noqa: BLE001 - someone else's broken file is not ours to report ...
        import re

        # ... unless it has our table: then its error is reported (silently ignoring it would change verdicts)
        return re.search(r"^\s*\[\s*tool\s*\.\s*llmdoctor\b", text, re.MULTILINE) is not None
    return isinstance(data.get("tool"), dict) and "llmdoctor" in data["tool"]


def _search_root(folder: Path) -> bool:
    """Whether the search stops after ``folder``: a repository root, a project root, or the home directory."""
    if any((folder / marker).exists() for marker in ROOT_MARKERS) or (folder / "pyproject.toml").is_file():
        return True
    try:
        return folder == Path.home().resolve()
    except (OSError, RuntimeError):
        return False


def find_config(start: Path | None = None) -> tuple[Path, bool] | None:
    """The nearest trusted ``llmdoctor.toml``, or ``pyproject.toml`` with ``[tool.llmdoctor]``, from ``start`` up.

    Returns (path, is_pyproject) or None.  The search walks from ``start`` to its parents and stops at
    the first folder that is a repository root (it holds ``.git``, ``.hg`` or ``.svn``), a project root (it
    holds a ``pyproject.toml``, with or without a ``[tool.llmdoctor]`` table) or the home directory, that
    folder included: a file above the project is someone else's.  In each folder ``llmdoctor.toml`` wins.
    A file another user owns, or that group or others may write, is ignored with a warning naming it.
    """
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        for name, is_pyproject in ((FILE_NAME, False), ("pyproject.toml", True)):
            path = candidate / name
            st = _candidate(path)
            if st is None or (is_pyproject and not _has_table(path)):
                continue
            why = untrusted(path, st)
            if why:
                warn(f"ignoring {path}: {why}; pass it with --config to use it anyway")
                continue
            return path, is_pyproject
        if _search_root(candidate):
            return None
    return None


def _read(path: Path, is_pyproject: bool) -> dict[str, Any]:
    from .boundedio import read_file

    try:
        if path.exists():
            text = read_file(path, MAX_CONFIG_BYTES, "configuration").decode("utf-8")
        else:
            text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"--config {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    tomllib = _toml()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    except (ValueError, RecursionError) as exc:  # a number with more digits than Python converts, deep nesting
        raise UsageError(f"{path}: not a readable TOML file ({type(exc).__name__}: {str(exc)[:80]})") from None
    if is_pyproject:
        tool = data.get("tool")
        if tool is not None and not isinstance(tool, dict):
            raise UsageError(f"{path}: 'tool' must be a table ([tool.llmdoctor]), got {type(tool).__name__}")
        table = (tool or {}).get("llmdoctor")
        if table is None:
            raise UsageError(f"{path}: has no [tool.llmdoctor] table")
        if not isinstance(table, dict):
            raise UsageError(f"{path}: tool.llmdoctor must be a table")
        return table
    return dict(data)


def _near(word: str, options: Iterable[str]) -> str:
    hits = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {hits[0]!r}?)" if hits else ""


def _patterns(where: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        raise UsageError(f"{where}: expected a list of check ids or prefixes, got the string {value!r}; "
                         f"write [{', '.join(repr(p.strip()) for p in value.split(',') if p.strip())}]")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: expected a list of check ids or prefixes")
    return tuple(p.strip() for item in value for p in item.split(",") if p.strip())


def _known_patterns(where: str, patterns: Iterable[str], registry: Registry) -> None:
    from .engine import _matches

    ids = registry.ids()
    for pattern in patterns:
        if not any(_matches(i, pattern) for i in ids):
            raise UsageError(f"{where}: unknown check id {pattern!r}{_near(pattern, ids)}; see 'llmdoctor checks'")


def _setting_value(where: str, declared: Any, value: Any) -> Any:
    kind = declared.type
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise UsageError(f"{where}: expected {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def load_config(path: str | os.PathLike[str] | None = None, registry: Registry | None = None,
                start: Path | None = None) -> Config:
    """Find (or read ``path``), parse and validate the configuration; defaults when there is none.

    With ``registry``, ``[checks."<id>"]`` tables are validated against what each check declares.
    """
    if path is not None:
        file = Path(path)
        found: tuple[Path, bool] | None = (file, file.name == "pyproject.toml")
    else:
        found = find_config(start)
    config = Config()
    specs: Mapping[str, CheckSpec] = {s.id: s for s in registry} if registry is not None else {}
    for spec in specs.values():
        for name, declared in spec.settings.items():
            config.settings[f"{spec.id}.{name}"] = Value(declared.default, DEFAULT)
    if found is None:
        return config
    file, is_pyproject = found
    data = _read(file, is_pyproject)
    config.path = file
    prefix = f"{file}: " + ("tool.llmdoctor." if is_pyproject else "")
    reader = _Reader(config, prefix, str(file), registry, specs)
    for key, value in data.items():
        reader.read(key, value)
    return config


@dataclass
class _Reader:
    """Reads one configuration file's top-level keys into ``config``, validating each (UsageError: where and why)."""

    config: Config
    prefix: str
    src: str
    registry: Registry | None
    specs: Mapping[str, CheckSpec]

    def read(self, key: str, value: Any) -> None:
        where = f"{self.prefix}{key}"
        if key not in TOP_KEYS:
            raise UsageError(f"{where}: unknown key{_near(key, TOP_KEYS)}; known: {', '.join(TOP_KEYS)}")
        if key in ("select", "ignore"):
            patterns = _patterns(where, value)
            if self.registry is not None:
                _known_patterns(where, patterns, self.registry)
            setattr(self.config, key, Value(patterns, self.src))
        elif key == "fail-on":
            if not isinstance(value, str) or value.lower() not in FAIL_ON:
                raise UsageError(f"{where}: expected one of {', '.join(json.dumps(v) for v in FAIL_ON)}, got {value!r}")
            self.config.fail_on = Value(value.lower(), self.src)
        elif key == "checks":
            if not isinstance(value, dict):
                raise UsageError(f'{where}: expected tables like [checks."nccl.shm"]')
            for check_id, table in value.items():
                self.check_table(check_id, table)
        elif key == "expect":
            self.expectations(where, value)

    def check_table(self, check_id: str, table: Any) -> None:
        cwhere = f'{self.prefix}checks."{check_id}"'
        if self.registry is not None and check_id not in self.specs:
            raise UsageError(f"{cwhere}: unknown check id{_near(check_id, self.specs)}; see 'llmdoctor checks'")
        if not isinstance(table, dict):
            raise UsageError(f"{cwhere}: expected a table of settings")
        declared_all = self.specs[check_id].settings if self.registry is not None else {}
        for name, setting in table.items():
            swhere = f"{cwhere}.{name}"
            if self.registry is None:
                self.config.settings[f"{check_id}.{name}"] = Value(setting, self.src)
                continue
            if name not in declared_all:
                known = ", ".join(sorted(declared_all)) or "none"
                raise UsageError(f"{swhere}: unknown setting{_near(name, declared_all)}; {check_id} has: {known}")
            self.config.settings[f"{check_id}.{name}"] = Value(_setting_value(swhere, declared_all[name], setting), self.src)

    def expectations(self, where: str, value: Any) -> None:
        if not isinstance(value, dict):
            raise UsageError(f"{where}: expected a table")
        for ekey, evalue in value.items():
            ewhere = f"{self.prefix}expect.{ekey}"
            if ekey not in EXPECTATIONS:
                raise UsageError(f"{ewhere}: unknown expectation{_near(ekey, EXPECTATIONS)}; known: {', '.join(EXPECTATIONS)}")
            try:
                self.config.expect[ekey] = Value(EXPECTATIONS[ekey][0](ekey, evalue), self.src)
            except ValueError as exc:
                raise UsageError(f"{ewhere}: {exc}") from None


def require_some(specs: list[CheckSpec], config: Config) -> None:
    """A selection that leaves no check to run is a usage error: it would print "OK" having checked nothing."""
    if specs:
        return
    sources = {config.select.source, config.ignore.source} - {DEFAULT}
    where = " and ".join(sorted(sources)) or "the defaults"
    hint = "narrow --ignore or widen --select" if COMMAND_LINE in sources else "narrow ignore or widen select there"
    raise UsageError(f"the selection is empty (select {', '.join(config.select.value) or 'all'}, ignore "
                     f"{', '.join(config.ignore.value) or 'nothing'}, from {where}): nothing to check; {hint}")


def prune_unconfigured_expectations(specs: list[CheckSpec], config: Config, selected: Iterable[str]) -> list[CheckSpec]:
    """``expect.*`` checks run only when their expectation is configured or they are selected by name."""
    explicit = [p for p in selected if p == "expect" or p.startswith("expect.") or p.startswith("expect*")]
    return [s for s in specs
            if s.area != "expect" or s.id.split(".", 1)[1] in config.expect or explicit]
