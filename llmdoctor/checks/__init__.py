"""Built-in checks: one module per area.  Every module here is imported by the registry.

A check is one decorated function; its docstring is its explanation (``llmdoctor explain ID``).
"""
