"""Pins the data rows the dump diagnosis relies on (each with a source)."""

from llmdoctor import data


def test_cuda_min_cc_rows():
    rows = data.load("cuda_min_cc")["rows"]
    assert all(r["source"] for r in rows)
    assert data.cuda_min_cc("10.0")["min_cc"] == "3.0"   # CUDA 9 dropped Fermi
    assert data.cuda_min_cc("6.5") is None              # older than the table: unknown
    assert data.cuda_min_cc("13.0")["min_cc"] == "7.5"  # CUDA 13 dropped Maxwell..Volta (reference_facts 3a)


def test_gpu_names_seen_in_the_cases():
    for name, cc in [("GeForce 210", "1.2"), ("NVIDIA GeForce RTX 5090 D", "12.0"), ("NVIDIA A10G", "8.6"),
                     ("Tesla V100-SXM2-32GB", "7.0"), ("Tesla P100-PCIE-16GB", "6.0"),
                     ("NVIDIA GeForce RTX 3080 Laptop GPU", "8.6"), ("Tesla V100-SXM2...", "7.0")]:
        assert data.gpu_by_name(name)["compute_capability"] == cc, name
