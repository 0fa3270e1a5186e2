"""Fuzz targets shared by the suite (tests/hardening/test_fuzz.py, a CI-sized budget) and ``bench/fuzz.py``
(a longer run): every parser and input llmdoctor reads, each fed hypothesis-generated hostile input.

A target takes one generated input and runs the code a command runs on it.  The contract: it returns, or
raises ``UsageError`` (the one-line exit 2); any other exception is a defect (it would be exit 3).  Checks
run by a target must not end in the ``error`` status (a check that crashed on a type-valid snapshot).
"""

from __future__ import annotations

import copy
import json
import pickle
import struct
import tempfile
from pathlib import Path
from typing import Any, Callable

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"

# --------------------------------------------------------------------------- hostile leaves

HOSTILE_NUMBERS = st.sampled_from([0, -1, 1, 2**63, 2**64, 2**64 + 1, -(2**63), 10**30, 10**400, 1e300, -1e300,
                                   float("nan"), float("inf"), float("-inf"), 0.5, -0.0, 1e-300, True, False])
HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\ud800", "\udcff", "\x00", "\x1b[31m", "::error::x", "\n::warning title=x::y",
                     "9" * 5000, "1e400", "NaN", "-Infinity", "0x" + "f" * 40, "../../etc/passwd", "\u202e",
                     "a" * 5000, "expandable_segments:True", "max_split_size_mb:0", "^", ",,,", "=:=:"]),
)
LEAF = st.one_of(st.none(), HOSTILE_NUMBERS, HOSTILE_TEXT, st.integers(), st.floats(allow_nan=True))
JSONISH = st.recursive(LEAF, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(HOSTILE_TEXT, inner, max_size=4)), max_leaves=12)


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:8]):
            out.extend(_paths(v, prefix + (i,)))
    return out


