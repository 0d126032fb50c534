"""Analyses: pure functions over the model (chains, usage, orphans, diff, ...)."""
