"""diff writes versions and sizes as check does, and fits its table to the terminal."""

from __future__ import annotations

import dataclasses

from llmdoctor import diff as D

from conftest import load_scenario


def _pair():
    a = load_scenario("h100x8_healthy")
    b = dataclasses.replace(a, torch=dataclasses.replace(a.torch, cudnn=90501))
    return a, b


def test_cudnn_is_written_like_check_does():
    diffs = {d.key: d for d in D.diff_snapshots(_pair())}
    assert diffs["torch.cudnn"].values == ("9.1.0", "9.5.1")
    assert "90501" not in D.render_text(["a", "b"], list(diffs.values()))


def test_shm_uses_the_one_byte_formatter():
    a = load_scenario("h100x8_healthy")
    b = load_scenario("docker_small_shm")
    shm = {d.key: d for d in D.diff_snapshots([a, b])}["host.shm_total"]
    assert shm.values[1] == "64 MiB"


def test_table_fits_80_columns_and_cuts_cells_at_words():
    a = load_scenario("h100x8_healthy")
    b = load_scenario("rtx5090_torch26_cu126")
    c = load_scenario("torch_import_fails")
    names = ["first.json", "second.json", "third.json"]
    text = D.render_text(names, D.diff_snapshots([a, b, c]), width=80)
    for line in text.splitlines():
        assert len(line) <= 80, line
    assert "…" in text  # long GPU names are cut, with an ellipsis
    wide = D.render_text(names, D.diff_snapshots([a, b, c]), width=200)
    assert "8× NVIDIA H100 80GB HBM3" in wide
