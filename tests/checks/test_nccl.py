"""nccl.* checks as pure functions of scenario snapshots (injected env, interfaces, IB devices)."""

from __future__ import annotations

import dataclasses
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmdoctor.engine import Context, load_registry, run_check
from llmdoctor.results import Status
from llmdoctor.snapshot import Distribution, NetInterface, Packages

from conftest import SCENARIOS, load_scenario

ETH0 = NetInterface("eth0", True, False, ("10.0.0.11",))
LO = NetInterface("lo", True, True, ("127.0.0.1",))
DOCKER0 = NetInterface("docker0", True, False, ("172.17.0.1",))
IB0 = NetInterface("ib0", True, False, ("192.168.10.11",))
ENS_DOWN = NetInterface("ens5", False, False, ())


def snap_with(base: str = "h100x8_healthy", env: dict | None = None, interfaces=None, ib=None, torch_version=None,
              **host_changes):
    snap = load_scenario(base)
    host = snap.host
    changes = dict(host_changes)
    if interfaces is not None:
        changes["interfaces"] = tuple(interfaces)
    if ib is not None:
        changes["ib_devices"] = tuple(ib)
    if changes:
        host = dataclasses.replace(host, **changes)
    new_env = dict(snap.env or {})
    new_env.update(env or {})
    snap = dataclasses.replace(snap, host=host, env=types.MappingProxyType(new_env))
    if torch_version is not None:
        snap = dataclasses.replace(snap, torch=dataclasses.replace(snap.torch, version=torch_version))
    return snap


def run(check_id: str, snap, **options):
    spec = load_registry().get(check_id)
    assert spec is not None, check_id
    return run_check(spec, snap, Context(options=options))


def messages(result) -> str:
    return " | ".join(f.message for f in result.findings)


# --------------------------------------------------------------------------- nccl.env


def test_nccl_env_clean_passes():
    r = run("nccl.env", snap_with(env={"NCCL_DEBUG": "WARN", "NCCL_SOCKET_IFNAME": "=eth0"}))
    assert r.status is Status.PASS, messages(r)


def test_misspelled_name_warns_with_did_you_mean():
    r = run("nccl.env", snap_with(env={"NCCL_SOCKET_IFNAM": "eth0"}))
    assert r.status is Status.WARN
    assert "did you mean NCCL_SOCKET_IFNAME" in messages(r)
    assert r.findings[0].fix == "nccl"


@pytest.mark.parametrize("name,replacement", [
    ("NCCL_IB_GDR_LEVEL", "NCCL_NET_GDR_LEVEL"),
    ("NCCL_LL_THRESHOLD", "NCCL_PROTO"),
    ("NCCL_TREE_THRESHOLD", "NCCL_ALGO"),
    ("NCCL_NRINGS", "NCCL_MIN_CTAS"),
    ("NCCL_MAX_NCHANNELS", "NCCL_MAX_CTAS"),
])
def test_deprecated_names_warn_with_replacement(name, replacement):
    r = run("nccl.env", snap_with(env={name: "2"}))
    assert r.status is Status.WARN
    assert replacement in messages(r)


@pytest.mark.parametrize("name,value,expected", [
    ("NCCL_P2P_LEVEL", "nvl", "case-sensitive"),
    ("NCCL_P2P_LEVEL", "NVLINK", "NVL"),
    ("NCCL_DEBUG", "verbose", "VERSION, WARN, INFO"),
    ("NCCL_ALGO", "ring,fast", "fast"),
    ("NCCL_PROTO", "LL,LL256", "LL256"),
    ("NCCL_IB_TIMEOUT", "40", "from 0 to 31"),
    ("NCCL_BUFFSIZE", "4MB", "integer"),
    ("NCCL_P2P_DISABLE", "yes", "1 to switch it on"),
    ("NCCL_IB_DISABLE", "2", "only the integer value 1"),
    ("NCCL_SHM_DISABLE", "true", "leaves it off"),
    ("NCCL_NTHREADS", "100", "64, 128, 256, 512"),
    ("NCCL_SOCKET_FAMILY", "ipv4", "AF_INET"),
])
def test_bad_values_warn_naming_variable_and_form(name, value, expected):
    r = run("nccl.env", snap_with(env={name: value}))
    assert r.status is Status.WARN, messages(r)
    assert name in messages(r) and expected in messages(r)


