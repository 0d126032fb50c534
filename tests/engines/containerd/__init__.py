"""Tests of the containerd readers against a real containerd root and hostile inputs."""
