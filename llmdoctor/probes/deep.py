"""Deep probes (``check --deep``): measured TFLOPS, bandwidths and latency jitter, in the target interpreter.

``deep_worker.py`` runs in a subprocess of the target interpreter (the CLI never imports torch) and
returns raw timings; this module runs it with a time budget, forwards its progress lines to stderr and
turns the timings into figures (``Deep``/``DeepMeasure``).  ``LLMDOCTOR_DEEP_MODE=cpu-smoke`` (or
``mode="cpu-smoke"``) runs the same code on the CPU with tiny sizes: the tests run it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterable

from ..snapshot import Deep, DeepMeasure
from ..facts.health import jitter_stats  # noqa: F401  (pure: shared with the checks)

WORKER = Path(__file__).with_name("deep_worker.py")
MARKER = "@@LLMDOCTOR@@"
DEEP_BUDGET = 150.0  # seconds for every measurement together (the worker stops early when spent)
_BOOT = "import sys, runpy; sys.path.pop(0); sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
UNITS = {"matmul": "TFLOPS", "membw": "GB/s", "h2d": "GB/s", "d2h": "GB/s", "p2p": "GB/s", "jitter": "ms"}


class DeepFailed(Exception):
    pass


# --------------------------------------------------------------------------- the math (tests inject timings)


def matmul_tflops(n: int, iters: int, seconds: float) -> float:
    """Dense n x n @ n x n: 2 n^3 floating-point operations per product."""
    return 2.0 * n ** 3 * iters / seconds / 1e12


def bandwidth_gbs(nbytes: int, iters: int, seconds: float) -> float:
    return nbytes * iters / seconds / 1e9


def _sig(value: float) -> float:
    """Six significant digits (tiny CPU-smoke figures must not round to zero)."""
    return float(f"{value:.6g}")


def measure_from_row(row: dict[str, Any]) -> DeepMeasure:
    """One worker row (raw timings) as a figure."""
    kind = str(row.get("kind", "?"))
    common: dict[str, Any] = {"kind": kind, "device": row.get("device"), "dtype": row.get("dtype"), "peer": row.get("peer"),
              "unit": UNITS.get(kind)}
    if row.get("error"):
        return DeepMeasure(**common, error=str(row["error"]))
    if kind == "jitter":
        samples = tuple(round(float(s) * 1000.0, 6) for s in row.get("samples") or ())
        return DeepMeasure(**common, value=round(statistics.median(samples), 6) if samples else None,
                           samples=samples, size=f"n={row.get('n')}")
    iters, seconds = int(row.get("iters") or 0), float(row.get("seconds") or 0.0)
    if iters <= 0 or seconds <= 0:
        return DeepMeasure(**common, error="no iteration completed within the time budget")
    if kind == "matmul":
        n = int(row["n"])
        return DeepMeasure(**common, value=_sig(matmul_tflops(n, iters, seconds)), size=f"n={n} x{iters}")
    nbytes = int(row["bytes"])
    pinned = "" if row.get("pinned", True) else " pageable"
    return DeepMeasure(**common, value=_sig(bandwidth_gbs(nbytes, iters, seconds)),
                       size=f"{nbytes >> 20} MiB x{iters}{pinned}")


def deep_from_worker(data: dict[str, Any]) -> Deep:
    rows = data.get("rows") or []
    return Deep(mode=str(data.get("mode", "not-run")), measures=tuple(measure_from_row(r) for r in rows if isinstance(r, dict)),
                seconds=round(float(data["seconds"]), 3) if isinstance(data.get("seconds"), (int, float)) else None,
                note=data.get("note"))


# --------------------------------------------------------------------------- running the worker


def _forward(stream: Any, sink: Any) -> None:
    for line in stream:
        try:
            sink.write(f"llmdoctor {line}" if line.startswith("deep:") else line)
            sink.flush()
        except (OSError, ValueError):
            return


def run_deep_worker(python: str, mode: str, budget: float, progress: Any = None) -> dict[str, Any]:
    env = dict(os.environ)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    try:
        proc = subprocess.Popen([python, "-c", _BOOT, str(WORKER), mode, f"{budget:g}"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env)
    except OSError as exc:
        raise DeepFailed(f"could not run {python}: {exc.strerror or exc}") from None
    forward = threading.Thread(target=_forward, args=(proc.stderr, progress or sys.stderr), daemon=True)
    forward.start()
    killer = threading.Timer(budget + 10.0, proc.kill)
    killer.start()
    try:
        stdout = proc.stdout.read() if proc.stdout else ""
        proc.wait()
    finally:
        killer.cancel()
    forward.join(timeout=1.0)
    if proc.returncode is not None and proc.returncode < 0 and MARKER not in stdout:
        raise DeepFailed(f"the deep probes did not finish within {budget + 10.0:.0f}s")
    idx = stdout.rfind(MARKER)
    if idx < 0:
        raise DeepFailed(f"{python} exited with code {proc.returncode} without a result")
    data: dict[str, Any] = json.loads(stdout[idx + len(MARKER):].strip().splitlines()[0])
    if "worker_error" in data:
        raise DeepFailed(str(data["worker_error"]))
    return data


def probe_deep(python: str, budget: float = DEEP_BUDGET, mode: str | None = None, progress: Any = None) -> Deep:
    """Measure (``mode`` gpu, default; or cpu-smoke, also chosen by LLMDOCTOR_DEEP_MODE)."""
    chosen = mode or os.environ.get("LLMDOCTOR_DEEP_MODE") or "gpu"
    if chosen not in ("gpu", "cpu-smoke"):
        raise DeepFailed(f"LLMDOCTOR_DEEP_MODE={chosen!r}: use gpu or cpu-smoke")
    return deep_from_worker(run_deep_worker(python, chosen, budget, progress))
