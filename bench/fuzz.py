"""Reliability figures: hostile inputs fuzzed, faults injected, secrets, payloads, outcomes.

    python bench/fuzz.py --report            # the figures docs/reliability.md quotes (~2 minutes; --scale 3)
    python bench/fuzz.py --report --scale 1  # the suite's budget per fuzz target (quick)

Runs the same hypothesis targets as tests/hardening/test_fuzz.py (every parser and input) with
``--scale`` times the suite's examples, then the named hostile inputs of issue 19 through the CLI entry
point, hung and interrupted probes (a fake interpreter that spawns a grandchild and hangs), special
files, hostile pickles carrying a payload, ``--python`` on a bad command line, and the secret corpus.
Prints each section's counts and a closing table.  Deterministic (derandomized hypothesis, fixed inputs).
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from hardening.fuzz_targets import TARGETS, call  # noqa: E402
from hardening.secret_corpus import CORPUS, ENV_VALUES  # noqa: E402
from helpers.cli import run_in_process  # noqa: E402

from llmdoctor.engine import UsageError  # noqa: E402
from llmdoctor.redact import redact_env, redact_value  # noqa: E402

ENV = {"LLMDOCTOR_FAKE_NVML": None, "NO_COLOR": "1", "COLUMNS": "120"}
TMP = Path(tempfile.mkdtemp(prefix="llmdoctor-bench-"))


# --------------------------------------------------------------------------- fuzzing


def fuzz(scale: float) -> dict[str, dict[str, int]]:
    """Per target: inputs fuzzed and outcomes as exit codes (0/1 returned, 2 UsageError, 3 anything else)."""
    from hypothesis import HealthCheck, given, settings

    out: dict[str, dict[str, int]] = {}
    for name, (target, strategy, examples) in TARGETS.items():
        counts = {"inputs": 0, "exit 0/1": 0, "exit 2": 0, "exit 3": 0}
        defects: list[str] = []

        @settings(max_examples=max(1, int(examples * scale)), deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def run(value: object) -> None:
            counts["inputs"] += 1
            try:
                call(target, value)
                counts["exit 0/1"] += 1
            except UsageError:
                counts["exit 2"] += 1
            except Exception as exc:  # noqa: BLE001 - what the run counts
                counts["exit 3"] += 1
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                defects.append(f"{type(exc).__name__}: {str(exc)[:100]} at {frame.filename}:{frame.lineno}")

        run()
        out[name] = counts
        for line in sorted(set(defects))[:5]:
            print(f"  DEFECT {name}: {line}")
    return out


# --------------------------------------------------------------------------- the named hostile inputs (issue 19 §4)


def _named_cases() -> list[tuple[str, list[str], str | None]]:
    snap = '{"schema": "llmdoctor.snapshot/1", '
    files = {
        "snapshot: 5000-digit int": snap + '"host": {"ram_total": ' + "1" * 5000 + "}}",
        "snapshot: nesting 5000 deep": snap + '"host": ' + "[" * 5000 + "]" * 5000 + "}",
        "snapshot: lone surrogate": snap + '"host": {"hostname": "\\ud800"}}',
        "snapshot: 1e400": snap + '"host": {"ram_total": 1e400}}',
    }
    cases: list[tuple[str, list[str], str | None]] = []
    for name, body in files.items():
        path = TMP / f"{len(cases)}.json"
        path.write_text(body)
        cases += [(name, ["check", "--from", str(path)], None), (name + " (diff)", ["diff", str(path), str(path)], None)]
    for name, body in {"pyproject: tool = 5": "tool = 5\n", "pyproject: [tool] llmdoctor = \"x\"": '[tool]\nllmdoctor = "x"\n',
                       "pyproject: select = 5": "[tool.llmdoctor]\nselect = 5\n",
                       "pyproject: 5000-digit int": "[tool.llmdoctor.expect]\ngpu-count = " + "9" * 5000 + "\n"}.items():
        path = TMP / f"{len(cases)}" / "pyproject.toml"
        path.parent.mkdir()
        path.write_text(body)
        cases.append((name, ["check", "--from", str(ROOT / "tests/data/scenarios/no_gpu.json"), "--config", str(path)], None))
    llama = {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
             "num_key_value_heads": 8, "vocab_size": 32000, "intermediate_size": 11008}
    for name, change in {"heads 0": {"num_attention_heads": 0}, "NaN": {"hidden_size": float("nan")},
                         "Infinity": {"hidden_size": float("inf")}, "-Infinity": {"hidden_size": float("-inf")},
                         "1e300": {"vocab_size": 1e300}, "string": {"hidden_size": "4096"}, "negative": {"hidden_size": -1},
                         "num_hidden_layers 1e9": {"num_hidden_layers": 1e9}}.items():
        folder = TMP / f"{len(cases)}"
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({**llama, **change}))
        for engine in ("transformers", "vllm"):
            cases.append((f"fit config.json: {name} ({engine})", ["fit", str(folder), "--gpus", "1xH100-80GB",
                                                                  "--engine", engine], None))
    seg = {"device": 0, "total_size": 0, "blocks": [{"size": 0, "state": "active_allocated"}]}
    for name, size in {"10**400": 10**400, "inf": float("inf"), "nan": float("nan")}.items():
        path = TMP / f"{len(cases)}.pickle"
        path.write_bytes(pickle.dumps({"segments": [{**seg, "total_size": size}]}, 2))
        cases.append((f"memory analyze: size {name}", ["memory", "analyze", str(path)], None))
    return cases


def named_inputs() -> dict[str, int]:
    counts = {"inputs": 0, "exit 2 (one line)": 0, "other": 0}
    for name, args, _ in _named_cases():
        proc = run_in_process(args, ENV)
        counts["inputs"] += 1
        if proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr:
            counts["exit 2 (one line)"] += 1
        else:
            counts["other"] += 1
            print(f"  DEFECT {name}: exit {proc.returncode}: {proc.stderr.strip()[:160]}")
    return counts


# --------------------------------------------------------------------------- hangs and orphans


HANGING_PYTHON = "#!/bin/sh\nsleep 300 &\necho \"$$ $!\" > {pids}\nsleep 300\n"


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _group_alive(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def hung_probes(rounds: int) -> dict[str, int]:
    """A probe that hangs with a grandchild: killed at the timeout, on SIGTERM and on SIGINT to the CLI."""
    counts = {"faults injected": 0, "hangs": 0, "orphans": 0, "wrong exit": 0}
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("LLMDOCTOR_FAKE_NVML", None)
    for i in range(rounds):
        for fault, wanted in (("timeout", (0, 1)), ("SIGTERM", (143,)), ("SIGINT", (130,))):
            folder = TMP / f"hang-{fault}-{i}"
            folder.mkdir()
            pids = folder / "pids"
            python = folder / "python"
            python.write_text(HANGING_PYTHON.format(pids=pids))
            python.chmod(0o755)
            counts["faults injected"] += 1
            cli = subprocess.Popen([sys.executable, "-m", "llmdoctor", "snapshot", "--python", str(python),
                                    "--no-cache", "--timeout", "3" if fault == "timeout" else "60"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            deadline = time.monotonic() + 30
            while not (pids.exists() and pids.read_text().strip()) and time.monotonic() < deadline:
                time.sleep(0.05)
            if fault != "timeout":
                cli.send_signal(signal.SIGTERM if fault == "SIGTERM" else signal.SIGINT)
            try:
                code = cli.wait(timeout=30)
            except subprocess.TimeoutExpired:
                counts["hangs"] += 1
                cli.kill()
                code = cli.wait()
            if code not in wanted:
                counts["wrong exit"] += 1
            time.sleep(0.3)
            if pids.exists() and pids.read_text().strip():
                pgid, grandchild = (int(x) for x in pids.read_text().split())
                if _group_alive(pgid) or _alive(grandchild):
                    counts["orphans"] += 1
                    os.killpg(pgid, signal.SIGKILL)
    return counts


def special_files() -> dict[str, int]:
    """check --from, diff and fit on devices, a FIFO: refused (exit 2) in bounded time."""
    fifo = TMP / "fifo"
    os.mkfifo(fifo)
    counts = {"inputs": 0, "refused (exit 2)": 0, "hangs (> 5 s)": 0}
    for path in ("/dev/zero", "/dev/urandom", "/dev/null", str(fifo)):
        for args in (["check", "--from", path], ["diff", path, path], ["fit", path, "--gpus", "1xH100-80GB"],
                     ["check", "--from", str(ROOT / "tests/data/scenarios/no_gpu.json"), "--config", path]):
            start = time.monotonic()
            proc = run_in_process(args, ENV)
            counts["inputs"] += 1
            counts["refused (exit 2)"] += proc.returncode == 2
            counts["hangs (> 5 s)"] += time.monotonic() - start > 5
    return counts


# --------------------------------------------------------------------------- payloads


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def payloads() -> dict[str, int]:
    """Pickles that run a command when loaded, and --python X on a bad command line: nothing may run."""
    counts = {"payloads": 0, "executed": 0, "refused (exit 2)": 0}
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        marker = TMP / f"pickle-ran-{protocol}"
        path = TMP / f"payload-{protocol}.pickle"
        path.write_bytes(pickle.dumps({"segments": [_Payload(marker)]}, protocol))
        proc = run_in_process(["memory", "analyze", str(path)], ENV)
        counts["payloads"] += 1
        counts["executed"] += marker.exists()
        counts["refused (exit 2)"] += proc.returncode == 2
    marker = TMP / "python-ran"
    fake = TMP / "bin" / "python3"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexec {sys.executable} \"$@\"\n")
    fake.chmod(0o755)
    for bad in (["--format", "bogus"], ["--fail-on", "x"], ["--select", "no.such"], ["--timeout", "0"],
                ["--model", "/no/such"], ["--bogus"]):
        proc = subprocess.run([sys.executable, "-m", "llmdoctor", "check", "--python", str(fake), *bad],
                              capture_output=True, text=True, timeout=60)
        time.sleep(0.2)
        counts["payloads"] += 1
        counts["executed"] += marker.exists()
        counts["refused (exit 2)"] += proc.returncode == 2
    return counts


def secrets() -> dict[str, int]:
    leaks = sum(secret in redact_value(f"x {text} y") for _n, text, secret in CORPUS)
    env_leaks = sum(redact_env(k, v) == v for k, v in ENV_VALUES.items())
    return {"secret forms": len(CORPUS), "env values": len(ENV_VALUES), "leaks": leaks + env_leaks}


def main() -> int:
    if "--report" not in sys.argv:
        print(__doc__)
        return 0
    scale = float(sys.argv[sys.argv.index("--scale") + 1]) if "--scale" in sys.argv else 3.0
    start = time.monotonic()
    sections = {}
    for title, run in (("fuzzed inputs (hypothesis, scale %g)" % scale, lambda: fuzz(scale)),
                       ("named hostile inputs (CLI entry point)", named_inputs), ("special files", special_files),
                       ("hung and interrupted probes", lambda: hung_probes(3)), ("payloads", payloads),
                       ("secrets (redaction corpus)", secrets)):
        print(f"## {title}", flush=True)
        result = run()
        sections[title] = result
        rows = result.items() if all(isinstance(v, dict) for v in result.values()) else [("", result)]
        for name, counts in rows:
            print(f"  {name + ': ' if name else ''}{', '.join(f'{k} {v}' for k, v in counts.items())}", flush=True)
    fuzzed = list(sections.values())[0]
    named, special, hung, paid, sec = list(sections.values())[1:]
    exit3 = sum(c["exit 3"] for c in fuzzed.values()) + named["other"]
    print("\n| figure | value |\n|---|---|")
    print(f"| inputs fuzzed ({len(fuzzed)} targets) | {sum(c['inputs'] for c in fuzzed.values()):,} |")
    print(f"| named hostile inputs / special files | {named['inputs']} / {special['inputs']} |")
    print(f"| faults injected (hung probe: timeout, SIGTERM, SIGINT) | {hung['faults injected']} |")
    print(f"| secrets in the corpus (forms + env values) | {sec['secret forms']} + {sec['env values']} |")
    print(f"| payloads (pickles, --python on bad usage) | {paid['payloads']} |")
    print(f"| orphans | {hung['orphans']} |")
    print(f"| hangs | {hung['hangs'] + special['hangs (> 5 s)']} |")
    print(f"| leaks | {sec['leaks']} |")
    print(f"| exit 3 on bad input | {exit3} |")
    print(f"| executed payloads | {paid['executed']} |")
    print(f"\n({time.monotonic() - start:.0f} s)")
    return 1 if exit3 or hung["orphans"] or hung["hangs"] or sec["leaks"] or paid["executed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
