"""Pins the rows of the NCCL data tables the checks rely on, and NCCL's filter-matching rules."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from llmdoctor import data
from llmdoctor.facts import nccl_rules as N


def test_every_row_has_a_source():
    doc = data.load("nccl_env")
    for row in doc["variables"] + doc["deprecated"] + doc["torch_renames"]["renames"]:
        assert row.get("source"), row
    for name in ("nccl_arch", "gpu_interconnect"):
        for rows in data.load(name).values():
            if isinstance(rows, list):
                assert all(r.get("source") for r in rows), name


def test_documented_variables_are_the_2_30_7_list():
    rows = data.load("nccl_env")["variables"]
    documented = [r for r in rows if "env.rst@5067397c" in r["source"]]
    assert len(documented) == 113  # shared/reference/nccl_env.json
    names = {r["name"] for r in rows}
    for name in ("NCCL_SOCKET_IFNAME", "NCCL_IB_HCA", "NCCL_P2P_LEVEL", "NCCL_P2P_DISABLE", "NCCL_SHM_DISABLE",
                 "NCCL_IB_DISABLE", "NCCL_NVLS_ENABLE", "NCCL_DEBUG", "NCCL_DEBUG_SUBSYS", "NCCL_ALGO", "NCCL_PROTO",
                 "NCCL_NET_GDR_LEVEL", "NCCL_MAX_CTAS", "NCCL_SOCKET_NTHREADS", "NCCL_NSOCKS_PERTHREAD"):
        assert name in names
    for pytorch_name in ("NCCL_BLOCKING_WAIT", "NCCL_ASYNC_ERROR_HANDLING"):
        assert pytorch_name not in names  # PyTorch's, not NCCL's


def test_value_rules_the_checks_use():
    v = N.variables()
    assert v["NCCL_P2P_LEVEL"]["value"] == {**v["NCCL_P2P_LEVEL"]["value"], "type": "level", "case_sensitive": True}
    assert v["NCCL_P2P_LEVEL"]["value"]["values"] == ["LOC", "NVL", "PIX", "PXB", "PHB", "SYS"]
    assert "NVL" not in v["NCCL_NET_GDR_LEVEL"]["value"]["values"]
    assert v["NCCL_DEBUG"]["value"]["values"] == ["VERSION", "WARN", "INFO", "ABORT", "TRACE"]
    assert v["NCCL_PROTO"]["value"]["values"] == ["LL", "LL128", "Simple"]
    assert {"Ring", "Tree", "NVLS", "PAT"} <= set(v["NCCL_ALGO"]["value"]["values"])
    for switch in ("NCCL_P2P_DISABLE", "NCCL_SHM_DISABLE", "NCCL_IB_DISABLE"):
        assert v[switch]["value"]["type"] == "switch" and v[switch]["section"] == "debugging"
    assert (v["NCCL_IB_TIMEOUT"]["value"]["min"], v["NCCL_IB_TIMEOUT"]["value"]["max"]) == (0, 31)
    assert v["NCCL_NVLS_ENABLE"]["value"]["values"] == ["0", "1", "2"]


def test_deprecated_rows():
    d = N.deprecated()
    assert d["NCCL_IB_GDR_LEVEL"]["replacement"] == "NCCL_NET_GDR_LEVEL" and d["NCCL_IB_GDR_LEVEL"]["carry_value"]
    assert "2.5" in d["NCCL_LL_THRESHOLD"]["status"] and "2.5" in d["NCCL_TREE_THRESHOLD"]["status"]
    assert d["NCCL_MAX_NCHANNELS"]["replacement"] == "NCCL_MAX_CTAS"
    assert "UNVERIFIED" in d["NCCL_NRINGS"]["source"]


def test_torch_renames():
    renames = {r["old"]: r["new"] for r in N.torch_renames()}
    assert renames["NCCL_BLOCKING_WAIT"] == "TORCH_NCCL_BLOCKING_WAIT"
    assert renames["NCCL_ASYNC_ERROR_HANDLING"] == "TORCH_NCCL_ASYNC_ERROR_HANDLING"
    assert renames["NCCL_DESYNC_DEBUG"] == "TORCH_NCCL_DESYNC_DEBUG"
    assert N.torch_rename_first() == "2.2.0"


def test_interconnect_and_arch_rows():
    rows = data.load("gpu_interconnect")["pcie_only"]
    def pcie_only(name):
        return any(re.search(r["pattern"], name) for r in rows)
    assert pcie_only("NVIDIA A10G") and pcie_only("NVIDIA GeForce RTX 4090") and pcie_only("NVIDIA L40S")
    assert not pcie_only("NVIDIA A100 80GB PCIe") and not pcie_only("NVIDIA H100 80GB HBM3")
    assert not pcie_only("NVIDIA GeForce RTX 3090")  # has an NVLink bridge connector
    assert {r["branch"] for r in data.load("gpu_interconnect")["p2p_misreport_drivers"]} == {"545", "555"}
    bw = data.load("nccl_arch")["arch"][0]
    assert (bw["arch"], bw["min_cc"], bw["min_nccl"], bw["verified"]) == ("Blackwell", "10.0", "2.25.1", False)


# --------------------------------------------------------------------------- NCCL's filter rules


def test_filter_examples_from_env_rst():
    names = ["lo", "eth0", "eth1", "eth10", "docker0", "ib0"]
    assert N.match_filter("eth", names) == ["eth0", "eth1", "eth10"]
    assert N.match_filter("=eth0", names) == ["eth0"]
    assert N.match_filter("=eth0,eth1", names) == ["eth0", "eth1"]
    assert N.match_filter("eth1", names) == ["eth1", "eth10"]  # the prefix pitfall
    assert N.match_filter("^docker", names) == ["lo", "eth0", "eth1", "eth10", "ib0"]
    assert N.match_filter("^=docker0", names) == ["lo", "eth0", "eth1", "eth10", "ib0"]
    assert N.match_filter("mlx5_0:1", ["mlx5_0", "mlx5_1"]) == ["mlx5_0"]
    assert N.overbroad_entries("mlx5_1", ["mlx5_1", "mlx5_10"]) == {"mlx5_1": ["mlx5_1", "mlx5_10"]}


NAME = st.from_regex(r"[a-z]{1,4}[0-9]{0,2}", fullmatch=True)


@given(names=st.lists(NAME, max_size=8, unique=True), entries=st.lists(NAME, min_size=1, max_size=3), exact=st.booleans())
def test_exclude_selects_the_complement(names, entries, exact):
    spec = ("=" if exact else "") + ",".join(entries)
    inc = N.match_filter(spec, names)
    exc = N.match_filter("^" + spec, names)
    assert sorted(inc + exc) == sorted(names) and not set(inc) & set(exc)
    if exact:
        assert set(inc) == set(entries) & set(names)


def test_parse_int_is_strtol_like():
    assert N.parse_int("0x10") == 16 and N.parse_int(" 12") == 12 and N.parse_int("12 ") is None and N.parse_int("010") == 8
    assert N.parse_int("1e3") is None and N.parse_int("") is None and N.parse_int("yes") is None
