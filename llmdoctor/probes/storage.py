"""Model-storage probe: the weight files of a model directory, the filesystem holding them, how fast
they read, the container's memory limit and the Hugging Face cache.  The only code of the load.* checks
that touches the machine; bounded in bytes and seconds; failures are data.

Throughput is measured on the weight files themselves, bypassing the page cache: ``posix_fadvise(DONTNEED)``
evicts the file's clean pages, then buffered reads (with the kernel's readahead, as loaders read) time a
cold read; ``O_DIRECT`` where eviction is not available.  The pages read are cached again afterwards, so
the cache ends warm for what was read.  How much of each file was
already cached is read with ``mincore`` before anything is evicted.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
import time
from pathlib import Path
from typing import Callable, Iterable

from ..boundedio import load_json
from ..engine import UsageError
from ..snapshot import ModelStorage, WeightFile

READ_BYTES = 256 * 2**20  # at most this much is read to measure throughput
READ_SECONDS = 2.0
CHUNK = 8 * 2**20
NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "cephfs", "ceph", "glusterfs",
              "9p", "afs", "wekafs", "panfs", "virtiofs"}
FUSE_FS_PREFIX = "fuse"  # fuse.s3fs, fuse.gcsfuse, fuse.mountpoint-s3, fuse.juicefs, fuse.blobfuse2 ...
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
WEIGHT_SUFFIXES = (".safetensors", ".gguf") + PICKLE_SUFFIXES
INDEX_NAMES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
IGNORED = {"training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth", "scaler.pt"}


def weight_format(name: str) -> str:
    if name.endswith(".safetensors"):
        return "safetensors"
    if name.endswith(".gguf"):
        return "gguf"
    if name.endswith(PICKLE_SUFFIXES):
        return "pickle"
    return "other"


# --------------------------------------------------------------------------- files and index


def _inside(directory: Path, entry: Path) -> bool:
    try:
        return os.path.commonpath([os.path.realpath(entry), os.path.realpath(directory)]) == os.path.realpath(directory)
    except ValueError:
        return False


def list_weight_files(directory: Path, hf_cache: bool = False) -> tuple[list[Path], list[str], list[str]]:
    """(weight files, links pointing outside the directory, unreadable names).

    In a Hugging Face cache snapshot every file is a link into ``../../blobs``: those are followed.
    """
    files, outside, unreadable = [], [], []
    for entry in sorted(directory.iterdir()):
        if not entry.name.endswith(WEIGHT_SUFFIXES) or entry.name in IGNORED:
            continue
        if entry.is_symlink() and not hf_cache and not _inside(directory, entry):
            outside.append(entry.name)
            continue
        if not os.access(entry, os.R_OK) or not entry.is_file():
            unreadable.append(entry.name)
            continue
        files.append(entry)
    return files, outside, unreadable


def safetensors_data_bytes(path: Path) -> int | None:
    """8 + header length + the largest data offset the header names: the size the file must have."""
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return None
            (n,) = struct.unpack("<Q", head)
            if n > 100 * 2**20:
                return None
            header = load_json(fh.read(n), path.name, "safetensors header")
    except (OSError, ValueError, UsageError):
        return None
    if not isinstance(header, dict):
        return None
    ends = [v["data_offsets"][1] for k, v in header.items()
            if k != "__metadata__" and isinstance(v, dict) and isinstance(v.get("data_offsets"), list) and len(v["data_offsets"]) == 2]
    return 8 + int(n) + max((e for e in ends if isinstance(e, int)), default=0)


def read_index(directory: Path) -> tuple[str | None, set[str] | None, str | None]:
    """(index file name, shard names it lists, error) for the first index present."""
    for name in INDEX_NAMES:
        path = directory / name
        if not path.is_file():
            continue
        try:
            raw = path.read_bytes()[: 64 * 2**20]
            doc = load_json(raw, name, "index")
            shards = set(doc["weight_map"].values())
        except (OSError, ValueError, UsageError, KeyError, TypeError, AttributeError) as exc:
            return name, None, f"{name} is not a valid index ({type(exc).__name__}: it needs a JSON weight_map)"
        if not all(isinstance(s, str) for s in shards):
            return name, None, f"{name}: weight_map values must be file names"
        return name, shards, None
    return None, None, None


# --------------------------------------------------------------------------- mounts


def mount_for(path: Path, mounts_text: str) -> tuple[str | None, str | None, str | None]:
    """(mount point, fs type, source) of the longest mount point containing ``path``."""
    real = os.path.realpath(path)
    best: tuple[str, str, str] | None = None
    for line in mounts_text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        source, point, fstype = parts[0], parts[1].replace("\\040", " "), parts[2]
        if real == point or real.startswith(point.rstrip("/") + "/") or point == "/":
            if best is None or len(point) > len(best[0]):
                best = (point, fstype, source)
    return best if best else (None, None, None)


def storage_class(fstype: str | None, source: str | None, sys_block: Path) -> str:
    if fstype is None:
        return "unknown"
    if fstype in NETWORK_FS or (source or "").startswith("//") or ":" in (source or "") and fstype.startswith("nfs"):
        return "network"
    if fstype.startswith(FUSE_FS_PREFIX):
        return "fuse"
    if fstype == "overlay":
        return "overlay"
    if fstype in ("tmpfs", "ramfs"):
        return "tmpfs"
    if _virtual_disk(source):
        return "local-virtual"  # a VM's disk: its rotational flag says nothing; the measured speed does
    rotational = _rotational(source, sys_block)
    if rotational is None:
        return "unknown"
    return "local-hdd" if rotational else "local-ssd"


def _virtual_disk(source: str | None) -> bool:
    name = os.path.basename(source or "")
    return name.startswith(("vd", "xvd"))


def _rotational(source: str | None, sys_block: Path) -> bool | None:
    if not source or not source.startswith("/dev/"):
        return None
    name = os.path.basename(os.path.realpath(source))
    for candidate in (name, name.rstrip("0123456789"), name.split("p")[0] if name.startswith("nvme") else name):
        flag = sys_block / candidate / "queue" / "rotational"
        try:
            return flag.read_text().strip() == "1"
        except OSError:
            continue
    return None


# --------------------------------------------------------------------------- cgroup


def cgroup_memory(root: Path = Path("/sys/fs/cgroup"), proc_self_cgroup: Path = Path("/proc/self/cgroup")) -> tuple[int | None, int | None]:
    """(limit, usage) of this process's memory cgroup (v2 memory.max / v1 memory.limit_in_bytes)."""
    rel = "/"
    try:
        for line in proc_self_cgroup.read_text().splitlines():
            hier, controllers, path = (line.split(":", 2) + ["", ""])[:3]
            if hier == "0" or "memory" in controllers.split(","):
                rel = path or "/"
                break
    except OSError:
        pass
    for base in (root / rel.lstrip("/"), root, root / "memory" / rel.lstrip("/"), root / "memory"):
        for limit_name, usage_name in (("memory.max", "memory.current"), ("memory.limit_in_bytes", "memory.usage_in_bytes")):
            limit = _read_int(base / limit_name)
            if limit is not None or (base / limit_name).exists():
                return (limit if limit is not None and limit < 2**60 else None), _read_int(base / usage_name)
    return None, None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


