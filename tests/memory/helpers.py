"""Builders shared by the memory tests: model dirs, safetensors files, torch-format memory snapshots."""

from __future__ import annotations

import json
import struct
from pathlib import Path

MODELS = Path(__file__).resolve().parent.parent / "data" / "models"


def model_json(name: str) -> dict:
    return json.loads((MODELS / f"{name}.json").read_text())


def model_dir(tmp: Path, name: str) -> Path:
    d = tmp / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps(model_json(name)["config"]))
    return d


def write_safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]], header_len: int | None = None) -> None:
    """A real safetensors file: u64 LE header length, JSON header, zero-filled data."""
    sizes = {"F32": 4, "BF16": 2, "F16": 2, "I8": 1, "U8": 1}
    header, off = {}, 0
    for name, (dtype, shape) in tensors.items():
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + n]}
        off += n
    raw = json.dumps(header).encode()
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", header_len if header_len is not None else len(raw)))
        fh.write(raw)
        fh.write(b"\0" * off)


MiB = 2**20


def frame(fn: str, line: int, name: str) -> dict:
    return {"filename": fn, "line": line, "name": name}


def torch_format_snapshot(pending_state: str = "active_pending_free", oom: bool = True) -> dict:
    """A snapshot in the format torch.cuda.memory._snapshot() returns (reference_facts.md 7e)."""
    site_a = [frame("/usr/lib/python3/site-packages/torch/nn/modules/linear.py", 125, "forward"),
              frame("train.py", 42, "step")]
    site_b = [frame("model.py", 88, "attention")]
    seg1 = {"device": 0, "address": 0x7F0000000000, "total_size": 40 * MiB, "allocated_size": 24 * MiB,
            "active_size": 26 * MiB, "requested_size": 24 * MiB, "stream": 0, "segment_type": "large",
            "segment_pool_id": (0, 0), "is_expandable": False, "frames": [],
            "blocks": [
                {"address": 0x7F0000000000, "size": 20 * MiB, "requested_size": 20 * MiB, "state": "active_allocated", "frames": site_a},
                {"address": 0x7F0001400000, "size": 6 * MiB, "requested_size": 6 * MiB, "state": "inactive", "frames": []},
                {"address": 0x7F0001A00000, "size": 4 * MiB, "requested_size": 4 * MiB, "state": "active_allocated", "frames": site_b},
                {"address": 0x7F0001E00000, "size": 2 * MiB, "requested_size": 2 * MiB, "state": pending_state, "frames": site_b},
                {"address": 0x7F0002000000, "size": 8 * MiB, "requested_size": 8 * MiB, "state": "inactive", "frames": []},
            ]}
    seg2 = {"device": 0, "address": 0x7F1000000000, "total_size": 2 * MiB, "allocated_size": 0, "active_size": 0,
            "requested_size": 0, "stream": 0, "segment_type": "small", "segment_pool_id": (0, 0),
            "is_expandable": False, "frames": [],
            "blocks": [{"address": 0x7F1000000000, "size": 2 * MiB, "requested_size": 0, "state": "inactive", "frames": []}]}
    trace = [{"action": "segment_alloc", "addr": 0x7F0000000000, "size": 40 * MiB, "stream": 0, "frames": site_a, "time_us": 1},
             {"action": "alloc", "addr": 0x7F0000000000, "size": 20 * MiB, "stream": 0, "frames": site_a, "time_us": 2}]
    if oom:
        trace.append({"action": "oom", "device_free": 1 * MiB, "size": 12 * MiB, "stream": 0, "frames": site_b, "time_us": 3})
    return {"segments": [seg1, seg2], "device_traces": [trace], "allocator_settings": {"expandable_segments": False}}
