"""Container engines whose storage storagekit reads (containerd first; Docker and podman next)."""
