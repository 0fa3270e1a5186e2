"""--anonymize: host names down to two characters."""

from __future__ import annotations

import dataclasses

from llmdoctor.anonymize import anonymize_for

from conftest import load_scenario


def test_a_two_character_host_name_is_replaced():
    snap = load_scenario("h100x8_healthy")
    snap = dataclasses.replace(snap, host=dataclasses.replace(snap.host, hostname="g7"))
    out = anonymize_for(snap)("ran on g7 (g7:~/work) with 8 GPUs; g77 and ag7 are other words")
    assert " g7 " not in out and "(g7" not in out and "ran on host" in out
    assert "g77" in out and "ag7" in out  # only the whole name


def test_a_one_character_host_name_is_left_alone():
    snap = load_scenario("h100x8_healthy")
    snap = dataclasses.replace(snap, host=dataclasses.replace(snap.host, hostname="a"))
    assert anonymize_for(snap)("a GPU") == "a GPU"
