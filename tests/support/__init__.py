"""Test support shared by the tests and the tools: synthetic roots and the live engine.

Nothing here imports storagekit: test data never comes from the code under test.
"""