@pytest.mark.parametrize("name,value", [
    ("NCCL_P2P_LEVEL", "NVL"), ("NCCL_P2P_LEVEL", "2"), ("NCCL_DEBUG", "info"), ("NCCL_ALGO", "^ring,tree"),
    ("NCCL_ALGO", "ring,tree;allreduce:nvls"), ("NCCL_PROTO", "simple"), ("NCCL_IB_TIMEOUT", "22"),
    ("NCCL_BUFFSIZE", "0x800000"), ("NCCL_DEBUG_SUBSYS", "INIT,NET"), ("NCCL_NVLS_ENABLE", "0"),
])
def test_good_values_pass(name, value):
    r = run("nccl.env", snap_with(env={name: value}))
    assert r.status is Status.PASS, messages(r)


def test_disable_plus_level_is_contradictory():
    r = run("nccl.env", snap_with(env={"NCCL_P2P_DISABLE": "1", "NCCL_P2P_LEVEL": "NVL"}))
    assert r.status is Status.WARN and "NCCL_P2P_DISABLE wins" in messages(r)


def test_socket_threads_product_limit():
    r = run("nccl.env", snap_with(env={"NCCL_SOCKET_NTHREADS": "16", "NCCL_NSOCKS_PERTHREAD": "8"}))
    assert r.status is Status.WARN and "64" in messages(r)


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(["NCCL_P2P_LEVEL", "NCCL_DEBUG", "NCCL_ALGO", "NCCL_PROTO", "NCCL_IB_TIMEOUT", "NCCL_BUFFSIZE",
                             "NCCL_P2P_DISABLE", "NCCL_SOCKET_IFNAME", "NCCL_IB_HCA", "NCCL_DEBUG_SUBSYS", "NCCL_XYZ",
                             "NCCL_NET_GDR_LEVEL", "NCCL_SOCKET_NTHREADS", "NCCL_NVLS_ENABLE"]),
       value=st.text(max_size=30).filter(lambda s: "\x00" not in s))
def test_any_value_never_crashes_any_nccl_check(name, value):
    snap = snap_with(env={name: value, "NCCL_NSOCKS_PERTHREAD": "4"})
    for cid in ("nccl.env", "nccl.ifname", "nccl.perf-switches", "nccl.torch-env"):
        r = run(cid, snap)
        assert r.status in (Status.PASS, Status.WARN, Status.FAIL, Status.UNKNOWN), (cid, messages(r))


# --------------------------------------------------------------------------- nccl.torch-env


def test_old_torch_name_on_new_torch_warns():
    r = run("nccl.torch-env", snap_with(env={"NCCL_ASYNC_ERROR_HANDLING": "1"}, torch_version="2.4.0+cu121"))
    assert r.status is Status.WARN and "TORCH_NCCL_ASYNC_ERROR_HANDLING" in messages(r)


def test_new_torch_name_on_old_torch_warns():
    r = run("nccl.torch-env", snap_with(env={"TORCH_NCCL_BLOCKING_WAIT": "1"}, torch_version="2.1.2+cu121"))
    assert r.status is Status.WARN and "not read by torch 2.1.2" in messages(r)


def test_old_name_on_old_torch_passes_and_new_on_new_passes():
    assert run("nccl.torch-env", snap_with(env={"NCCL_BLOCKING_WAIT": "1"}, torch_version="2.1.2")).status is Status.PASS
    assert run("nccl.torch-env", snap_with(env={"TORCH_NCCL_BLOCKING_WAIT": "1"}, torch_version="2.2.0")).status is Status.PASS


def test_conflicting_old_and_new_values_warn():
    r = run("nccl.torch-env", snap_with(env={"NCCL_ASYNC_ERROR_HANDLING": "0", "TORCH_NCCL_ASYNC_ERROR_HANDLING": "1"}))
    assert r.status is Status.WARN and "different values" in messages(r)


