"""The snapshot: a frozen, versioned, JSON round-trippable description of an environment.

Every part may be unknown (``None``); why it is unknown is recorded in ``probes``
(the probe that should have filled it, and its reason).  A live run, a saved
snapshot file and a parsed text dump all produce the same type, so every check
works offline.

Conventions:
- sizes are bytes (int); versions are strings as the tool reported them;
- compute capability is a "major.minor" string ("9.0");
- ``None`` means unknown, an empty tuple means "known to be none".
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping, cast
from .frozen import frozen

SCHEMA = "llmdoctor.snapshot/1"


class SnapshotError(ValueError):
    """A snapshot document that cannot be read (bad JSON, wrong schema, wrong types)."""


# --------------------------------------------------------------------------- parts


@frozen
class ProbeResult:
    """What one probe did: ok, or why it failed or was not run."""

    name: str
    ok: bool
    reason: str | None = None
    seconds: float | None = None


@frozen
class NetInterface:
    """A network interface as the host probe saw it (NCCL_SOCKET_IFNAME is matched against these)."""

    name: str
    is_up: bool | None = None
    is_loopback: bool = False
    addresses: tuple[str, ...] = ()


@frozen
class Host:
    """The machine: OS, kernel, container, memory, /dev/shm, limits, PCI devices, interfaces."""

    os: str | None = None
    os_release: str | None = None  # PRETTY_NAME of /etc/os-release
    kernel: str | None = None
    arch: str | None = None
    hostname: str | None = None
    cpu_count: int | None = None
    ram_total: int | None = None
    ram_available: int | None = None
    swap_total: int | None = None
    shm_total: int | None = None  # /dev/shm size in bytes
    shm_free: int | None = None
    memlock_soft: int | None = None  # bytes; -1 = unlimited
    memlock_hard: int | None = None
    nofile_soft: int | None = None
    nofile_hard: int | None = None
    container: str | None = None  # docker | podman | kubernetes | apptainer | None (none detected)
    in_wsl: bool | None = None
    nvidia_pci_devices: int | None = None  # NVIDIA display/3D controllers on the PCI bus
    nvidia_kernel_module: str | None = None  # version in /proc/driver/nvidia/version
    interfaces: tuple[NetInterface, ...] | None = None
    default_route_interface: str | None = None
    ib_devices: tuple[str, ...] | None = None  # /sys/class/infiniband
    pci_acs_enabled: bool | None = None  # PCIe ACS redirect on a bridge (lspci ACSCtl SrcValid+/ReqRedir+)
    nccl_transports: tuple[str, ...] | None = None  # what NCCL's log says it used: P2P/IPC, SHM, NET/IB, NET/Socket


@frozen
class Python:
    """The target interpreter (``--python``, default: the one running llmdoctor)."""

    version: str | None = None
    executable: str | None = None
    implementation: str | None = None
    prefix: str | None = None
    venv: bool | None = None
    conda_env: str | None = None  # CONDA_DEFAULT_ENV / conda prefix


@frozen
class Driver:
    """The NVIDIA driver as NVML reports it."""

    version: str | None = None  # "535.104.05"
    cuda_version: str | None = None  # the driver's maximum CUDA, "12.2"
    nvml_version: str | None = None
    platform: str | None = None  # "linux" | "windows"; decides which driver table applies


@frozen
class GpuProcess:
    """A process holding memory on a GPU (NVML)."""

    pid: int
    name: str | None = None
    used_memory: int | None = None


@frozen
class MigDevice:
    """One MIG slice (GPU instance / compute instance) of a GPU in MIG mode, as NVML lists it."""

    index: int
    uuid: str | None = None  # "MIG-..." (what CUDA_VISIBLE_DEVICES takes)
    profile: str | None = None  # "1g.10gb"
    memory_total: int | None = None
    memory_used: int | None = None
    memory_free: int | None = None


@frozen
class Gpu:
    """One GPU as NVML reports it: identity, memory, capability, health, MIG."""

    index: int
    name: str | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    compute_capability: str | None = None  # "9.0"
    memory_total: int | None = None
    memory_used: int | None = None
    memory_free: int | None = None
    processes: tuple[GpuProcess, ...] | None = None
    mig_mode: bool | None = None
    persistence_mode: bool | None = None
    mig_devices: tuple[MigDevice, ...] | None = None  # None = not probed; () = MIG off or no slice
    health: GpuHealth | None = None  # NVML health facts (health.* checks); None = not probed


@frozen
class GpuHealth:
    """What NVML says about one GPU's health; a field is None when it was not read.

    ``unread`` names each fact NVML would not give and why ("not supported", "no permission"), so a
    check can say what it could not see.  Power is in milliwatts, temperatures in degrees C.
    """

    ecc_enabled: bool | None = None
    ecc_pending: bool | None = None  # the mode that applies after the next reset
    ecc_volatile_uncorrected: int | None = None  # since the last driver load
    ecc_aggregate_uncorrected: int | None = None  # over the GPU's life
    retired_pages_pending: bool | None = None
    remapped_rows_pending: bool | None = None
    remapped_rows_failed: bool | None = None
    remapped_rows_uncorrectable: int | None = None
    recovery_action: int | None = None  # NVML_FI_DEV_GET_GPU_RECOVERY_ACTION (0 none, 1 reset, 2 reboot, 3 drain P2P, 4 drain and reset)
    clock_event_reasons: int | None = None  # nvmlDeviceGetCurrentClocksEventReasons bitmask
    temperature: int | None = None
    temperature_slowdown: int | None = None  # NVML_TEMPERATURE_THRESHOLD_SLOWDOWN
    power_limit: int | None = None  # enforced, mW
    power_default_limit: int | None = None  # mW
    pcie_gen: int | None = None
    pcie_gen_max: int | None = None  # the most this GPU and this slot allow (nvmlDeviceGetMaxPcieLinkGeneration)
    pcie_gen_gpu_max: int | None = None  # the GPU's own maximum (nvmlDeviceGetGpuMaxPcieLinkGeneration)
    pcie_width: int | None = None
    pcie_width_max: int | None = None
    pcie_under_load: bool | None = None  # the GPU was busy (utilisation > 0) when the link was read
    nvlink_active: int | None = None
    nvlink_inactive: int | None = None  # links that exist but are down
    nvlink_errors: Mapping[str, int] | None = None  # counter name -> sum over links
    fabric_state: str | None = None  # not_supported | not_started | in_progress | completed
    fabric_status: int | None = None  # NVML return code of the fabric registration (0 = success)
    brand: str | None = None  # NVML brand (Tesla/NVIDIA datacenter, GeForce, ...)
    unread: Mapping[str, str] | None = None


@frozen
class XidEvent:
    """One XID the driver reported: from the kernel log (verbatim line) or from NVML events."""

    xid: int
    source: str  # kernel-log | nvml-events
    pci_bus_id: str | None = None
    gpu: int | None = None
    text: str | None = None


@frozen
class XidLog:
    """The XIDs found, and where llmdoctor looked (``sources``) or could not (``unread``, with why)."""

    events: tuple[XidEvent, ...] = ()
    sources: tuple[str, ...] = ()
    unread: tuple[str, ...] = ()


@frozen
class FabricManager:
    """NVSwitch systems: the switches seen and the nvidia-fabricmanager service."""

    nvswitches: int | None = None  # NVSwitch devices found (/proc/driver/nvidia-nvswitch/devices)
    service_active: bool | None = None
    version: str | None = None  # nv-fabricmanager --version
    detail: str | None = None  # why a fact is unknown


@frozen
class DcgmTest:
    """One test of ``dcgmi diag`` and its result."""

    name: str
    status: str  # pass | warn | fail | skip | ... as dcgmi reports it, lower case
    info: str | None = None
    gpu: int | None = None


@frozen
class DcgmDiag:
    """``dcgmi diag -r 1 -j``: ran or not (``error`` says why), and each test's result."""

    ran: bool
    error: str | None = None
    tests: tuple[DcgmTest, ...] = ()


