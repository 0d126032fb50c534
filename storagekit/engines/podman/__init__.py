"""podman's storage: containers-storage (layers, images, containers) and libpod's state.

Modules: :mod:`.layers`, :mod:`.images`, :mod:`.containers` (the containers-storage JSON
stores), :mod:`.layerdirs` (overlay and vfs layer directories), :mod:`.libpod` with
:mod:`.libpod_bolt` and :mod:`.libpod_sqlite` (libpod's database), :mod:`.root` (a whole graph
root, cross-checks, container and image stacks), :mod:`.orphans`, :mod:`.rootless` (the ID
mapping of a rootless root), :mod:`.common` (ID checks and ID maps).
Format notes: ``containerd-podman-format.md`` §4.
"""
