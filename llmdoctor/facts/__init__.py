"""Facts derived from a snapshot and the data tables, shared by checks, fixes and commands (pure, no I/O)."""
