"""One dtype vocabulary for every command (check --dtype, fit --dtype): aliases, case-insensitive."""

from __future__ import annotations

import pytest

from llmdoctor.facts.vocabulary import DTYPE_ALIASES, canonical, canonical_dtype

CHOICES = ("fp32", "tf32", "fp16", "bf16", "fp8", "fp4", "int8")


@pytest.mark.parametrize("word,short", [("bfloat16", "bf16"), ("BF16", "bf16"), ("torch.bfloat16", "bf16"),
                                        ("float16", "fp16"), ("Half", "fp16"), ("float32", "fp32"),
                                        ("float8_e4m3fn", "fp8"), (" fp8 ", "fp8")])
def test_aliases_name_the_short_dtype(word, short):
    assert canonical_dtype(word) == short
    assert canonical(word, CHOICES) == short


def test_choices_that_list_aliases_still_give_the_short_name():
    assert canonical("bfloat16", (*CHOICES, "bfloat16")) == "bf16"


def test_unknown_words_and_dtypes_outside_the_choices_are_refused():
    assert canonical_dtype("bfloat17") is None
    assert canonical("nf4", CHOICES) is None
    assert canonical("INFERENCE", ("inference", "lora")) == "inference"  # any choices, case-insensitively


def test_every_alias_maps_to_a_short_name_that_maps_to_itself():
    assert all(DTYPE_ALIASES[short] == short for short in DTYPE_ALIASES.values())