@frozen
class DeepMeasure:
    """One measurement of ``check --deep``.

    kind: matmul (value TFLOPS) | membw (GB/s) | h2d | d2h (GB/s, pinned) | p2p (GB/s) | jitter (ms, samples in ms).
    """

    kind: str
    device: int | None = None
    dtype: str | None = None
    peer: int | None = None
    value: float | None = None
    unit: str | None = None
    size: str | None = None
    samples: tuple[float, ...] = ()
    error: str | None = None


@frozen
class Deep:
    """The measured probes of ``check --deep`` (bandwidth, compute, jitter)."""

    mode: str  # gpu | cpu-smoke | not-run
    measures: tuple[DeepMeasure, ...] = ()
    seconds: float | None = None
    note: str | None = None


@frozen
class GpuLink:
    """How two GPUs talk: NVML topology level and peer-to-peer support."""

    a: int
    b: int
    level: str | None = None  # NVLINK | SINGLE | MULTIPLE | HOSTBRIDGE | NODE | SYSTEM (NVML names)
    nvlinks: int | None = None
    p2p_read: bool | None = None


@frozen
class TorchDevice:
    """A CUDA device as torch enumerates it."""

    index: int
    name: str | None = None
    capability: str | None = None


@frozen
class ExtensionImport:
    """One GPU extension imported in the torch probe's process (after torch), or why it was not.

    name: the module tried ("xformers", "flash_attn_2_cuda", "vllm._C", "bitsandbytes", "triton"), or a
    pseudo-name for a cheap look-up done instead of an import ("triton:libcuda" = triton's libcuda
    search; "deepspeed:ops" = DeepSpeed's record of what its prebuilt ops were built for).
    ok: True imported / found; False raised (``error`` verbatim); None not tried (``error`` says why).
    warnings: verbatim warnings and WARNING-level log records emitted while importing.
    info: small facts the look-up found (e.g. {"libcuda_dirs": "/usr/lib/x86_64-linux-gnu"}).
    """

    name: str
    ok: bool | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()
    seconds: float | None = None
    info: Mapping[str, str] | None = None


