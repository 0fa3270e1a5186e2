"""Loading a model's weights: how long it takes and how much host memory it needs (pure functions).

The estimate, per host, for ``R`` processes that each load the full weights (``B`` bytes):
- read: ``B × R / T``, where ``T`` is the sequential throughput measured on the weight files with the
  page cache bypassed; the processes share the storage (a disk's or a NIC's bandwidth), so each one gets
  ``T / R``;
- copy into tensors: ``B × R / C`` with ``C`` the measured memory copy bandwidth: safetensors copies
  from its memory map into each tensor, ``torch.load`` reads each storage out of the zip archive into a
  new tensor; one copy either way (measured by bench/load_time.py on both formats).
Alternatives are the same formula with other inputs: local NVMe copy first, one reader that broadcasts
(``R = 1``, then a device-to-device broadcast, not counted).  Converting a pickle to safetensors is
recommended for safety and memory mapping (load.checkpoint-format), not for a predicted speed-up.

Host memory per process: the largest shard (memory-mapped safetensors or one unpickled shard at a
time, as with ``low_cpu_mem_usage=True`` / ``device_map``), or the whole model plus one shard when the
model is first built on the CPU (``low_cpu_mem_usage=False``).
Sources: https://huggingface.co/docs/safetensors/speed ; https://huggingface.co/docs/transformers/main/en/big_models ;
https://huggingface.co/docs/accelerate/concept_guides/big_model_inference .
"""

from __future__ import annotations

from dataclasses import dataclass

from ..snapshot import Host, ModelStorage, WeightFile
from ..frozen import frozen


@frozen
class LoadPlan:
    """One way of loading, its terms (seconds) and what it assumes."""

    name: str
    read_seconds: float
    copy_seconds: float
    assumes: str

    @property
    def seconds(self) -> float:
        return self.read_seconds + self.copy_seconds


def loaded_files(storage: ModelStorage) -> tuple[WeightFile, ...]:
    """The files a loader reads: safetensors when present (transformers prefers them), else the pickles."""
    safetensors = tuple(f for f in storage.files if f.format == "safetensors")
    if safetensors:
        return safetensors
    return tuple(f for f in storage.files if f.format in ("pickle", "gguf"))


def weight_bytes(storage: ModelStorage) -> int:
    return sum(f.size for f in loaded_files(storage))


def largest_shard(storage: ModelStorage) -> int:
    return max((f.size for f in loaded_files(storage)), default=0)


def copies(storage: ModelStorage) -> int:
    """Copies of the data a load makes after reading it (see the module doc)."""
    return 1 if loaded_files(storage) else 0


def readers(storage: ModelStorage) -> int:
    return max(storage.local_ranks or 1, 1)


def current_plan(storage: ModelStorage) -> LoadPlan | None:
    """The load as configured: every local process reads its own copy from where the weights are."""
    if not storage.throughput or not storage.copy_rate:
        return None
    b, r = weight_bytes(storage), readers(storage)
    return LoadPlan("as configured", b * r / storage.throughput, copies(storage) * b * r / storage.copy_rate,
                    f"{r} process(es) each read {b} bytes from {storage.storage_class or 'this storage'}")


# Published sequential read figures for a local NVMe drive are 3-7 GB/s (PCIe 4.0 datacenter drives);
# the conservative end is used for "copy to local NVMe first".  Source: e.g. the Samsung PM9A3 and
# Micron 7450 datasheets (6.5-6.8 GB/s sequential read).
LOCAL_NVME_BPS = 3.0e9


def alternatives(storage: ModelStorage) -> list[LoadPlan]:
    """Other ways, each with its predicted time, fastest first (only those that differ from now)."""
    base = current_plan(storage)
    if base is None:
        return []
    b, r, t, c = weight_bytes(storage), readers(storage), storage.throughput or 1.0, storage.copy_rate or 1.0
    out = []
    if r > 1:
        out.append(LoadPlan("load once and broadcast", b / t, copies(storage) * b / c,
                            "one process reads; the others receive the weights over NVLink/NCCL"))
    if storage.storage_class in ("network", "fuse", "local-hdd") and t < LOCAL_NVME_BPS:
        copy_first = b / t
        out.append(LoadPlan("copy to local NVMe first", copy_first + b * r / LOCAL_NVME_BPS, copies(storage) * b * r / c,
                            f"one copy at the measured {t / 1e6:.0f} MB/s, then reads at {LOCAL_NVME_BPS / 1e9:.0f} GB/s"))
    return sorted((p for p in out if p.seconds < base.seconds * 0.95), key=lambda p: p.seconds)


@frozen
class HostMemory:
    per_process_low: int  # low_cpu_mem_usage / device_map: one shard at a time
    per_process_full: int  # the model built on the CPU first, plus one shard
    processes: int
    available: int | None  # min(RAM available, cgroup limit - usage)
    limited_by: str | None  # "cgroup" | "RAM"


def host_memory(storage: ModelStorage, host: Host | None) -> HostMemory:
    b, shard = weight_bytes(storage), largest_shard(storage)
    available, by = None, None
    if host is not None and host.ram_available is not None:
        available, by = host.ram_available, "RAM"
    if storage.cgroup_memory_limit is not None:
        room = storage.cgroup_memory_limit - (storage.cgroup_memory_used or 0)
        if available is None or room < available:
            available, by = room, "cgroup"
    return HostMemory(shard, b + shard, readers(storage), available, by)
