"""Test doubles that ship with llmdoctor (the fake NVML behind LLMDOCTOR_FAKE_NVML)."""