@frozen
class Torch:
    """torch in the target interpreter: its build and what it sees."""

    installed: bool
    version: str | None = None
    file: str | None = None
    cuda: str | None = None  # torch.version.cuda; None = CPU build
    hip: str | None = None
    git_version: str | None = None
    debug: bool | None = None
    cudnn: int | None = None  # torch.backends.cudnn.version()
    nccl: str | None = None  # "2.21.5"
    arch_list: tuple[str, ...] | None = None  # torch.cuda.get_arch_list()
    cuda_available: bool | None = None
    device_count: int | None = None
    devices: tuple[TorchDevice, ...] | None = None
    import_error: str | None = None  # verbatim
    cuda_error: str | None = None  # verbatim CUDA-initialisation error
    warnings: tuple[str, ...] = ()  # verbatim warnings seen on import / CUDA init
    loaded_libraries: Mapping[str, str] | None = None  # soname stem -> path actually mapped (cudnn, nccl, cudart, cuda)
    installs: tuple[str, ...] | None = None  # every torch package directory on sys.path
    # installed GPU extensions imported after torch (packages.imports); None = not probed
    extensions: tuple[ExtensionImport, ...] | None = None


@frozen
class CudaInstall:
    """A CUDA toolkit installation found on disk."""

    path: str
    version: str | None = None


@frozen
class Toolkit:
    """nvcc and the CUDA toolkits found (what builds extensions)."""

    nvcc_path: str | None = None
    nvcc_version: str | None = None  # "12.1"
    nvcc_source: str | None = None  # CUDA_HOME | CUDA_PATH | PATH | default
    cuda_home: str | None = None
    installs: tuple[CudaInstall, ...] = ()


@frozen
class Distribution:
    """One installed distribution (its metadata: version, requirements, location, installer)."""

    name: str
    version: str
    location: str | None = None
    requires: tuple[str, ...] = ()
    installer: str | None = None  # pip | conda | uv | ...
    top_level: tuple[str, ...] = ()
    direct_url: str | None = None  # direct_url.json's url: installed from a path or URL, not an index
    editable: bool = False  # direct_url.json says dir_info.editable (pip install -e)


@frozen
class Packages:
    """The installed distributions of the target interpreter."""

    interpreter: str | None = None
    distributions: tuple[Distribution, ...] = ()
    problems: tuple[str, ...] = ()  # broken or partial dist-info folders
    # Whether ``distributions`` is every installed distribution: False for a partial listing (``pip show``,
    # a truncated ``pip list``, the subset a collect_env dump names), where an unlisted package is unknown,
    # not missing; None where it is not stated (live probes and older snapshots: read as complete).
    complete: bool | None = None

    def get(self, name: str) -> Distribution | None:
        return self._by_name.get(normalize_name(name))

    @functools.cached_property
    def _by_name(self) -> dict[str, Distribution]:
        """The first distribution of each normalised name (checks ask by name, once per GPU too)."""
        index: dict[str, Distribution] = {}
        for dist in self.distributions:
            index.setdefault(normalize_name(dist.name), dist)
        return index

    def version(self, name: str) -> str | None:
        dist = self.get(name)
        return dist.version if dist else None


