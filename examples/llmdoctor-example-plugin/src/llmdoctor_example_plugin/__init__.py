"""Example llmdoctor plugin: checks live in submodules (every submodule is imported)."""
