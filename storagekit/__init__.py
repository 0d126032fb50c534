"""storagekit: offline forensics for container storage.

Reads a Docker data root (a directory or a tar archive of it) without a daemon, without root and
without kernel overlay/aufs support, and answers what images, layers and containers it holds, how
they stack, and what their files are.
"""

__version__ = "0.1.0"
