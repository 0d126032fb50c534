"""Engines: each reads one container engine's storage into the model."""
