"""Side-by-side timing of llmdoctor against the tools it replaces, in one run.

    python bench/bench_cli.py [--runs 5]

Runs each command N times, interleaved (so machine noise hits all of them alike), and prints the
median wall time of each and the ratios that issue 2 sets targets for:
  llmdoctor --help                     <= 0.3 s
  llmdoctor check --from snapshot.json <= 0.5 s
  llmdoctor check (torch installed)    <= python -c "import torch" + 1 s, and < collect_env
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    py = sys.executable
    exe = shutil.which("llmdoctor", path=str(Path(py).parent)) or shutil.which("llmdoctor")
    base = [exe] if exe else [py, "-m", "llmdoctor"]
    env = dict(os.environ, NO_COLOR="1")
    snap = Path(tempfile.mkdtemp()) / "snap.json"
    subprocess.run(base + ["snapshot", "-o", str(snap)], check=True, env=env, stdout=subprocess.DEVNULL)
    has_torch = subprocess.run([py, "-c", "import torch"], capture_output=True).returncode == 0
    commands = {
        "llmdoctor --help": base + ["--help"],
        "llmdoctor check --from snap.json": base + ["check", "--from", str(snap)],
        "llmdoctor check": base + ["check"],
    }
    if has_torch:
        commands["python -c 'import torch'"] = [py, "-c", "import torch"]
        commands["python -m torch.utils.collect_env"] = [py, "-m", "torch.utils.collect_env"]
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            times[name].append(timed(cmd, env))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{'command':40} {'median s':>9} {'min s':>7}   ({args.runs} runs each, interleaved; {os.cpu_count()} CPUs)")
    for name in commands:
        print(f"{name:40} {med[name]:9.3f} {min(times[name]):7.3f}")
    print()
    print(f"--help                : {med['llmdoctor --help']:.3f} s (target <= 0.3 s)")
    print(f"check --from          : {med['llmdoctor check --from snap.json']:.3f} s (target <= 0.5 s)")
    if has_torch:
        imp, ce, chk = med["python -c 'import torch'"], med["python -m torch.utils.collect_env"], med["llmdoctor check"]
        print(f"check vs import torch : {chk:.3f} s vs {imp:.3f} s -> check - import = {chk - imp:+.3f} s (target <= +1 s)")
        print(f"check vs collect_env  : {chk / ce:.2f}x the time of collect_env (target < 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