def _set(obj: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    node = obj
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return obj


def mutated(base: Any) -> st.SearchStrategy[Any]:
    """``base`` (a JSON-able document) with 1-4 values replaced by hostile ones, at any depth."""
    paths = _paths(base)

    @st.composite
    def build(draw: Any) -> Any:
        doc = copy.deepcopy(base)
        for _ in range(draw(st.integers(1, 4))):
            path = draw(st.sampled_from(paths))
            try:
                doc = _set(doc, path, draw(JSONISH))
            except (KeyError, IndexError, TypeError):
                pass  # an earlier replacement removed the path
        return doc

    return build()


SAME_TYPE = {
    int: st.sampled_from([0, -1, 2**63 - 1, 2**64, -(2**63), 10**15, 7]),
    float: st.sampled_from([0.0, -1.0, 1e300, -1e300, 1e-300, 5e-324, 0.5]),
    str: HOSTILE_TEXT,
    bool: st.booleans(),
}


def retyped(base: Any) -> st.SearchStrategy[Any]:
    """``base`` with 1-6 leaves replaced by hostile values of the same type (type-valid, so every check runs)."""
    leaves = [p for p in _paths(base) if p and type(_get(base, p)) in SAME_TYPE]

    @st.composite
    def build(draw: Any) -> Any:
        doc = copy.deepcopy(base)
        for _ in range(draw(st.integers(1, 6))):
            path = draw(st.sampled_from(leaves))
            _set(doc, path, draw(SAME_TYPE[type(_get(base, path))]))
        return doc

    return build()


def _get(obj: Any, path: tuple) -> Any:
    for key in path:
        obj = obj[key]
    return obj


def json_text(doc: Any) -> str:
    """JSON as a hostile writer might produce it: NaN/Infinity literals and lone surrogates kept."""
    return json.dumps(doc, allow_nan=True, ensure_ascii=True, default=str)


RAW_JSON = st.one_of(
    st.sampled_from(['{"schema": "llmdoctor.snapshot/1", "x": ' + "1" * 5000 + "}",
                     '{"schema": "llmdoctor.snapshot/1", "x": ' + "[" * 5000 + "]" * 5000 + "}",
                     '{"schema": "llmdoctor.snapshot/1", "host": {"hostname": "\\ud800"}}',
                     '{"schema": "llmdoctor.snapshot/1", "host": {"ram_total": 1e400}}',
                     '{"schema": "llmdoctor.snapshot/1", "host": NaN}', '{"schema": "llmdoctor.snapshot/1"',
                     '{"schema": "llmdoctor.report/1", "snapshot": 5}', "{" * 3000]),
    st.text(max_size=200).map(lambda t: '{"schema": "llmdoctor.snapshot/1", ' + t),
)


# --------------------------------------------------------------------------- shared runners


def _checks(snap: Any, select: tuple[str, ...] = ()) -> None:
    """Run the (selected) checks on ``snap`` and render every format; a check must not crash."""
    from llmdoctor.engine import load_registry, run_checks
    from llmdoctor.engine import select as pick
    from llmdoctor.report import RENDERERS, RenderOptions, render

    registry = load_registry()
    report = run_checks(snap, pick(registry, select, ()), registry=registry)
    crashed = [(c.id, [f.message for f in c.findings]) for c in report.checks if c.status.value == "error"]
    assert not crashed, f"checks crashed: {crashed}"
    # one format per run, in turn (rendering dominates the cost): over a run every format sees hostile reports
    formats = sorted(RENDERERS)
    _TURN[0] += 1
    render(report, formats[_TURN[0] % len(formats)], RenderOptions(verbosity=2, width=100))


_TURN = [0]


_TMP = Path(tempfile.mkdtemp(prefix="llmdoctor-fuzz-"))


def _file(name: str, data: bytes | str) -> Path:
    path = _TMP / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- targets


def snapshot_json(text: str) -> None:
    """``check --from FILE`` on a snapshot JSON: read (bounded), validate, redact, check, render."""
    from llmdoctor.inputs import load_snapshot

    snap = load_snapshot(str(_file("snapshot.json", text)))
    _checks(snap)


def _scenario() -> dict[str, Any]:
    return json.loads((DATA / "scenarios" / "nccl_misconfigured.json").read_text())


def dump_text(text: str) -> None:
    """``check --from DUMP``: every text-dump parser through parse_dump, then the checks."""
    from llmdoctor.inputs import load_snapshot

    snap = load_snapshot(str(_file("dump.txt", text)))
    _checks(snap)


def each_parser(lines: list[str]) -> None:
    """Every parser's detect and parse called on arbitrary (normalised) lines, without the detection gate."""
    from llmdoctor import parsers
    from llmdoctor.parsers import collect_env, error_facts, hf_env, pip, tracebacks
    from llmdoctor.parsers._accumulator import Facts
    from llmdoctor.parsers._text import normalise

    lines = normalise("\n".join(lines))  # what parse_dump hands the parsers: lines cut at MAX_LINE
    facts = Facts()
    for detects, parse in parsers._FORMAT_PARSERS:
        for detect in detects:
            detect(lines)
        parse(lines, facts)
    for detect, parse in parsers._PIP_PARSERS:
        detect(lines)
        parse(lines, facts)
    hf_env.parse(lines, facts, hf_env.detect(lines))
    collect_env.detect_vllm(lines)
    tracebacks.parse("\n".join(lines), lines, facts)
    tracebacks.keep_error_lines(lines, facts)
    error_facts.parse(lines, facts)
    facts.to_snapshot("fuzz", "0", "2024-01-01T00:00:00+00:00")


def _dump_lines() -> list[str]:
    lines: list[str] = []
    for path in sorted((DATA / "dumps").glob("*")):
        lines.extend(path.read_text(encoding="utf-8", errors="replace").splitlines()[:60])
    return lines


@st.composite
def dump_lines(draw: Any) -> list[str]:
    """Lines of real dumps, some with their numbers replaced by hostile ones or garbage spliced in."""
    import re

    real = _DUMP_LINES
    start = draw(st.integers(0, len(real) - 1))
    chunk = real[start:start + draw(st.integers(1, 40))]
    out = []
    for line in chunk:
        choice = draw(st.integers(0, 5))
        if choice == 0:
            line = re.sub(r"\d+", lambda _m: draw(st.sampled_from(["9" * 5000, "0", "99999999999999999999", "1e400",
                                                                    "nan", "-1", ""])), line)
        elif choice == 1:
            line = line + draw(HOSTILE_TEXT)
        out.append(line)
    return out


_DUMP_LINES = _dump_lines()


def config_file(name: str, body: str) -> None:
    """``--config FILE`` and discovery: llmdoctor.toml or pyproject.toml parsed and validated."""
    from llmdoctor.config import load_config
    from llmdoctor.engine import load_registry

    folder = _TMP / "config"
    for old in folder.glob("*"):
        old.unlink()
    path = _file(f"config/{name}", body)
    try:
        load_config(None, load_registry(), start=folder)
    finally:
        load_config(path, load_registry())


TOML_VALUES = st.sampled_from(['5', '"x"', '[]', '[1, 2]', '["cuda"]', '["nope"]', '"cuda,gpu"', 'nan', 'inf', '-inf',
                               '1e400', '9' * 5000, 'true', '{}', '{ a = 1 }', '"\\ud800"', '"\\u0000"', '[[1]]',
                               '1979-05-27', '"warn"', '"fail"', '"unknown"', '0', '-5', '99999999999999999999'])
TOML_KEYS = st.sampled_from(["select", "ignore", "fail-on", "checks", "expect", "tool", "llmdoctor", "x",
                             'checks."nccl.shm"', 'checks."nccl.shm".min_bytes', "expect.gpu-count", "expect.env",
                             "expect.packages", "expect.torch", "expect.min-driver", "expect.gpu-model",
                             "expect.env.NCCL_IB_DISABLE", "expect.env.HF_TOKEN"])


VALID_TOML = st.sampled_from(['select = ["cuda", "gpu"]', 'ignore = ["cudnn.version"]', 'fail-on = "warn"',
                              '[checks."nccl.shm"]\nmin_bytes = 1073741824', '[expect]\ngpu-count = 8',
                              '[expect]\nenv = { NCCL_IB_DISABLE = "0" }', '[expect]\npackages = ["vllm>=0.6"]'])


@st.composite
def toml_text(draw: Any) -> tuple[str, str]:
    """(file name, text): llmdoctor.toml or pyproject.toml, valid tables mixed with hostile keys and values."""
    lines = [draw(st.one_of(VALID_TOML, st.builds(lambda k, v: f"{k} = {v}", TOML_KEYS, TOML_VALUES)))
             for _ in range(draw(st.integers(1, 5)))]
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["[tool]", "[checks]", "[expect]", "[[x]]",
                                                                            "[tool.llmdoctor]", "["])))
    if draw(st.integers(0, 4)) == 0:
        lines.append(draw(st.text(max_size=40)))
    text = "\n".join(lines) + "\n"
    if draw(st.booleans()):
        return "llmdoctor.toml", text
    return "pyproject.toml", draw(st.sampled_from(["[tool.llmdoctor]\n", "[tool]\n", "", "tool = 5\n"])) + text


