"""Standalone deep-probe worker, run inside the *target* interpreter: ``python deep_worker.py gpu|cpu-smoke BUDGET``.

It measures raw timings (matmul, device-memory copy, pinned host<->device copy, peer copy, a repeated fixed
workload) and prints one JSON object on stdout after the marker; progress lines go to stderr.  It never
computes a verdict: llmdoctor.probes.deep turns the timings into figures.  It must not import llmdoctor
(the target venv may not have it) and must run on Python 3.8+: no match statements; annotations use typing's
List/Dict/Optional (never ``X | Y`` or ``list[str]``) under ``from __future__ import annotations``.
Everything it cannot measure is reported as an error string, never raised.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

# One row of measurements as JSON: {"kind": "matmul", "device": 0, ...}
Row = Dict[str, Any]

MARKER = "@@LLMDOCTOR@@"
T0 = time.monotonic()

# Sizes: large enough to saturate a datacenter GPU, tiny on CPU (smoke mode: tests and CI).
SIZES: Dict[str, Dict[str, int]] = {
    "gpu": {"matmul_n": 8192, "matmul_iters": 20, "copy_bytes": 1 << 30, "host_bytes": 256 << 20,
            "copy_iters": 10, "jitter_n": 4096, "jitter_iters": 50},
    "cpu-smoke": {"matmul_n": 64, "matmul_iters": 3, "copy_bytes": 1 << 20, "host_bytes": 1 << 20,
                  "copy_iters": 2, "jitter_n": 32, "jitter_iters": 8},
}
WOULD_MEASURE = ("dense matmul TFLOPS for fp32, tf32, fp16, bf16 and fp8 (where supported) per GPU",
                 "device-memory copy bandwidth per GPU", "pinned host-to-device and device-to-host bandwidth",
                 "peer-to-peer copy bandwidth between GPU pairs",
                 "latency jitter of a fixed workload repeated (coefficient of variation, slowest iterations)")


def _err(exc: BaseException) -> str:
    text = "%s: %s" % (type(exc).__name__, exc)
    return text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__


def progress(text: str) -> None:
    sys.stderr.write("deep: %s\n" % text)
    sys.stderr.flush()


class Budget(object):
    def __init__(self, seconds: float) -> None:
        self.deadline = T0 + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def spent(self) -> bool:
        return self.left() <= 0


def _sync(torch: Any, device: Any) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(torch: Any, device: Any, fn: Callable[[], Any], iters: int, budget: Budget) -> Tuple[int, float]:
    """(iterations done, seconds) after one warm-up; stops early when the budget runs out."""
    fn()
    _sync(torch, device)
    done = 0
    start = time.perf_counter()
    while done < iters:
        fn()
        done += 1
        if budget.spent():
            break
    _sync(torch, device)
    return done, time.perf_counter() - start


def _dtypes(torch: Any, device: Any) -> List[str]:
    names = ["fp32", "tf32", "fp16", "bf16"]
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        if (major, minor) >= (8, 9) and hasattr(torch, "float8_e4m3fn") and hasattr(torch, "_scaled_mm"):
            names.append("fp8")
    return names


def _matmul_fn(torch: Any, device: Any, dtype: str, n: int) -> Callable[[], Any]:
    if dtype == "fp8":
        a = torch.randn(n, n, device=device).to(torch.float8_e4m3fn)
        b = torch.randn(n, n, device=device).to(torch.float8_e4m3fn).t()
        one = torch.tensor(1.0, device=device)
        return lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
    real = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
    a = torch.randn(n, n, device=device, dtype=real)
    b = torch.randn(n, n, device=device, dtype=real)
    return lambda: torch.mm(a, b)


def measure_matmul(torch: Any, device: Any, index: int, size: Dict[str, int], budget: Budget) -> List[Row]:
    rows: List[Row] = []
    for dtype in _dtypes(torch, device):
        if budget.spent():
            rows.append({"kind": "matmul", "device": index, "dtype": dtype, "error": "time budget spent"})
            continue
        progress("matmul %s on %s" % (dtype, device))
        n = size["matmul_n"]
        try:
            _set_tf32(torch, dtype == "tf32")
            done, seconds = _timed(torch, device, _matmul_fn(torch, device, dtype, n), size["matmul_iters"], budget)
            rows.append({"kind": "matmul", "device": index, "dtype": dtype, "n": n, "iters": done,
                         "seconds": seconds})
        except Exception as exc:
            rows.append({"kind": "matmul", "device": index, "dtype": dtype, "error": _err(exc)})
        finally:
            _set_tf32(torch, False)
    return rows


def _set_tf32(torch: Any, on: bool) -> None:
    """TF32 for fp32 matmuls on or off (torch >= 2.9 names it fp32_precision; older torch allow_tf32)."""
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):
        try:
            matmul.fp32_precision = "tf32" if on else "ieee"
            return
        except Exception:
            pass
    matmul.allow_tf32 = on


def measure_copy(torch: Any, device: Any, index: int, size: Dict[str, int], budget: Budget) -> List[Row]:
    progress("device memory copy on %s" % device)
    try:
        src = torch.empty(size["copy_bytes"], dtype=torch.uint8, device=device)
        dst = torch.empty_like(src)
        done, seconds = _timed(torch, device, lambda: dst.copy_(src), size["copy_iters"], budget)
        # a copy reads and writes every byte
        return [{"kind": "membw", "device": index, "bytes": 2 * size["copy_bytes"], "iters": done, "seconds": seconds}]
    except Exception as exc:
        return [{"kind": "membw", "device": index, "error": _err(exc)}]


def measure_host(torch: Any, device: Any, index: int, size: Dict[str, int], budget: Budget) -> List[Row]:
    rows: List[Row] = []
    pinned = device.type == "cuda"
    try:
        host = torch.empty(size["host_bytes"], dtype=torch.uint8, pin_memory=pinned)
        dev = torch.empty(size["host_bytes"], dtype=torch.uint8, device=device)
    except Exception as exc:
        return [{"kind": k, "device": index, "error": _err(exc)} for k in ("h2d", "d2h")]
    for kind, fn in (("h2d", lambda: dev.copy_(host, non_blocking=True)),
                     ("d2h", lambda: host.copy_(dev, non_blocking=True))):
        progress("%s copy (%s) for %s" % (kind, "pinned" if pinned else "pageable", device))
        try:
            done, seconds = _timed(torch, device, fn, size["copy_iters"], budget)
            rows.append({"kind": kind, "device": index, "bytes": size["host_bytes"], "iters": done,
                         "seconds": seconds, "pinned": pinned})
        except Exception as exc:
            rows.append({"kind": kind, "device": index, "error": _err(exc)})
    return rows


def measure_p2p(torch: Any, count: int, size: Dict[str, int], budget: Budget) -> List[Row]:
    rows: List[Row] = []
    for a in range(count):
        for b in range(count):
            if a == b or budget.spent():
                continue
            if not torch.cuda.can_device_access_peer(a, b):
                rows.append({"kind": "p2p", "device": a, "peer": b, "error": "peer access not available"})
                continue
            progress("peer copy cuda:%d -> cuda:%d" % (a, b))
            try:
                src = torch.empty(size["host_bytes"], dtype=torch.uint8, device="cuda:%d" % a)
                dst = torch.empty(size["host_bytes"], dtype=torch.uint8, device="cuda:%d" % b)
                done, seconds = _timed(torch, torch.device("cuda:%d" % b), lambda: dst.copy_(src),
                                       size["copy_iters"], budget)
                torch.cuda.synchronize(a)
                rows.append({"kind": "p2p", "device": a, "peer": b, "bytes": size["host_bytes"], "iters": done,
                             "seconds": seconds})
            except Exception as exc:
                rows.append({"kind": "p2p", "device": a, "peer": b, "error": _err(exc)})
    return rows


def measure_jitter(torch: Any, device: Any, index: int, size: Dict[str, int], budget: Budget) -> List[Row]:
    progress("latency jitter on %s" % device)
    try:
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        n = size["jitter_n"]
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        torch.mm(a, b)
        _sync(torch, device)
        samples: List[float] = []
        for _ in range(size["jitter_iters"]):
            start = time.perf_counter()
            torch.mm(a, b)
            _sync(torch, device)
            samples.append(time.perf_counter() - start)
            if budget.spent():
                break
        return [{"kind": "jitter", "device": index, "n": n, "samples": samples}]
    except Exception as exc:
        return [{"kind": "jitter", "device": index, "error": _err(exc)}]


def run(mode: str, seconds: float) -> Dict[str, Any]:
    budget = Budget(seconds)
    try:
        import torch
    except Exception as exc:
        return {"mode": "not-run", "note": "torch could not be imported: %s" % _err(exc)}
    size = SIZES[mode]
    if mode == "gpu":
        if not torch.cuda.is_available():
            return {"mode": "not-run", "note": "no CUDA device is visible to torch; it would measure: "
                    + "; ".join(WOULD_MEASURE)}
        devices = [torch.device("cuda:%d" % i) for i in range(torch.cuda.device_count())]
    else:
        devices = [torch.device("cpu")]
    rows: List[Row] = []
    for index, device in enumerate(devices):
        for measure in (measure_matmul, measure_copy, measure_host, measure_jitter):
            rows.extend(measure(torch, device, index, size, budget))
    if mode == "gpu" and len(devices) > 1:
        rows.extend(measure_p2p(torch, len(devices), size, budget))
    return {"mode": mode, "rows": rows, "seconds": time.monotonic() - T0, "torch": torch.__version__}


def main(argv: List[str]) -> None:
    mode = argv[1] if len(argv) > 1 else "gpu"
    seconds = float(argv[2]) if len(argv) > 2 else 120.0
    try:
        if mode not in SIZES:
            raise ValueError("unknown mode %r" % mode)
        result = run(mode, seconds)
    except Exception as exc:
        result = {"worker_error": _err(exc)}
    sys.stdout.write(MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv)
