"""Predicted vs measured time to load real checkpoints on this machine (CPU), safetensors and pickle.

    python bench/load_time.py [--mib 320] [--shards 4] [--repeats 3]

Writes a model directory of random bf16 tensors twice, as sharded safetensors (with an index, via the
safetensors library) and as a torch.save pickle; for each, asks llmdoctor's storage probe for its
prediction (``load.time``), evicts the files from the page cache, and times the real load
(``safetensors.torch.load_file`` per shard / ``torch.load(weights_only=True)``).  Prints the ratio
measured / predicted per format (the target: within a factor of 1.5).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def make_dirs(root: Path, mib: int, shards: int) -> tuple[Path, Path]:
    import torch
    from safetensors.torch import save_file

    st, pk = root / "safetensors", root / "pickle"
    st.mkdir()
    pk.mkdir()
    per_tensor = 8 * 2**20  # bytes: 4 Mi bf16 elements
    n = max(mib * 2**20 // per_tensor, shards)
    tensors = {f"layers.{i}.weight": torch.randn(2048, 2048).to(torch.bfloat16) for i in range(n)}
    names = sorted(tensors)
    weight_map = {}
    for s in range(shards):
        part = {k: tensors[k] for k in names[s::shards]}
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        save_file(part, str(st / fname))
        weight_map.update({k: fname for k in part})
    (st / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    torch.save(tensors, str(pk / "pytorch_model.bin"))
    return st, pk


def evict(directory: Path) -> None:
    for f in directory.iterdir():
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd) if os.access(f, os.W_OK) else None
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def real_load(directory: Path) -> float:
    import torch
    from safetensors.torch import load_file

    start = time.perf_counter()
    for f in sorted(directory.iterdir()):
        if f.suffix == ".safetensors":
            load_file(str(f))
        elif f.suffix == ".bin":
            torch.load(str(f), weights_only=True)
    return time.perf_counter() - start


def predicted(directory: Path) -> float:
    from llmdoctor.facts.loading import current_plan
    from llmdoctor.probes.storage import probe_model_storage

    storage = probe_model_storage(directory)
    plan = current_plan(storage)
    assert plan is not None, "throughput not measured"
    return plan.seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=320)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to write the checkpoints (default: a temp dir)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="llmdoctor-load-", dir=args.dir))
    try:
        st, pk = make_dirs(root, args.mib, args.shards)
        print(f"{'format':12} {'bytes':>12} {'predicted s':>12} {'measured s':>11} {'ratio':>6}")
        for name, d in (("safetensors", st), ("pickle", pk)):
            preds, meas = [], []
            for _ in range(args.repeats):
                preds.append(predicted(d))
                evict(d)
                meas.append(real_load(d))
            p, m = statistics.median(preds), statistics.median(meas)
            size = sum(f.stat().st_size for f in d.iterdir())
            print(f"{name:12} {size:12,d} {p:12.3f} {m:11.3f} {m / p:6.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
