"""host.open-files on scenario hosts: the limit people hit (1024), a raisable one, an unread one."""

from __future__ import annotations

import dataclasses

from llmdoctor import data
from llmdoctor.results import Status
from llmdoctor.snapshot import Host

from checks.helpers import run, scenario


def _with_limits(soft, hard):
    snap = scenario("h100x8_healthy")
    return dataclasses.replace(snap, host=dataclasses.replace(snap.host or Host(), nofile_soft=soft, nofile_hard=hard))


def test_the_data_row_it_relies_on():
    row = data.load("host_limits")["open_files"]
    assert row["min_soft"] == 8192 and "pytorch/pytorch#973" in row["source"]


def test_a_high_limit_passes_and_says_what_it_read():
    result = run("host.open-files", _with_limits(1048576, 1048576))
    assert result.status is Status.PASS and "1048576" in result.findings[0].message


def test_unlimited_passes():
    assert run("host.open-files", _with_limits(-1, -1)).status is Status.PASS


def test_the_common_default_warns_with_a_command_when_the_hard_limit_allows_more():
    result = run("host.open-files", _with_limits(1024, 1048576))
    assert result.status is Status.WARN
    assert result.findings[0].remedy.commands == ("ulimit -n 8192",)


def test_a_low_hard_limit_names_the_container_flag_and_the_sharing_strategy():
    result = run("host.open-files", _with_limits(1024, 4096))
    assert result.status is Status.WARN
    assert any("--ulimit nofile=8192:8192" in c for c in result.findings[0].remedy.commands)
    assert any("set_sharing_strategy('file_system')" in c for c in result.findings[0].remedy.commands)


def test_an_unread_limit_is_unknown_not_a_pass():
    assert run("host.open-files", _with_limits(None, None)).status is Status.UNKNOWN


def test_the_floor_is_a_setting():
    assert run("host.open-files", _with_limits(4096, 4096), **{"host.open-files.min_soft": 2048}).status is Status.PASS
