import dataclasses

import pytest

from llmdoctor.data import dtypes_for
from llmdoctor.results import Status
from llmdoctor.snapshot import Gpu

from .helpers import messages, run, scenario


def test_v100_warns_about_bf16_with_a_float16_remedy():
    result = run("gpu.dtype", scenario("v100_fp16_only"))
    assert result.status is Status.WARN
    assert "bf16" in messages(result) and "float16" in messages(result)
    assert len(result.findings) == 2  # one per GPU


def test_h100_passes_and_lists_fp8():
    result = run("gpu.dtype", scenario("h100x8_healthy"))
    assert result.status is Status.PASS
    assert "fp8" in result.findings[0].evidence["tensor_core_dtypes"]


@pytest.mark.parametrize("scen, dtype, status", [
    ("v100_fp16_only", "bf16", Status.FAIL),
    ("v100_fp16_only", "fp16", Status.PASS),
    ("h100x8_healthy", "fp8", Status.PASS),
    ("h100x8_healthy", "fp4", Status.FAIL),
    ("rtx5090_torch26_cu126", "fp4", Status.PASS),
])
def test_requested_dtype(scen, dtype, status):
    assert run("gpu.dtype", scenario(scen), dtype=dtype).status is status


def test_turing_is_judged_by_compute_capability_not_torch_emulation():
    # torch.cuda.is_bf16_supported() says True on Turing (emulation); the check must not
    snap = dataclasses.replace(scenario("h100x8_healthy"), gpus=(Gpu(index=0, name="Tesla T4"),))
    result = run("gpu.dtype", snap)
    assert result.status is Status.WARN
    assert result.findings[0].evidence["compute_capability"] == "7.5"


def test_unknown_compute_capability_skips():
    snap = dataclasses.replace(scenario("h100x8_healthy"), gpus=(Gpu(index=0, name="Mystery GPU"),))
    assert run("gpu.dtype", snap).status is Status.UNKNOWN
    assert run("gpu.dtype", scenario("no_gpu")).status is Status.UNKNOWN


@pytest.mark.parametrize("cc, has, lacks", [("7.0", "fp16", "bf16"), ("8.0", "bf16", "fp8"), ("8.9", "fp8", "fp4"), ("10.0", "fp4", None)])
def test_dtype_table_rows(cc, has, lacks):
    assert has in dtypes_for(cc)
    if lacks:
        assert lacks not in dtypes_for(cc)
