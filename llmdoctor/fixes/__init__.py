"""Fixes: functions that turn a snapshot and its findings into text artifacts.

Fixes produce text; the only code that writes files is ``writer.write_artifact``.
"""
