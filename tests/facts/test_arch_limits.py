"""Extension-level compute capability limits: each row sourced; vLLM in use (package or its collect_env)
fails a Pascal GPU even when torch has sm_60 kernels; unknown capability or library not in use: nothing."""

from __future__ import annotations

import re

from llmdoctor.facts.arch_limits import arch_limit_findings, rows
from llmdoctor.snapshot import Distribution, Gpu, Meta, Packages

P100 = (Gpu(index=0, name="Tesla P100-PCIE-16GB", compute_capability="6.0"),)


def _pkgs(*pairs: tuple[str, str]) -> Packages:
    return Packages(distributions=tuple(Distribution(n, v) for n, v in pairs))


def test_rows_cite_public_sources_and_the_issue_limits():
    for row in rows():
        assert re.match(r"^(?:[\w.-]+/[\w.-]+#\d+|https?://\S+)$", row["source"]), row
    limits = {r["package"]: r["min_cc"] for r in rows()}
    assert limits["vllm"] == "7.0" and limits["flash-attn"] == "8.0" and limits["flash-attn-3"] == "9.0"
    assert {"triton", "bitsandbytes", "xformers", "deepspeed"} <= set(limits)


def test_a_vllm_collect_env_dump_means_vllm_is_in_use_and_pascal_fails():
    found = arch_limit_findings(None, P100, Meta(understood=("vllm_collect_env",)))
    assert [f.status.value for f in found] == ["fail"]
    assert "vLLM" in found[0].message and "6.0" in found[0].message


def test_vllm_package_on_pascal_fails_even_with_torch_sm60():
    found = arch_limit_findings(_pkgs(("vllm", "0.6.3"), ("torch", "2.4.0")), P100, Meta())
    assert found and found[0].status.value == "fail" and found[0].evidence["source"] == "vllm-project/vllm#963"


def test_flash_attention_3_is_hopper_only():
    blackwell = (Gpu(index=0, name="NVIDIA GeForce RTX 5090", compute_capability="12.0"),)
    found = arch_limit_findings(_pkgs(("flash-attn-3", "3.0.0b1")), blackwell, Meta())
    assert found and "above the 9.0" in found[0].message
    h100 = (Gpu(index=0, name="NVIDIA H100 80GB HBM3", compute_capability="9.0"),)
    assert arch_limit_findings(_pkgs(("flash-attn-3", "3.0.0b1")), h100, Meta()) == []


def test_nothing_claimed_without_the_facts():
    assert arch_limit_findings(_pkgs(("vllm", "0.6.3")), (Gpu(index=0),), Meta()) == []  # capability unknown
    assert arch_limit_findings(_pkgs(("requests", "2.0")), P100, Meta()) == []  # no GPU library in use
    assert arch_limit_findings(None, None, None) == []


def test_triton_below_7_only_warns():
    found = arch_limit_findings(_pkgs(("triton", "3.0.0")), P100, Meta())
    assert [f.status.value for f in found] == ["warn"]


def test_cuda_arch_reports_the_extension_limits(tmp_path):
    import json

    from typer.testing import CliRunner

    from llmdoctor.cli.app import app

    dump = tmp_path / "fa3.txt"
    dump.write_text("PyTorch version: 2.4.0+cu124\nIs debug build: False\nCUDA used to build PyTorch: 12.4\n"
                    "GPU models and configuration:\nGPU 0: NVIDIA A100-SXM4-80GB\nNvidia driver version: 550.54.15\n"
                    "Versions of relevant libraries:\n[pip3] flash_attn_3==3.0.0b1\n[pip3] torch==2.4.0\n")
    result = CliRunner().invoke(app, ["check", "--from", str(dump), "--json"])
    arch = next(c for c in json.loads(result.stdout)["checks"] if c["id"] == "cuda.arch")
    assert arch["status"] == "fail"
    assert any(f["evidence"].get("package") == "flash-attn-3" for f in arch["findings"])
