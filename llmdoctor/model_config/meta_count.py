"""Exact parameter count of an architecture llmdoctor does not model, by instantiating it on torch's meta device.

Runs transformers in a subprocess (the CLI process never imports torch): the config goes in on stdin,
per-tensor counts come back as JSON.  Nothing is downloaded and no memory is allocated (meta tensors).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from ..engine import UsageError

_SCRIPT = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
cfg = json.load(sys.stdin)
try:
    import transformers, torch
except Exception as exc:
    print(json.dumps({"error": "import", "detail": f"{type(exc).__name__}: {exc}"})); sys.exit(0)
try:
    mt = cfg.pop("model_type")
    config = transformers.AutoConfig.for_model(mt, **cfg)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config)
except Exception as exc:
    print(json.dumps({"error": "build", "detail": f"{type(exc).__name__}: {exc}"})); sys.exit(0)
seen, out = set(), []
for name, p in model.named_parameters():
    if id(p) in seen:
        continue
    seen.add(id(p))
    out.append([name, str(p.dtype).replace("torch.", ""), list(p.shape)])
print(json.dumps({"transformers": transformers.__version__, "tensors": out}))
"""


def meta_tensors(cfg: dict[str, Any], python: str | None = None, timeout: float = 120.0) -> list[tuple[str, str, list[int]]] | None:
    """(name, dtype, shape) of every parameter, or None when transformers is not installed.

    Raises UsageError when transformers is there but cannot build the model from this config.
    """
    try:
        proc = subprocess.run([python or sys.executable, "-c", _SCRIPT], input=json.dumps(cfg), capture_output=True,
                              text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"meta-device count failed: {exc}") from None
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise UsageError(f"meta-device count failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:] or '?'}") from None
    if data.get("error") == "import":
        return None
    if data.get("error"):
        detail = str(data["detail"]).splitlines()[0].split(". Should contain")[0]
        detail = detail if len(detail) <= 200 else detail[:200] + "…"
        raise UsageError(f"transformers cannot build model_type={cfg.get('model_type')!r} from this config.json: {detail}")
    return [(n, d, s) for n, d, s in data["tensors"]]
