"""Reliability figures: the secret corpus through redaction, hostile pickles, special files.

    python bench/fuzz.py --report

Prints the figures docs/reliability.md quotes (secrets in the corpus, leaks, hostile pickles refused
and their time, special files refused).  Deterministic (fixed seeds).
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hardening.secret_corpus import CORPUS, ENV_VALUES  # noqa: E402

from llmdoctor.engine import UsageError  # noqa: E402
from llmdoctor.redact import redact_env, redact_value  # noqa: E402


def secrets_figures() -> dict[str, int]:
    leaks = sum(secret in redact_value(f"x {text} y") for _n, text, secret in CORPUS)
    env_leaks = sum(redact_env(k, v) == v for k, v in ENV_VALUES.items())
    return {"secret forms": len(CORPUS), "env values": len(ENV_VALUES), "leaks": leaks + env_leaks}


def pickle_figures() -> dict[str, object]:
    from llmdoctor.memory.analyze import safe_load

    a: list = []
    a.append(a)
    d: dict = {}
    d["d"] = d
    x: list = ["x"]
    for _ in range(40):
        x = [x, x]
    cases = {"self list": pickle.dumps(a, 2), "self dict": pickle.dumps(d, 2), "bomb": pickle.dumps(x, 2)}
    out: dict[str, object] = {}
    for name, raw in cases.items():
        start = time.monotonic()
        try:
            safe_load(raw)
            verdict = "loaded (walked once per object)"
        except UsageError as exc:
            verdict = f"refused: {str(exc)[:50]}"
        out[f"{name} ({len(raw)} B)"] = f"{verdict} in {1000 * (time.monotonic() - start):.1f} ms"
    return out


def special_file_figures() -> dict[str, str]:
    from llmdoctor.boundedio import require_regular

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        fifo = Path(tmp) / "fifo"
        os.mkfifo(fifo)
        for p in ("/dev/zero", "/dev/urandom", "/dev/null", str(fifo)):
            try:
                require_regular(p)
                out[p] = "ACCEPTED"
            except UsageError:
                out[p] = "refused (exit 2)"
    return out


def main() -> int:
    if "--report" not in sys.argv:
        print(__doc__)
        return 0
    for title, figures in (("secrets", secrets_figures()), ("pickles", pickle_figures()),
                           ("special files", special_file_figures())):
        print(f"## {title}")
        for k, v in figures.items():
            print(f"  {k}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
