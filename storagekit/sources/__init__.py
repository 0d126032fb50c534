"""Implementations of :class:`storagekit.source.Source`: directory, tar archive, memory."""