@frozen
class Meta:
    """Where a snapshot came from: when, which llmdoctor, live or a file (and what of it was understood)."""

    created_at: str | None = None
    llmdoctor_version: str | None = None
    source: str = "live"  # live | file | dump
    source_detail: str | None = None
    understood: tuple[str, ...] = ()  # for dumps: which formats were recognised
    provenance: Mapping[str, str] | None = None  # for dumps: fact ("toolkit.nvcc_version") -> where it was read


@frozen
class WeightFile:
    """One checkpoint file of a model directory."""

    name: str
    size: int
    format: str  # safetensors | pickle | gguf | other
    header_bytes: int | None = None  # safetensors: bytes the header's tensors need (data section)
    cached_fraction: float | None = None  # share of its pages already in the page cache


@frozen
class ModelStorage:
    """Where a model's weights live and how fast they read: the facts behind the load.* checks.

    Sizes in bytes, throughput in bytes per second, measured on the weight files themselves.
    """

    path: str
    fs_type: str | None = None  # /proc/mounts type of the mount holding the weights
    mount_point: str | None = None
    device: str | None = None  # mount source (/dev/nvme0n1p2, server:/export, ...)
    storage_class: str | None = None  # local-ssd | local-hdd | network | fuse | overlay | tmpfs | unknown
    files: tuple[WeightFile, ...] = ()
    index_file: str | None = None
    index_error: str | None = None  # the index exists but cannot be read (not JSON, no weight_map)
    index_missing: tuple[str, ...] = ()  # shards the index names that are absent
    index_extra: tuple[str, ...] = ()  # weight files the index does not name
    truncated: tuple[str, ...] = ()  # files shorter than their header (or index) says
    links_outside: tuple[str, ...] = ()  # symlinks pointing out of the model directory (not followed)
    unreadable: tuple[str, ...] = ()
    expected_bytes: int | None = None  # what the memory plan expects the weights to take
    read_bytes: int | None = None  # bytes read for the throughput measurement
    read_seconds: float | None = None
    throughput: float | None = None  # sequential read, bytes/s, page cache bypassed
    throughput_method: str | None = None  # O_DIRECT | fadvise-dontneed | cached (could not bypass)
    copy_rate: float | None = None  # memory copy bandwidth, bytes/s (deserialisation term)
    hf_cache_dir: str | None = None
    hf_cache_free: int | None = None
    hf_offline_complete: bool | None = None  # all files present for HF_HUB_OFFLINE=1
    cgroup_memory_limit: int | None = None  # bytes; None = no limit found or unknown
    cgroup_memory_used: int | None = None
    local_ranks: int | None = None  # processes on this host that will each load the weights


@frozen
class Snapshot:
    """Everything probed or read, frozen: the one input of every check."""

    schema: str = SCHEMA
    meta: Meta = field(default_factory=Meta)
    probes: tuple[ProbeResult, ...] = ()
    host: Host | None = None
    python: Python | None = None
    driver: Driver | None = None
    gpus: tuple[Gpu, ...] | None = None
    gpu_links: tuple[GpuLink, ...] | None = None
    torch: Torch | None = None
    toolkit: Toolkit | None = None
    packages: Packages | None = None
    env: Mapping[str, str] | None = None
    errors: tuple[str, ...] = ()  # error/warning texts found in a dump (or given with --error)
    model_storage: ModelStorage | None = None  # with --model: the weights' files and storage
    xids: XidLog | None = None  # XIDs from the kernel log / NVML events (health.xid)
    fabric: FabricManager | None = None  # NVSwitch fabric manager (health.fabric)
    dcgm: DcgmDiag | None = None  # dcgmi diag, with --dcgm
    deep: Deep | None = None  # measured probes, with --deep

    # -- helpers used by checks -------------------------------------------------
    def probe(self, name: str) -> ProbeResult | None:
        for p in self.probes:
            if p.name == name:
                return p
        return None

    def unknown_reason(self, part: str) -> str:
        """Why a part is unknown, for a skip message."""
        owner = PART_PROBES.get(part, part)
        p = self.probe(owner)
        if p is not None and not p.ok and p.reason:
            return f"{part} unknown: {p.reason}"
        if self.meta.source != "live":
            return f"{part} unknown: not in the input"
        return f"{part} unknown"

    def to_dict(self) -> dict[str, Any]:
        return cast("dict[str, Any]", _to_jsonable(self))

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, data: Any) -> "Snapshot":
        if not isinstance(data, dict):
            raise SnapshotError("a snapshot must be a JSON object")
        schema = data.get("schema")
        if schema != SCHEMA:
            raise SnapshotError(f"unsupported snapshot schema {schema!r} (expected {SCHEMA!r})")
        return cast("Snapshot", _from_jsonable(cls, data, "snapshot"))

    @classmethod
    def from_json(cls, text: str) -> "Snapshot":
        from . import boundedio  # the one bounded JSON reader (depth, 64-bit numbers, no NaN, no lone surrogate)

        try:
            data = boundedio.load_json(text, "snapshot")
        except boundedio.UsageError as exc:
            raise SnapshotError(str(exc).removeprefix("snapshot: ")) from None
        return cls.from_dict(data)


