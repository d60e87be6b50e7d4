"""Prefect tasks: one thin wrapper per pipeline step. Retries, logging and file I/O live here; the
logic lives in collapse_guard/."""