def test_torch_value_out_of_range_warns():
    r = run("nccl.torch-env", snap_with(env={"TORCH_NCCL_ASYNC_ERROR_HANDLING": "5"}))
    assert r.status is Status.WARN and "0, 1, 2, 3" in messages(r)


def test_torch_name_typo():
    r = run("nccl.torch-env", snap_with(env={"TORCH_NCCL_BLOCKING_WAITT": "1"}))
    assert r.status is Status.WARN and "TORCH_NCCL_BLOCKING_WAIT" in messages(r)


# --------------------------------------------------------------------------- nccl.ifname


def test_ifname_matching_nothing_fails():
    r = run("nccl.ifname", snap_with(env={"NCCL_SOCKET_IFNAME": "ens"}, interfaces=[LO, ETH0]))
    assert r.status is Status.FAIL
    assert "no socket interface found" in messages(r)
    assert "NCCL_SOCKET_IFNAME==eth0" in str(r.findings[0].remedy or "")


def test_filter_also_selecting_docker_warns():
    r = run("nccl.ifname", snap_with(env={"NCCL_SOCKET_IFNAME": "^lo"}, interfaces=[LO, ETH0, DOCKER0]))
    assert r.status is Status.WARN and "docker0" in messages(r) and "==eth0" in r.findings[0].remedy


@pytest.mark.parametrize("value", ["eth", "=eth0", "^docker,lo", "^=docker0,lo", "eth0,ib"])
def test_ifname_selecting_real_interface_passes(value):
    r = run("nccl.ifname", snap_with(env={"NCCL_SOCKET_IFNAME": value}, interfaces=[LO, ETH0, DOCKER0]))
    assert r.status is Status.PASS, messages(r)


def test_exact_name_does_not_match_longer_name():
    r = run("nccl.ifname", snap_with(env={"NCCL_SOCKET_IFNAME": "=eth"}, interfaces=[LO, ETH0]))
    assert r.status is Status.FAIL


