"""Built-in storage driver readers, installed as ``storagekit.drivers``.

Each module reads one Docker graph driver's directory layout. They register through the
``storagekit.drivers`` entry-point group, exactly as a third-party driver package would.
"""