# --------------------------------------------------------------------------- throughput


def cached_fraction(path: Path) -> float | None:
    """Share of the file's pages in the page cache (mincore on a private mapping; nothing is read)."""
    try:
        size = path.stat().st_size
        if size == 0:
            return None
        libc = ctypes.CDLL(None, use_errno=True)
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY) as mm:
            pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
            vec = (ctypes.c_ubyte * pages)()
            view = (ctypes.c_char * size).from_buffer(mm)
            try:
                rc = libc.mincore(ctypes.c_void_p(ctypes.addressof(view)), ctypes.c_size_t(size), vec)
            finally:
                del view
            if rc != 0:
                return None
            return sum(v & 1 for v in vec) / pages
    except (OSError, ValueError, TypeError, AttributeError, BufferError):
        return None


Reader = Callable[[int, int], int]  # (fd, n) -> bytes read


def _default_reader(buffer: mmap.mmap) -> Reader:
    def read(fd: int, n: int) -> int:
        return os.readv(fd, [memoryview(buffer)[:n]])
    return read


def measure_throughput(files: Iterable[Path], max_bytes: int = READ_BYTES, max_seconds: float = READ_SECONDS,
                       reader: Reader | None = None) -> tuple[int, float, str]:
    """(bytes read, seconds, method) reading the files in order, bounded by bytes and time."""
    total, seconds, methods = 0, 0.0, set()
    buffer = mmap.mmap(-1, CHUNK)  # page-aligned, as O_DIRECT needs
    read = reader or _default_reader(buffer)
    try:
        for path in files:
            if total >= max_bytes or seconds >= max_seconds:
                break
            n, s, method = _read_file(path, read, max_bytes - total, max_seconds - seconds)
            total, seconds = total + n, seconds + s
            methods.add(method)
    finally:
        buffer.close()
    return total, seconds, "+".join(sorted(methods)) or "none"


def _read_file(path: Path, read: Reader, max_bytes: int, max_seconds: float) -> tuple[int, float, str]:
    """Read one file from its start (sizes kept page-aligned for O_DIRECT); falls back to cached reads."""
    fd, method = _open_uncached(path)
    total, start = 0, time.perf_counter()
    try:
        while total < max_bytes and time.perf_counter() - start < max_seconds:
            want = min(CHUNK, max_bytes - total) // mmap.PAGESIZE * mmap.PAGESIZE
            if want <= 0:
                break
            try:
                n = read(fd, want)
            except OSError:
                if method != "O_DIRECT":
                    raise
                os.close(fd)  # this filesystem refuses O_DIRECT here: go on without it
                fd, method = os.open(path, os.O_RDONLY), "fadvise-dontneed"
                _drop_cache(fd)
                os.lseek(fd, total, os.SEEK_SET)
                continue
            if n <= 0:
                break
            total += n
    finally:
        os.close(fd)
    return total, time.perf_counter() - start, method


