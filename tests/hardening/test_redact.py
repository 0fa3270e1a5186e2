"""Every secret form of the corpus is redacted by value shape, context or entropy; ordinary text is kept."""

from __future__ import annotations

import re

import pytest

from llmdoctor.redact import REDACTED, redact_env, redact_value

from hardening.secret_corpus import CORPUS, ENV_VALUES


def test_corpus_has_at_least_60_forms() -> None:
    assert len({name for name, _t, _s in CORPUS}) >= 60


@pytest.mark.parametrize("name,text,secret", CORPUS, ids=[c[0] for c in CORPUS])
def test_secret_form_is_redacted(name: str, text: str, secret: str) -> None:
    assert secret and len(secret) >= 8
    out = redact_value(text)
    assert secret not in out
    assert REDACTED in out


@pytest.mark.parametrize("name,text,secret", CORPUS, ids=[c[0] for c in CORPUS])
def test_secret_form_is_redacted_inside_prose(name: str, text: str, secret: str) -> None:
    out = redact_value(f"error while loading (value {text}) see log")
    assert secret not in out


@pytest.mark.parametrize("name", sorted(ENV_VALUES))
def test_env_value_under_innocent_name_is_redacted(name: str) -> None:
    value = ENV_VALUES[name]
    out = redact_env(name, value)
    m = re.search(r"://[^:@/]*:([^@]+)@", value)
    secret = m.group(1) if m else value
    assert secret not in out


KEEP = [
    "GPU-5f3c0b7e-1a2b-3c4d-5e6f-0123456789ab",
    "Qwen2-VL-72B-Instruct-AWQ",
    "meta-llama/Meta-Llama-3-70B-Instruct",
    "torch-2.1.0+cu121-cp311-cp311-manylinux1_x86_64.whl",
    "/usr/local/cuda-12.1/lib64/libcudart.so.12",
    "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True",
    "CUBLAS_STATUS_NOT_INITIALIZED when calling cublasCreate(handle)",
    "cudaErrorNoKernelImageForDevice",
    "NCCL_IB_HCA=mlx5_0,mlx5_1",
    "nvidia-cudnn-cu12==8.9.2.26",
    "ssh://git@github.com/org/repo.git",
    "https://download.pytorch.org/whl/cu121",
    "key_padding_mask: shape mismatch",
    "driver 550.54.15 supports CUDA 12.4",
]


@pytest.mark.parametrize("text", KEEP)
def test_ordinary_text_is_kept(text: str) -> None:
    assert redact_value(text) == text


def test_env_ordinary_values_are_kept() -> None:
    assert redact_env("CUDA_VISIBLE_DEVICES", "0,1,2,3") == "0,1,2,3"
    assert redact_env("HF_TOKEN", "anything") == REDACTED
    assert redact_env("NCCL_SOCKET_IFNAME", "eth0") == "eth0"


# --- the prefilter (issue 18: most strings skip the eight rules) never hides a secret --------------------

def test_every_corpus_secret_passes_the_prefilter():
    from llmdoctor import redact

    for _name, text, _secret in CORPUS:
        assert redact._MAYBE.search(text), text


_PIECES = ["token", "Key", "-----BEGIN", "eyJ", "xoxb-", "xapp-1-", "hooks.slack.com/services/", "Bearer ",
           "https://", "u:p@", "@", "=", ":", "?sig=", "password ", "AKIA", "sk-", "ghp_", "SG.", "ya29."]


from hypothesis import given, strategies as st  # noqa: E402


@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.text(alphabet="aB3xZ9_-./ =:@\"'", max_size=20)), max_size=12))
def test_a_text_the_prefilter_skips_is_one_no_rule_changes(parts):
    from llmdoctor import redact

    text = "".join(parts)
    if redact._MAYBE.search(text) is None:
        assert redact._apply_rules(text) == text