def env_values(env: dict[str, str]) -> None:
    """NCCL_* and PYTORCH_CUDA_ALLOC_CONF values in a snapshot's environment: the nccl and memory checks."""
    from llmdoctor.snapshot import Snapshot

    doc = _scenario()
    doc["env"].update(env)
    snap = Snapshot.from_dict(doc)
    _checks(snap, ("nccl", "memory", "dist"))


def alloc_conf(value: str, torch_version: str | None) -> None:
    from llmdoctor.memory.allocconf import expandable_setting, parse

    parse(value, torch_version)
    expandable_setting(torch_version)


def nccl_value(name: str, value: str) -> None:
    from llmdoctor.facts import nccl_rules

    rows = nccl_rules.variables()
    nccl_rules.parse_int(value)
    nccl_rules.parse_filter(value)
    nccl_rules.switch_on(value)
    if name in rows:
        nccl_rules.validate(name, value, rows[name])
    nccl_rules.launch({name: value})
    nccl_rules.did_you_mean(name, rows)


def _nccl_names() -> list[str]:
    rows = json.loads((ROOT / "llmdoctor" / "data" / "nccl_env.json").read_text())["variables"]
    return sorted(r["name"] for r in rows) + ["NCCL_XYZ", "NCCL_", "PYTORCH_CUDA_ALLOC_CONF", "TORCH_NCCL_BLOCKING_WAIT"]


NCCL_NAMES = st.sampled_from(_nccl_names())
ENV_TEXT = st.one_of(HOSTILE_TEXT, st.from_regex(r"[\^=]?[A-Za-z0-9_:.,=\-]{0,30}", fullmatch=True),
                     st.integers(-2**70, 2**70).map(str), st.sampled_from(["0x10", "010", "-0", "1k", " 5", "5 "]))
ALLOC_TEXT = st.one_of(ENV_TEXT, st.lists(st.tuples(st.sampled_from(
    ["expandable_segments", "max_split_size_mb", "garbage_collection_threshold", "roundup_power2_divisions",
     "backend", "pinned_use_cuda_host_register", "x"]), ENV_TEXT), max_size=4).map(
    lambda kv: ",".join(f"{k}:{v}" for k, v in kv)))


def memory_pickle(obj: Any) -> None:
    """``memory analyze FILE``: the restricted unpickler, the analysis and both renderings."""
    from llmdoctor.memory.analyze import analyze, render_text, safe_load

    raw = obj if isinstance(obj, bytes) else pickle.dumps(obj, 2)
    snap = safe_load(raw)
    result = analyze(snap, top=5)
    render_text(result)
    json.dumps(result, default=str)


def _segment(size: Any, state: Any = "active_allocated") -> dict[str, Any]:
    return {"device": 0, "address": 0, "total_size": size, "allocated_size": size, "segment_type": "large",
            "blocks": [{"size": size, "requested_size": size, "state": state, "address": 0}]}


MEMORY_SNAPSHOT = {"segments": [_segment(2**21), _segment(2**20, "inactive")],
                   "device_traces": [[{"action": "oom", "size": 2**22, "device_free": 2**20, "frames": []}]]}