def _drop_cache(fd: int) -> bool:
    if not hasattr(os, "posix_fadvise"):
        return False
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return True
    except OSError:
        return False


def _open_uncached(path: Path) -> tuple[int, str]:
    """Open for a cold read: evict the file's clean pages (buffered reads with readahead, as loaders do),
    or O_DIRECT where eviction is not available."""
    fd = os.open(path, os.O_RDONLY)
    if _drop_cache(fd):
        return fd, "fadvise-dontneed"
    direct = getattr(os, "O_DIRECT", 0)
    if direct:
        try:
            dfd = os.open(path, os.O_RDONLY | direct)
            os.close(fd)
            return dfd, "O_DIRECT"
        except OSError:
            pass
    return fd, "cached"


def copy_rate(nbytes: int = 64 * 2**20) -> float:
    """Memory copy bandwidth (bytes/s): the deserialisation term of a load."""
    src, dst = bytearray(b"\1" * nbytes), bytearray(nbytes)  # both touched: page faults are not timed
    dst[:] = src
    start = time.perf_counter()
    dst[:] = src
    return nbytes / max(time.perf_counter() - start, 1e-9)


# --------------------------------------------------------------------------- HF cache


def hf_cache_facts(directory: Path, shards: set[str] | None) -> tuple[str | None, int | None, bool | None]:
    """(hub cache dir, its free disk, complete for offline use) when the model is a cache snapshot."""
    parts = directory.resolve().parts
    if "snapshots" not in parts or not any(p.startswith("models--") for p in parts):
        return None, None, None
    repo = Path(*parts[: parts.index("snapshots")])
    hub = repo.parent
    try:
        st = os.statvfs(hub)
        free = st.f_bavail * st.f_frsize
    except OSError:
        free = None
    incomplete = any(repo.glob("blobs/*.incomplete"))
    names = shards if shards is not None else {p.name for p in directory.iterdir() if p.name.endswith(WEIGHT_SUFFIXES)}
    present = all((directory / n).exists() for n in names) and (directory / "config.json").exists()
    return str(hub), free, bool(present and names and not incomplete)


# --------------------------------------------------------------------------- the probe


def probe_model_storage(directory: Path, expected_bytes: int | None = None, local_ranks: int | None = None,
                        mounts: Path = Path("/proc/mounts"), sys_block: Path = Path("/sys/block"),
                        cgroup_root: Path = Path("/sys/fs/cgroup"), measure: bool = True,
                        max_bytes: int = READ_BYTES, max_seconds: float = READ_SECONDS) -> ModelStorage:
    hub, free, offline = hf_cache_facts(directory, None)
    files, outside, unreadable = list_weight_files(directory, hf_cache=hub is not None)
    index_name, shards, index_error = read_index(directory)
    weight_files, truncated = [], []
    for f in files:
        size = f.stat().st_size
        fmt = weight_format(f.name)
        need = safetensors_data_bytes(f) if fmt == "safetensors" else None
        if fmt == "safetensors" and (need is None or size < need):
            truncated.append(f.name)
        weight_files.append(WeightFile(f.name, size, fmt, need, cached_fraction(f)))
    present = {f.name for f in files}
    missing = tuple(sorted(shards - present)) if shards is not None else ()
    indexed_fmt = "safetensors" if index_name == INDEX_NAMES[0] else "pickle"
    extra = tuple(sorted(n for n in present if shards is not None and n not in shards and weight_format(n) == indexed_fmt))
    if hub is not None:
        hub, free, offline = hf_cache_facts(directory, shards)
    point, fstype, source = _mount(directory, mounts)
    read_bytes = read_seconds = rate = None
    method = None
    if measure and files:
        order = [f for f in files if f.name not in truncated] or files
        read_bytes, read_seconds, method = measure_throughput(order, max_bytes, max_seconds)
        rate = read_bytes / read_seconds if read_seconds and read_bytes else None
    limit, used = cgroup_memory(cgroup_root)
    return ModelStorage(
        path=str(directory), fs_type=fstype, mount_point=point, device=source,
        storage_class=storage_class(fstype, source, sys_block), files=tuple(weight_files), index_file=index_name,
        index_error=index_error, index_missing=missing, index_extra=extra, truncated=tuple(truncated),
        links_outside=tuple(outside), unreadable=tuple(unreadable), expected_bytes=expected_bytes,
        read_bytes=read_bytes, read_seconds=round(read_seconds, 4) if read_seconds else read_seconds, throughput=rate,
        throughput_method=method, copy_rate=copy_rate() if measure else None, hf_cache_dir=hub, hf_cache_free=free,
        hf_offline_complete=offline, cgroup_memory_limit=limit, cgroup_memory_used=used, local_ranks=local_ranks)


def _mount(directory: Path, mounts: Path) -> tuple[str | None, str | None, str | None]:
    try:
        return mount_for(directory, mounts.read_text())
    except OSError:
        return None, None, None
