"""Typer wiring only: parse, call, render, exit code.  One module per command; ``app`` wires them."""