def test_only_loopback_or_docker_warns_for_multi_node_job():
    env = {"NCCL_SOCKET_IFNAME": "docker", "WORLD_SIZE": "16", "LOCAL_WORLD_SIZE": "8"}
    r = run("nccl.ifname", snap_with(env=env, interfaces=[LO, ETH0, DOCKER0]))
    assert r.status is Status.WARN and "multi-node" in messages(r)
    single = {"NCCL_SOCKET_IFNAME": "lo", "WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "8"}
    assert run("nccl.ifname", snap_with(env=single, interfaces=[LO, ETH0])).status is Status.PASS


def test_interface_without_address_fails():
    r = run("nccl.ifname", snap_with(env={"NCCL_SOCKET_IFNAME": "ens"}, interfaces=[LO, ETH0, ENS_DOWN]))
    assert r.status is Status.FAIL and "ens5" in messages(r)


def test_gloo_uses_exact_names():
    ok = run("nccl.ifname", snap_with(env={"GLOO_SOCKET_IFNAME": "eth0"}, interfaces=[LO, ETH0]))
    assert ok.status is Status.PASS
    bad = run("nccl.ifname", snap_with(env={"GLOO_SOCKET_IFNAME": "eth"}, interfaces=[LO, ETH0]))
    assert bad.status is Status.FAIL


def test_ib_hca_prefix_overmatch_and_no_match():
    devs = [f"mlx5_{i}" for i in (0, 1, 10, 11)]
    broad = run("nccl.ifname", snap_with(env={"NCCL_IB_HCA": "mlx5_1"}, ib=devs))
    assert broad.status is Status.WARN and "mlx5_10" in messages(broad)
    exact = run("nccl.ifname", snap_with(env={"NCCL_IB_HCA": "=mlx5_0,mlx5_1:1"}, ib=devs))
    assert exact.status is Status.PASS, messages(exact)
    none = run("nccl.ifname", snap_with(env={"NCCL_IB_HCA": "mlx4"}, ib=devs))
    assert none.status is Status.FAIL
    excl = run("nccl.ifname", snap_with(env={"NCCL_IB_HCA": "^mlx5_0"}, ib=devs))
    assert excl.status is Status.PASS


def test_ifname_unknown_interfaces_skips():
    r = run("nccl.ifname", snap_with(env={"NCCL_SOCKET_IFNAME": "eth0"}, interfaces=None) if False else
            dataclasses.replace(snap_with(env={"NCCL_SOCKET_IFNAME": "eth0"}),
                                host=dataclasses.replace(load_scenario("h100x8_healthy").host, interfaces=None)))
    assert r.status is Status.UNKNOWN


# --------------------------------------------------------------------------- nccl.perf-switches


def test_p2p_disable_on_nvlink_box_warns():
    r = run("nccl.perf-switches", snap_with(env={"NCCL_P2P_DISABLE": "1"}))
    assert r.status is Status.WARN and "NVLink" in messages(r)


def test_p2p_disable_0_is_not_on():
    assert run("nccl.perf-switches", snap_with(env={"NCCL_P2P_DISABLE": "0"})).status is Status.PASS


def test_ib_disable_with_ib_devices_warns_and_without_passes():
    assert run("nccl.perf-switches", snap_with(env={"NCCL_IB_DISABLE": "1"}, ib=["mlx5_0"])).status is Status.WARN
    assert run("nccl.perf-switches", snap_with(env={"NCCL_IB_DISABLE": "1"}, ib=[])).status is Status.PASS


def test_nvls_disabled_on_nvswitch_h100_warns():
    r = run("nccl.perf-switches", snap_with(env={"NCCL_NVLS_ENABLE": "0"}))
    assert r.status is Status.WARN and "NVLink SHARP" in messages(r)


def test_shm_disable_multi_gpu_warns():
    assert run("nccl.perf-switches", snap_with(env={"NCCL_SHM_DISABLE": "1"})).status is Status.WARN


@pytest.mark.parametrize("env", [{"NCCL_DEBUG": "INFO"}, {"NCCL_DEBUG": "trace"}, {"NCCL_DEBUG_SUBSYS": "ALL"}])
def test_debug_logging_warns_unless_debug_ok(env):
    assert run("nccl.perf-switches", snap_with(env=env)).status is Status.WARN
    assert run("nccl.perf-switches", snap_with(env=env), **{"nccl.perf-switches.debug_ok": True}).status is Status.PASS


# --------------------------------------------------------------------------- nccl.shm


def test_docker_64mb_shm_fails_with_remedies():
    r = run("nccl.shm", load_scenario("docker_small_shm"))
    assert r.status is Status.FAIL
    shm = [f for f in r.findings if f.subject == "/dev/shm"][0]
    assert "64 MiB" in shm.message
    assert "--shm-size" in shm.remedy and "--ipc=host" in shm.remedy and "medium: Memory" in shm.remedy


def test_shm_threshold_is_configurable():
    snap = load_scenario("docker_small_shm")
    assert run("nccl.shm", snap, **{"nccl.shm.min_bytes": 32 << 20}).status is Status.PASS


def test_shm_single_gpu_passes_and_healthy_passes():
    snap = load_scenario("docker_small_shm")
    one = dataclasses.replace(snap, gpus=snap.gpus[:1])
    assert run("nccl.shm", one).status is Status.PASS
    assert run("nccl.shm", load_scenario("h100x8_healthy")).status is Status.PASS


def test_memlock_limited_with_ib_warns():
    r = run("nccl.shm", snap_with(ib=["mlx5_0"], memlock_soft=65536))
    assert r.status is Status.WARN and "ibv_reg_mr" in messages(r)
    assert run("nccl.shm", snap_with(ib=["mlx5_0"], memlock_soft=-1)).status is Status.PASS


# --------------------------------------------------------------------------- nccl.version


def test_nccl_version_matches_wheel_passes():
    r = run("nccl.version", load_scenario("h100x8_healthy"))
    assert r.status is Status.PASS and "2.20.5" in messages(r)


def test_foreign_libnccl_from_ld_library_path_warns():
    snap = snap_with(env={"LD_LIBRARY_PATH": "/usr/local/nccl-2.18/lib:/usr/lib"})
    t = dataclasses.replace(snap.torch, nccl="2.18.1",
                            loaded_libraries=types.MappingProxyType({"nccl": "/usr/local/nccl-2.18/lib/libnccl.so.2.18.1"}))
    r = run("nccl.version", dataclasses.replace(snap, torch=t))
    assert r.status is Status.WARN
    text = messages(r)
    assert "2.18.1" in text and "2.20.5" in text and "LD_LIBRARY_PATH" in text


def test_nccl_too_old_for_blackwell_warns():
    snap = load_scenario("rtx5090_torch26_cu126")
    pk = Packages(distributions=(Distribution("nvidia-nccl-cu12", "2.21.5"),))
    snap = dataclasses.replace(snap, torch=dataclasses.replace(snap.torch, nccl="2.21.5"), packages=pk)
    r = run("nccl.version", snap)
    assert r.status is Status.WARN and "Blackwell" in messages(r)


def test_cpu_torch_skips():
    assert run("nccl.version", load_scenario("cpu_torch_on_gpu_host")).status is Status.NOT_APPLICABLE


# --------------------------------------------------------------------------- contract details


def test_debug_ok_is_a_declared_setting_with_its_flag():
    spec = load_registry().get("nccl.perf-switches")
    assert spec.settings["debug_ok"].flag == "--debug-ok"
    env = {"NCCL_DEBUG": "INFO"}
    assert run("nccl.perf-switches", snap_with(env=env)).status is Status.WARN
    # the generic CLI path passes the flag's value under its name
    assert run("nccl.perf-switches", snap_with(env=env), debug_ok=True).status is Status.PASS


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("*.json")))
def test_pass_lines_state_what_was_found(name):
    snap = load_scenario(name)
    for spec in load_registry():
        if not spec.id.startswith(("nccl.", "packages.")):
            continue
        result = run_check(spec, snap, Context())
        messages = [f.message for f in result.findings]
        assert len(messages) == len(set(messages)), (spec.id, messages)  # no finding repeated
        for f in result.findings:
            if f.status is Status.PASS:
                assert f.message != spec.title and f.message.strip(), (spec.id, f.message)


