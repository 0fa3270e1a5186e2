"""Time and peak memory of reading big pasted dumps (llmdoctor check --from FILE), side by side.

Usage: .venv/bin/python bench/dump_parse.py [MB ...]   (default: 1 10 100)

Builds a synthetic log of the given size (a collect_env report at the top, noise lines in the middle, a
traceback with a known error at the end) and runs the real CLI on it, reporting wall time and the peak
RSS of the child (resource.getrusage), and the ratio to the 1 MB run.  Bounded reading means time and
memory stay flat as the file grows.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAD = (ROOT / "tests/data/dumps/collect_env_a100_healthy.txt").read_text()
TAIL = (ROOT / "tests/data/dumps/traceback_driver_too_old.txt").read_text()
NOISE = "INFO 06-10 08:01:02 llm_engine.py:161] step 123 throughput 1234.5 tokens/s, GPU KV cache usage: 12.5% x=y\n"


def make(path: Path, mb: int) -> None:
    target = mb * 2**20
    with path.open("w") as fh:
        fh.write(HEAD)
        block = NOISE * 10000
        written = len(HEAD)
        while written < target - len(TAIL):
            n = min(len(block), target - len(TAIL) - written)
            fh.write(block[:n])
            written += n
        fh.write(TAIL)


def run(path: Path) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "llmdoctor", "check", "--from", str(path), "--json"],
                          capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux; max over children so far
    return wall, max(peak, before) / 1024, proc.returncode


def main() -> None:
    sizes = [int(x) for x in sys.argv[1:]] or [1, 10, 100]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mb in sizes:
            path = Path(tmp) / f"dump_{mb}mb.txt"
            make(path, mb)
            wall, peak, rc = run(path)
            rows.append((mb, os.path.getsize(path), wall, peak, rc))
            path.unlink()
    base = rows[0]
    print(f"{'input':>8} {'wall s':>8} {'x':>6} {'peak RSS MiB':>13} (max so far) {'exit':>5}")
    for mb, size, wall, peak, rc in rows:
        print(f"{size / 2**20:7.0f}M {wall:8.2f} {wall / base[2]:6.2f} {peak:13.0f} {rc:>12}")


if __name__ == "__main__":
    main()
