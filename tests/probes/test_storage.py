"""The storage probe's measurements: throughput against known sizes and a throttled reader, mounts."""

from __future__ import annotations

import os
import time
from pathlib import Path

from llmdoctor.probes import storage


def test_throughput_reads_what_the_files_hold(tmp_path):
    f = tmp_path / "w.safetensors"
    f.write_bytes(os.urandom(3 * 2**20 + 123))
    n, seconds, method = storage.measure_throughput([f], max_bytes=64 * 2**20, max_seconds=5)
    assert n == f.stat().st_size and seconds > 0 and method in ("fadvise-dontneed", "O_DIRECT", "cached")


def test_throughput_is_bounded_in_bytes(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(os.urandom(20 * 2**20))
    n, _, _ = storage.measure_throughput([f], max_bytes=8 * 2**20, max_seconds=5)
    assert n == 8 * 2**20


def test_a_throttled_reader_is_measured_at_its_speed(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(b"\0" * (16 * 2**20))
    rate = 40 * 2**20  # bytes per second

    def slow(fd: int, n: int) -> int:
        got = len(os.read(fd, n))
        time.sleep(got / rate)
        return got

    n, seconds, _ = storage.measure_throughput([f], max_bytes=16 * 2**20, max_seconds=10, reader=slow)
    assert 0.8 < (n / seconds) / rate < 1.05


def test_throughput_is_bounded_in_time(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(b"\0" * (32 * 2**20))

    def very_slow(fd: int, n: int) -> int:
        time.sleep(0.2)
        return len(os.read(fd, n))

    start = time.perf_counter()
    storage.measure_throughput([f], max_bytes=32 * 2**20, max_seconds=0.3, reader=very_slow)
    assert time.perf_counter() - start < 1.0


def test_the_longest_mount_point_wins(tmp_path):
    text = "/dev/nvme0n1p2 / ext4 rw 0 0\nfs:/vol /data lustre rw 0 0\ns3fs /data/bucket fuse.s3fs rw 0 0\n"
    assert storage.mount_for(Path("/data/models/x"), text)[1] == "lustre"
    assert storage.mount_for(Path("/data/bucket/x"), text)[1] == "fuse.s3fs"
    assert storage.storage_class("fuse.s3fs", "s3fs", tmp_path) == "fuse"
    assert storage.storage_class("lustre", "fs:/vol", tmp_path) == "network"
    assert storage.storage_class("overlay", "overlay", tmp_path) == "overlay"


def test_rotational_flag_decides_local_disks(tmp_path):
    (tmp_path / "sda" / "queue").mkdir(parents=True)
    (tmp_path / "sda" / "queue" / "rotational").write_text("1\n")
    (tmp_path / "nvme0n1" / "queue").mkdir(parents=True)
    (tmp_path / "nvme0n1" / "queue" / "rotational").write_text("0\n")
    assert storage.storage_class("ext4", "/dev/sda1", tmp_path) == "local-hdd"
    assert storage.storage_class("xfs", "/dev/nvme0n1p1", tmp_path) == "local-ssd"
    assert storage.storage_class("ext4", "/dev/vda", tmp_path) == "local-virtual"


def test_cgroup_v1_and_v2_limits(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text("max\n")
    assert storage.cgroup_memory(v2, tmp_path / "none")[0] is None
    (v2 / "memory.max").write_text("1073741824\n")
    (v2 / "memory.current").write_text("1024\n")
    assert storage.cgroup_memory(v2, tmp_path / "none") == (2**30, 1024)
    v1 = tmp_path / "v1" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text(str(2**31))
    assert storage.cgroup_memory(tmp_path / "v1", tmp_path / "none")[0] == 2**31


def test_cached_fraction_sees_a_file_just_read(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(os.urandom(2**20))
    f.read_bytes()
    frac = storage.cached_fraction(f)
    assert frac is None or 0.0 <= frac <= 1.0
