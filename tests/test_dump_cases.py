"""Every real case (shared/cases, INDEX.md) gives the result its confirmed root cause calls for."""

from __future__ import annotations

import pytest

from dumps_helpers import CASES, case_input, report_for, statuses

CUDA_STACK = ("cuda.driver", "cuda.arch", "cuda.toolkit", "torch.build", "cudnn.version")


def test_every_case_is_covered():
    files = sorted(p.name for p in CASES.glob("case_*.txt") if len(p.stem) == 7)  # case_1NN: test_real_cases.py
    assert files == sorted(EXPECT), "a case without an expectation (or the reverse)"


def _findings(report, check_id):
    return next(c for c in report.checks if c.id == check_id).findings


def _case_01(r):  # VRAM too small (memory, needs --model): no FAIL in the CUDA stack
    s = statuses(r)
    assert all(s[c] != "fail" for c in CUDA_STACK)
    # the transformers dispatch error is memory.fit's own finding (the knowledge base names its check)
    assert any(f.evidence.get("known_error") == "LD-MEM-002" for f in _findings(r, "memory.fit"))


def _case_04(r):  # RTX 5090 D, torch 2.6.0+cu126: no sm_120
    assert statuses(r)["cuda.arch"] == "fail"
    assert "sm_120" in _findings(r, "cuda.arch")[0].message


def _case_05(r):  # GeForce 210 (cc 1.2): no torch build has kernels
    assert statuses(r)["cuda.arch"] == "fail"


def _case_06(r):  # conda resolved the cpuonly build on 2x RTX 3090
    assert statuses(r)["torch.build"] == "fail"
    assert r.snapshot.torch.cuda is None


def _case_07(r):  # bf16 on V100 (cc 7.0)
    assert statuses(r)["gpu.dtype"] in ("warn", "fail")


def _not_fine(r):
    return [f for c in r.checks for f in c.findings if f.status.value in ("warn", "fail")]


def _case_09(r):  # bitsandbytes picked nsight's libcuda-injection.so
    known = [f for f in _not_fine(r) if f.evidence.get("known_error") == "LD-PKG-008"]
    assert known, "the bitsandbytes error is not recognised"
    assert any("libcuda-injection.so" in f.message for f in known)


def _case_11(r):  # P2P/ACS on 4x A10G: nothing in the dump; no false FAIL from 'CUDA runtime version' (nvcc)
    s = statuses(r)
    assert "fail" not in s.values()
    snap = r.snapshot
    assert snap.toolkit.nvcc_version == "11.5" and snap.torch.cuda == "12.1"
    assert [g.name for g in snap.gpus] == ["NVIDIA A10G"] * 4 and snap.driver.version == "555.42.02"
    # the final expectation is gpu.topology's (issue 4): PCIe-only GPUs, P2P unconfirmed, driver 555 misreports P2P
    if "gpu.topology" in s:
        assert s["gpu.topology"] == "warn"


def _case_16(r):  # torch 1.5.0 (CUDA 10.2) on driver 410.104
    assert statuses(r)["cuda.driver"] == "fail"


def _case_20(r):  # vendor image bug: the environment is fine
    s = statuses(r)
    assert "fail" not in s.values()
    assert s["cuda.arch"] != "fail"


def _case_22(r):  # xformers built for torch 2.6.0+cu124, torch 2.8.0.dev+cu128 installed
    # packages.torch-pins (issue 8) reports the xFormers "built for" text itself; without it errors.known does
    s = statuses(r)
    owner = "packages.torch-pins" if "packages.torch-pins" in s else "errors.known"
    assert s[owner] == "fail"
    assert any("2.6.0+cu124" in str(f.evidence) for f in _findings(r, owner))
    assert r.snapshot.gpus[0].compute_capability == "12.0"  # "CUDA: 12.0" in the banner is the GPU
    assert r.snapshot.torch.cuda == "12.8"  # "CUDA Toolkit: 12.8" is torch's runtime
    assert statuses(r)["cuda.arch"] == "pass"


def _case_24(r):  # no NVIDIA GPU at all, CUDA builds installed
    s = statuses(r)
    assert r.snapshot.gpus == ()
    for c in ("cuda.driver", "cuda.arch"):
        assert s[c] == "not_applicable"  # no GPU: nothing for a CUDA runtime to run on
    assert s["torch.build"] == "warn"
    assert "fail" not in s.values()


EXPECT = {f"case_{k[6:8]}.txt": v for k, v in globals().items() if k.startswith("_case_")}


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_case_gives_its_expected_result(name):
    report = report_for(case_input(name), name)
    EXPECT[name](report)
