"""Collapse metrics, each with its definition and source in its docstring."""
