"""Write ``PROVENANCE.md`` for the containerd sample root (see tools/make_containerd_root.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any


def _v(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "(not installed)"


def write_provenance(path: Path, commands: list[str], exp: dict[str, Any], digest: str, *,
                     kernel: str, when: str) -> None:
    sc = exp["scenario"]
    lines = [
        "# containerd-1.6 sample root",
        "",
        "Made by a **real containerd** (Debian 12 `containerd` package) with "
        "`tools/make_containerd_root.py` (run as root), on " + when + ".",
        "",
        "- containerd: `" + _v("containerd", "--version") + "`",
        "- runc: `" + _v("runc", "--version").splitlines()[0] + "`",
        "- kernel: `" + kernel + "`; root on ext4; CRI plugin disabled (no CNI here).",
        "- archive: `root.tar.xz`, SHA-256 `" + digest + "`; members relative to the containerd "
        "root (`./io.containerd.metadata.v1.bolt/meta.db`, ...). Made after containerd was "
        "stopped cleanly (SIGTERM by pid) with GNU tar "
        "`--xattrs --xattrs-include='*' --numeric-owner --one-file-system --sort=name`.",
        "",
        "## What is real and what is modelled",
        "",
        "- Real: every byte of the root was written by containerd 1.6.20 (meta.db, the overlayfs "
        "and native snapshotters' metadata.db, content blobs, snapshot directories), except the "
        "files the maker wrote itself into active snapshots' upper directories "
        "(`dangling.txt`, `orphan.txt`, the moby rw file), as a process in a container would, "
        "and the moby init snapshot's entries: moby's `initlayer.Setup` (daemon/initlayer) "
        "modelled by `tools/ctrinit.py` and run, as dockerd runs it, on the kernel's overlay "
        "mount of `<id>-init-key` (empty placeholder files `.dockerenv`, `etc/hosts`, "
        "`etc/hostname`, `etc/resolv.conf`, `dev/console`, mode 0755; the directories and "
        "`etc/mtab -> /proc/mounts` the image lacks).",
        "- Image archives were written by `tools/ociarchive.py` (not by docker/podman): a "
        "docker-archive (`sk-base:1`, imported as Docker schema 2), OCI layouts (`sk-app:1`, "
        "three layers, two gzip, with a file whiteout, a directory whiteout and an opaque "
        "directory), and a nested OCI index with linux/amd64 and linux/arm64 manifests "
        "(`sk-multi:1`), imported with `--index-name " + "docker.io/library/sk-multi:oci-index`.",
        "- `k8s.io` containers are plain `ctr containers create` records carrying the labels the "
        "CRI plugin sets (`io.cri-containerd.kind`, `io.kubernetes.pod.*`, "
        "`io.kubernetes.container.name`); there are no CRI extensions or CRI state files.",
        "- `moby` is Docker >= 29's layout made through containerd's own gRPC services as dockerd "
        "would call them (lease with the container ID, `<id>-init-key` prepared and committed as "
        "`<id>-init`, `<id>` prepared on it, all under that lease); there is no Docker data root "
        "(`containers/<id>/config.v2.json`) in this archive: `../containerd-docker29/` models it "
        "(its PROVENANCE.md says what is modelled).",
        "- Lease resources were added with the leases gRPC service (AddResource): "
        + (", ".join(sc["lease_resources"]) or "none (grpcio missing)") + ".",
        "",
        "## Ground truth (`expected.json`)",
        "",
        "Captured while containerd ran: `ctr namespaces ls`, per namespace `images ls`, "
        "`content ls` + `content get` of every blob (size, SHA-256), `snapshots ls`/`info`/"
        "`usage -b` for overlayfs and native, `containers info`, `leases ls`, and for every "
        "active snapshot its merged filesystem as the kernel shows it (`ctr snapshots mounts` "
        "options, upper and lowers mounted read-only as overlay lowers, walked with lstat). "
        "`scenario` is what the maker wrote (image descriptors, chain IDs, container IDs). "
        "Absolute paths in it name the work directory the root was made in (`/tmp/skctrd/root`).",
        "",
        "## Commands",
        "",
        "```",
        *commands,
        "```",
        "",
    ]
    path.write_text("\n".join(lines))