# Which probe fills which part (for skip reasons).
PART_PROBES = {
    "host": "host",
    "python": "python",
    "driver": "nvml",
    "gpus": "nvml",
    "gpu_links": "nvml",
    "torch": "torch",
    "toolkit": "toolkit",
    "packages": "packages",
    "env": "env",
    "model_storage": "model-storage",
    "xids": "xid",
    "fabric": "fabric",
    "dcgm": "dcgm",
    "deep": "deep",
}


def normalize_name(name: str) -> str:
    """PEP 503 normalisation of a distribution name."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


# --------------------------------------------------------------------------- (de)serialisation


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's (init) field names, looked up once per class: snapshots and reports are walked field
    by field (to JSON, redaction, sanitising), and rebuilt from these with ``dataclasses.replace``."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.init)
    return names


def _to_jsonable(obj: Any) -> Any:
    if isinstance(obj, str) or obj is None or isinstance(obj, (int, float)):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {name: _to_jsonable(getattr(obj, name)) for name in field_names(type(obj))}
    if isinstance(obj, Mapping):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return [_to_jsonable(v) for v in obj]
    return obj


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _from_jsonable(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return _union_from_jsonable(args, value, where)
    if value is None:
        raise SnapshotError(f"{where}: must not be null")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_from_jsonable(tp, value, where)
    if origin is tuple:
        return _tuple_from_jsonable(args, value, where)
    if origin in (Mapping, collections.abc.Mapping, dict) or tp in (dict,):
        return _mapping_from_jsonable(args, value, where)
    return _scalar_from_jsonable(tp, value, where)


def _union_from_jsonable(args: tuple[Any, ...], value: Any, where: str) -> Any:
    if value is None:
        if type(None) in args:
            return None
        raise SnapshotError(f"{where}: must not be null")
    non_none = [a for a in args if a is not type(None)]
    return _from_jsonable(non_none[0], value, where)


def _dataclass_from_jsonable(tp: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise SnapshotError(f"{where}: expected an object")
    hints = _hints(tp)
    kwargs = {}
    for f in dataclasses.fields(tp):
        if f.name in value:
            kwargs[f.name] = _from_jsonable(hints[f.name], value[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SnapshotError(f"{where}: missing {f.name!r}")
    # Unknown keys are ignored: newer writers may add fields (forward compatible).
    return tp(**kwargs)


def _tuple_from_jsonable(args: tuple[Any, ...], value: Any, where: str) -> Any:
    if not isinstance(value, list):
        raise SnapshotError(f"{where}: expected a list")
    item = args[0] if args else Any
    return tuple(_from_jsonable(item, v, f"{where}[{i}]") for i, v in enumerate(value))


def _mapping_from_jsonable(args: tuple[Any, ...], value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise SnapshotError(f"{where}: expected an object")
    vt = args[1] if len(args) == 2 else Any
    return types.MappingProxyType({str(k): _from_jsonable(vt, v, f"{where}.{k}") for k, v in value.items()})


def _scalar_from_jsonable(tp: Any, value: Any, where: str) -> Any:
    if tp is bool:
        if not isinstance(value, bool):
            raise SnapshotError(f"{where}: expected true/false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SnapshotError(f"{where}: expected an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SnapshotError(f"{where}: expected a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise SnapshotError(f"{where}: expected a string")
        return value
    return value  # Any, or a type not checked here


def freeze_mapping(d: Mapping[str, str]) -> Mapping[str, str]:
    return types.MappingProxyType(dict(d))