def test_switches_on_unread_hardware_are_unknown_not_pass():
    snap = snap_with(env={"NCCL_P2P_DISABLE": "1", "NCCL_IB_DISABLE": "1", "NCCL_SHM_DISABLE": "1",
                          "NCCL_NVLS_ENABLE": "0"})
    blank = dataclasses.replace(snap, gpus=None, gpu_links=None, host=None)
    r = run("nccl.perf-switches", blank)
    assert r.status is Status.UNKNOWN
    assert {f.status for f in r.findings} == {Status.UNKNOWN}


def test_shm_on_one_gpu_and_memlock_without_ib():
    snap = load_scenario("docker_small_shm")  # memlock limited, no IB device
    r = run("nccl.shm", snap)
    memlock = next(f for f in r.findings if f.subject == "memlock")
    assert memlock.status is Status.NOT_APPLICABLE
    unknown_ib = dataclasses.replace(snap, host=dataclasses.replace(snap.host, ib_devices=None))
    memlock = next(f for f in run("nccl.shm", unknown_ib).findings if f.subject == "memlock")
    assert memlock.status is Status.UNKNOWN


def test_torch_nccl_names_with_unknown_torch_are_unknown():
    snap = dataclasses.replace(snap_with(env={"TORCH_NCCL_BLOCKING_WAIT": "1"}), torch=None)
    assert run("nccl.torch-env", snap).status is Status.UNKNOWN


def test_debug_ok_by_its_flag_name_through_run_checks():
    from llmdoctor.engine import run_checks

    spec = load_registry().get("nccl.perf-switches")
    report = run_checks(snap_with(env={"NCCL_DEBUG": "INFO"}), [spec], Context({"debug_ok": True}))
    assert report.checks[0].status is Status.PASS
