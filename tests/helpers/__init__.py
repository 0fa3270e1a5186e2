"""Test helpers in one place (tests/conftest.py re-exports the common ones)."""
