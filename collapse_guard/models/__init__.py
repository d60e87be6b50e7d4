"""Generators behind one small interface, so built-in and user models drop into the same pipeline."""

from collapse_guard.models.base import Generator, build_generator, load_generator

__all__ = ["Generator", "build_generator", "load_generator"]
