"""Prefect flows: they read like the pipeline diagram and do no computation of their own."""
