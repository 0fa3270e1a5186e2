"""expect.* checks (llmdoctor/checks/expect.py): fleet expectations from the configuration's [expect]."""

import dataclasses
import types

import pytest

from llmdoctor.engine import Context, load_registry, run_check
from llmdoctor.results import Status
from llmdoctor.snapshot import Gpu, ProbeResult

from conftest import NVML_SCENARIOS, load_scenario, run_cli


def expect(check_id: str, snap, **options):
    from llmdoctor.engine import load_registry

    spec = load_registry().get(check_id)
    opts = {f"expect.{k.replace('_', '-')}": v for k, v in options.items()}
    return run_check(spec, snap, Context(opts))


def test_expect_gpu_count_and_model():
    snap = load_scenario("h100x8_healthy")
    assert expect("expect.gpu-count", snap, gpu_count=8).status is Status.PASS
    r = expect("expect.gpu-count", snap, gpu_count=4)
    assert r.status is Status.FAIL and r.findings[0].evidence["found"] == 8
    assert expect("expect.gpu-count", snap).status is Status.NOT_APPLICABLE  # nothing expected
    assert expect("expect.gpu-model", snap, gpu_model="h100").status is Status.PASS
    r = expect("expect.gpu-model", snap, gpu_model="A100")
    assert r.status is Status.FAIL and len([f for f in r.findings if f.status is Status.FAIL]) == 8
    assert expect("expect.gpu-model", load_scenario("no_gpu"), gpu_model="H100").status is Status.FAIL
    assert expect("expect.gpu-count", load_scenario("no_gpu"), gpu_count=0).status is Status.PASS


def test_expect_driver_and_torch():
    snap = load_scenario("h100x8_healthy")  # driver 535.104.05, torch 2.4.0+cu121
    assert expect("expect.min-driver", snap, min_driver="535.104").status is Status.PASS
    assert expect("expect.min-driver", snap, min_driver="550").status is Status.FAIL
    assert expect("expect.torch", snap, torch=">=2.4,<2.6").status is Status.PASS
    assert expect("expect.torch", snap, torch="==2.4.0").status is Status.PASS  # local label ignored
    assert expect("expect.torch", snap, torch=">=2.5").status is Status.FAIL
    unknown = dataclasses.replace(snap, driver=None)
    # an expectation that cannot be verified fails: the preflight must not pass a node it could not read
    assert expect("expect.min-driver", unknown, min_driver="535").status is Status.FAIL


def test_expect_packages_and_env():
    snap = load_scenario("h100x8_healthy")
    r = expect("expect.packages", snap, packages=("vllm>=0.6", "flash-attn", "deepspeed", "numpy<1.20"))
    got = {f.subject: f.status for f in r.findings}
    assert got == {"vllm": Status.PASS, "flash-attn": Status.PASS, "deepspeed": Status.FAIL, "numpy": Status.FAIL}
    env_snap = dataclasses.replace(snap, env=types.MappingProxyType({"NCCL_IB_DISABLE": "1"}))
    r = expect("expect.env", env_snap, env={"NCCL_IB_DISABLE": "0", "NCCL_DEBUG": "WARN"})
    assert [f.status for f in r.findings] == [Status.FAIL, Status.FAIL]
    assert expect("expect.env", env_snap, env={"NCCL_IB_DISABLE": "1"}).status is Status.PASS




@pytest.mark.parametrize("key, value, part", [
    ("gpu_count", 8, "gpus"), ("gpu_model", "H100", "gpus"), ("min_driver", "535", "driver"),
    ("torch", ">=2.4", "torch"), ("packages", ("vllm",), "packages"), ("env", {"NCCL_DEBUG": "WARN"}, "env"),
])
def test_an_expectation_whose_fact_is_unknown_fails_with_the_reason(key, value, part):
    snap = dataclasses.replace(load_scenario("h100x8_healthy"), **{part: None},
                               probes=(ProbeResult("nvml", False, "NVML hung (timed out after 5.0 s)"),
                                       ProbeResult(part if part != "gpus" and part != "driver" else "nvml", False,
                                                   "NVML hung (timed out after 5.0 s)")))
    r = expect(f"expect.{key.replace('_', '-')}", snap, **{key: value})
    assert r.status is Status.FAIL
    assert "could not be read: NVML hung (timed out after 5.0 s)" in r.findings[0].message


def test_unnamed_gpu_fails_the_model_expectation():
    snap = dataclasses.replace(load_scenario("h100x8_healthy"), gpus=(Gpu(index=0),))
    assert expect("expect.gpu-model", snap, gpu_model="H100").status is Status.FAIL


def test_the_declared_setting_is_read_too():
    # [checks."expect.gpu-count"] expected = 8 reaches the check the same way as [expect] gpu-count = 8
    spec = load_registry().get("expect.gpu-count")
    r = run_check(spec, load_scenario("h100x8_healthy"), Context({"expect.gpu-count.expected": 4}))
    assert r.status is Status.FAIL and "expects 4" in r.findings[0].message


@pytest.mark.parametrize("nvml", ["driver_not_loaded", "hang_on_count"])
def test_preflight_fails_a_node_whose_gpus_cannot_be_read(tmp_path, nvml):
    (tmp_path / "llmdoctor.toml").write_text("[expect]\ngpu-count = 8\n")
    proc = run_cli("check", "--select", "expect.gpu-count", "--timeout", "1", cwd=tmp_path,
                   env={"LLMDOCTOR_FAKE_NVML": str(NVML_SCENARIOS / f"{nvml}.json")})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "expected 8 GPUs; NVML could not be read: " in " ".join(proc.stdout.split())