@st.composite
def pickle_input(draw: Any) -> Any:
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return draw(mutated(MEMORY_SNAPSHOT))
    raw = pickle.dumps(MEMORY_SNAPSHOT, 2)
    if kind == 1:  # bytes flipped or cut
        data = bytearray(raw[: draw(st.integers(0, len(raw)))])
        for _ in range(draw(st.integers(0, 4))):
            if data:
                data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    return draw(JSONISH)


def model_config(cfg: Any) -> None:
    """``fit MODEL``: config.json read (bounded, validated), the plan, the capacity table, the remedies, vLLM."""
    from llmdoctor.cli.fit import options_from_cli
    from llmdoctor.memory.engines import EngineOptions, engine_plan
    from llmdoctor.memory.plan import GpuBudget, capacity_table, plan, remedies
    from llmdoctor.model_config import load_model_spec

    folder = _TMP / "model"
    _file("model/config.json", json_text(cfg))
    spec = load_model_spec(str(folder))
    gpus = [GpuBudget("GPU 0", "H100", 80 * 2**30)]
    opts = options_from_cli("bf16", None, 4096, 1, "inference", "adam", True, None, 1, 16, "sdpa")
    plan(spec, gpus, opts)
    capacity_table(spec, gpus, opts)
    remedies(spec, gpus, opts)
    engine_plan(spec, "H100", 80 * 2**30, EngineOptions(engine="vllm").validate(), 0)


def _model_configs() -> list[dict[str, Any]]:
    out = []
    for path in sorted((DATA / "models").glob("*.json")):
        doc = json.loads(path.read_text())
        if isinstance(doc, dict) and isinstance(doc.get("config"), dict):
            out.append(doc["config"])
    return out


MODEL_CONFIGS = _model_configs()
MODEL_KEYS = sorted({k for cfg in MODEL_CONFIGS for k, v in cfg.items() if isinstance(v, (int, float, str, type(None)))})


@st.composite
def config_json(draw: Any) -> Any:
    base = copy.deepcopy(draw(st.sampled_from(MODEL_CONFIGS)))
    for _ in range(draw(st.integers(1, 3))):
        base[draw(st.sampled_from(MODEL_KEYS))] = draw(st.one_of(HOSTILE_NUMBERS, HOSTILE_TEXT, st.none(),
                                                                 st.integers(-10, 5000), JSONISH))
    return base


def safetensors_header(data: bytes) -> None:
    """A safetensors file's header: the loader (fit) and the loading probe (check --model, fit --load)."""
    from llmdoctor.model_config.loader import read_safetensors_header
    from llmdoctor.probes.storage import safetensors_data_bytes

    path = _file("weights/model.safetensors", data)
    safetensors_data_bytes(path)
    read_safetensors_header(path)


@st.composite
def safetensors_bytes(draw: Any) -> bytes:
    header = draw(st.one_of(
        mutated({"__metadata__": {"format": "pt"}, "w": {"dtype": "BF16", "shape": [4, 4], "data_offsets": [0, 32]}}),
        JSONISH))
    body = json_text(header).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 4)) == 0:
        body = draw(st.binary(max_size=64))
    claim = draw(st.one_of(st.just(len(body)), st.integers(0, 2**64 - 1)))
    return struct.pack("<Q", claim) + body + b"\0" * 32


# name -> (target, strategy, examples in the suite).  bench/fuzz.py runs the same with more examples.
TARGETS: dict[str, tuple[Callable[..., None], Any, int]] = {
    "snapshot JSON": (snapshot_json, st.one_of(retyped(_scenario()).map(json_text), mutated(_scenario()).map(json_text),
                                               RAW_JSON), 30),
    "text dumps (parse_dump)": (dump_text, dump_lines().map("\n".join), 25),
    "each dump parser": (each_parser, dump_lines(), 60),
    "configuration files": (config_file, toml_text(), 40),
    "NCCL / allocator env in a snapshot": (env_values, st.dictionaries(NCCL_NAMES, ENV_TEXT, min_size=1, max_size=4), 15),
    "PYTORCH_CUDA_ALLOC_CONF": (alloc_conf, st.tuples(ALLOC_TEXT, st.sampled_from([None, "2.1.0", "2.9.0", "x", ""])), 100),
    "NCCL values": (nccl_value, st.tuples(NCCL_NAMES, ENV_TEXT), 150),
    "memory analyze pickles": (memory_pickle, pickle_input(), 100),
    "fit config.json": (model_config, config_json(), 40),
    "safetensors headers": (safetensors_header, safetensors_bytes(), 60),
}


def call(target: Callable[..., None], value: Any) -> None:
    if isinstance(value, tuple):
        target(*value)
    else:
        target(value)
