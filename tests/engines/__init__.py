"""Tests of the engine readers (storagekit.engines)."""
