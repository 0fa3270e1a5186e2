"""``UsageError``: bad usage or input.  The CLI prints its message on one line and exits 2.

A module of its own, importing nothing, so that the entry point, the bounded readers and the snapshot can
raise and catch it without importing the engine (``llmdoctor.engine`` re-exports it).
"""


class UsageError(Exception):
    """Bad usage or input: the CLI prints the message on one line and exits 2."""
