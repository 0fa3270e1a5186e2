"""The test suite's wall time, this tree against a baseline ref, side by side (alternating runs).

    python bench/suite_time.py [--baseline main] [--rounds 2]

The baseline tree is exported with `git archive` to a temporary folder and run with the same interpreter
(PYTHONPATH points at it, so `llmdoctor` and `python -m llmdoctor` are the baseline's there).  Runs
alternate (baseline, this, baseline, this, ...) so that load on a shared machine affects both alike; the
ratio of the medians is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def export(ref: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_suite(tree: Path) -> tuple[float, str]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tree, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-200:]
    return seconds, tail


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", default="main")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = export(args.baseline, Path(tmp))
        times: dict[str, list[float]] = {"baseline": [], "this": []}
        for i in range(args.rounds):
            for name, tree in (("baseline", base), ("this", ROOT)):
                seconds, tail = run_suite(tree)
                times[name].append(seconds)
                print(f"round {i + 1} {name:8s} {seconds:7.1f} s   {tail}", flush=True)
    b, t = statistics.median(times["baseline"]), statistics.median(times["this"])
    print(f"median baseline {b:.1f} s, this {t:.1f} s: ratio {t / b:.2f}")


if __name__ == "__main__":
    main()
