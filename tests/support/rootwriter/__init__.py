"""Synthetic Docker data roots, shared by the tests and the benchmarks.

Written from scratch with the standard library only, in the shapes dockerd 20.10 writes
(docker-root-format.md §2, §3, §4, §6): nothing here imports storagekit, so the data storagekit
is tested and timed on never comes from the code under test.

Pieces, smallest first:

* :mod:`.encoding` — Go's JSON and time formats, OCI chain IDs, CRC-64/ISO;
* :mod:`.files` — file and directory writers;
* :mod:`.tarsplit` — a layer tar built in memory and its ``tar-split.json.gz``;
* :mod:`.store` — ``image/<driver>/``: layerdb, imagedb, ``repositories.json``, mounts;
* :mod:`.containers` — ``containers/<id>/``: ``State``, ``hostconfig.json``, the directory;
* :mod:`.overlay2` — ``overlay2/<id>/{diff,link,lower,work}`` and ``l/<LINK>`` (also
  fuse-overlayfs, which shares the layout);
* :mod:`.drivers` — the other drivers' layer directories (overlay, vfs, btrfs, aufs);
* :mod:`.diffdir` — a layer's ``diff/`` from a plan: whiteouts, opaque xattrs, devices, links.

Whole roots built from them: :mod:`.fleet` (many images and containers; the inventory
benchmark), :mod:`.deeptree` and :mod:`.deeptree_plan` (one container on a deep layer stack; the
union benchmark), :mod:`.dutree` (a big tree of small files; the disk-usage benchmark), and
``tests/rootbuilder.py`` (small roots for every driver, for the tests).
"""
