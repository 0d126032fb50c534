"""``verify`` on a containerd root: blobs, layers and unpacked snapshots against their digests.

Three checks, each a record of the contract's ``verify`` shape plus ``kind``:

* ``blob``: every content blob's SHA-256 recomputed and compared with its digest;
* ``layer``: each layer blob of an image decompressed (gzip, zstd where installed, or plain tar)
  and hashed: the result must be the config's diff ID;
* ``snapshot``: each committed snapshot an image was unpacked into compared file by file with its
  layer tar (``files``: ``content``, ``size``, ``type``, ``missing``, ``added``), so a planted or
  changed file is named. overlayfs keeps a layer's own changes (a whiteout is a 0/0 character
  device, an opaque directory an xattr); native keeps the whole tree, so there the tar's members
  are checked and an entry counts as added when neither the tar nor the parent snapshot has it.

References: containerd ``content/local/store.go``, ``diff/apply`` (``archive.Apply``),
``pkg/archive/tar.go`` (whiteout conversion).
"""

from __future__ import annotations

import gzip
import hashlib
import tarfile
import zlib
from collections.abc import Iterator
from typing import IO, Any

from storagekit import progress
from storagekit.engines.containerd.images import blob_path
from storagekit.engines.containerd.model import Container, Image, Snapshot
from storagekit.engines.containerd.state import State
from storagekit.errors import SourceError
from storagekit.jsontext import Record
from storagekit.source import CHUNK, FileType, Source

_TYPES = {
    tarfile.REGTYPE: FileType.FILE, tarfile.AREGTYPE: FileType.FILE,
    tarfile.DIRTYPE: FileType.DIR, tarfile.SYMTYPE: FileType.SYMLINK,
    tarfile.CHRTYPE: FileType.CHARDEV, tarfile.BLKTYPE: FileType.BLOCKDEV,
    tarfile.FIFOTYPE: FileType.FIFO,
}


def _record(kind: str, status: str, **keys: Any) -> Record:
    base: Record = {"kind": kind, "chain_id": None, "diff_id": None, "cache_id": None,
                    "status": status, "computed_diff_id": None, "files": []}
    base.update(keys)
    return base


def _hash(stream: IO[bytes]) -> str:
    return "sha256:" + _sha(stream)


def _sha(stream: IO[bytes]) -> str:
    """The SHA-256 of a stream's bytes (hex), which count as the progress of the step."""
    h = hashlib.sha256()
    bar = progress.current().top
    while chunk := stream.read(CHUNK):
        h.update(chunk)
        bar.advance(len(chunk))
    return h.hexdigest()


def _uncompressed(raw: IO[bytes]) -> IO[bytes]:
    """The layer tar inside a blob, whatever its compression (by magic, as containerd does)."""
    head = raw.read(4)
    raw.seek(0)
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    if head == b"\x28\xb5\x2f\xfd":
        import zstandard

        reader: IO[bytes] = zstandard.ZstdDecompressor().stream_reader(raw)
        return reader
    return raw


def verify_blobs(state: State) -> list[Record]:
    """Every blob file of the namespaces read, hashed once."""
    out = []
    for digest, path in sorted({(b.digest, b.blob_path) for b in state.blobs
                                if b.blob_path and b.present}):
        try:
            with state.source.open(path) as f:
                computed = _hash(f)
        except (SourceError, OSError) as exc:
            out.append(_record("blob", "unreadable", digest=digest, path=path, error=str(exc)))
            continue
        status = "ok" if computed == digest else "modified"
        out.append(_record("blob", status, digest=digest, path=path, computed_diff_id=computed))
    return out


def _layer_hash(source: Source, digest: str) -> tuple[str | None, str]:
    path = blob_path(digest)
    if path is None or not source.is_file(path):
        return None, "missing-blob"
    try:
        with source.open(path) as raw, _uncompressed(raw) as tar:
            return _hash(tar), "ok"
    except (SourceError, OSError, EOFError, zlib.error, ImportError) as exc:
        return None, f"unreadable: {exc}"


def _members(source: Source, digest: str) -> Iterator[tuple[tarfile.TarInfo, str | None]]:
    """Each member of a layer blob with the SHA-256 of a regular file's content."""
    path = blob_path(digest)
    assert path is not None
    with source.open(path) as raw, _uncompressed(raw) as plain, \
            tarfile.open(fileobj=plain, mode="r|") as tar:
        for info in tar:
            sha = None
            if info.isreg():
                f = tar.extractfile(info)
                sha = _sha(f) if f is not None else hashlib.sha256().hexdigest()
            yield info, sha


def _clean(name: str) -> str | None:
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            return None
        parts.append(part)
    return "/".join(parts)


def _file_sha(source: Source, path: str) -> str:
    with source.open(path) as f:
        return _sha(f)


def _tree(source: Source, top: str) -> set[str]:
    """Every path below ``top`` (relative to it)."""
    out: set[str] = set()
    for dirpath, entries in source.walk(top):
        rel = dirpath[len(top):].lstrip("/")
        out.update(f"{rel}/{e.name}" if rel else e.name for e in entries)
    return out


def compare_snapshot(state: State, snap: Snapshot, digest: str,
                     parent: Snapshot | None) -> list[Record]:
    """The files of ``snap`` that differ from layer blob ``digest`` (empty when equal)."""
    source, top = state.source, snap.dir or ""
    overlay = snap.snapshotter == "overlayfs"
    files: list[Record] = []
    named: set[str] = set()
    for info, sha in _members(source, digest):
        rel = _clean(info.name)
        if not rel:
            continue
        head, _, base = rel.rpartition("/")
        if base.startswith(".wh."):
            hidden = f"{head}/{base[4:]}" if head else base[4:]
            if base == ".wh..wh..opq":
                continue
            named.add(hidden)
            named.update("/".join(hidden.split("/")[:n]) for n in range(1, hidden.count("/") + 1))
            if overlay:
                try:
                    e = source.stat(f"{top}/{hidden}")
                    ok = e.type is FileType.CHARDEV and e.rdev == (0, 0)
                except SourceError:
                    ok = False
                if not ok:
                    files.append({"path": "/" + hidden, "change": "missing"})
            elif source.exists(f"{top}/{hidden}"):
                files.append({"path": "/" + hidden, "change": "added"})
            continue
        named.add(rel)
        parts = rel.split("/")
        named.update("/".join(parts[:n]) for n in range(1, len(parts)))
        where = f"{top}/{rel}"
        try:
            e = source.stat(where)
        except SourceError:
            files.append({"path": "/" + rel, "change": "missing"})
            continue
        kind = FileType.FILE if info.islnk() else _TYPES.get(info.type)
        if kind is not None and e.type is not kind:
            files.append({"path": "/" + rel, "change": "type"})
        elif info.isreg() and e.size != info.size:
            files.append({"path": "/" + rel, "change": "size"})
        elif info.isreg() and _file_sha(source, where) != sha:
            files.append({"path": "/" + rel, "change": "content"})
    below = _tree(source, parent.dir) if (parent and not overlay and parent.dir) else set()
    for rel in sorted(_tree(source, top) - named):
        if overlay or rel not in below:
            files.append({"path": "/" + rel, "change": "added"})
    return sorted(files, key=lambda f: f["path"])


def verify_image(state: State, image: Image, done: set[tuple[str, ...]]) -> list[Record]:
    """An image's layer blobs against its diff IDs, and its unpacked snapshots against them."""
    out = []
    pairs = list(zip(image.layer_digests, image.diff_ids, image.chain_ids, strict=False))
    for digest, diff_id, chain_id in pairs:
        if ("layer", digest, diff_id) not in done:
            done.add(("layer", digest, diff_id))
            computed, why = _layer_hash(state.source, digest)
            status = ("ok" if computed == diff_id else "modified") if computed else why
            out.append(_record("layer", status.split(":")[0], chain_id=chain_id, diff_id=diff_id,
                               digest=digest, computed_diff_id=computed, path=blob_path(digest),
                               namespace=image.namespace))
        for sn in state.unpacked_in(image) or []:
            snap = state.index.get(image.namespace, sn, chain_id)
            key = ("snapshot", image.namespace, sn, chain_id)
            if snap is None or key in done:
                continue
            done.add(key)
            parent = state.index.get(image.namespace, sn, snap.parent)
            if not snap.present:
                out.append(_record("snapshot", "missing-dir", chain_id=chain_id, diff_id=diff_id,
                                   cache_id=str(snap.id), namespace=image.namespace,
                                   snapshotter=sn, path=snap.dir))
                continue
            try:
                files = compare_snapshot(state, snap, digest, parent)
            except (SourceError, OSError, EOFError, tarfile.TarError, zlib.error) as exc:
                out.append(_record("snapshot", "unreadable", chain_id=chain_id, diff_id=diff_id,
                                   cache_id=str(snap.id), namespace=image.namespace,
                                   snapshotter=sn, path=snap.dir, error=str(exc)))
                continue
            out.append(_record("snapshot", "modified" if files else "ok", chain_id=chain_id,
                               diff_id=diff_id, cache_id=str(snap.id),
                               namespace=image.namespace, snapshotter=sn, path=snap.dir,
                               files=files))
    return out


def verify_chain(state: State, chain: list[Snapshot]) -> list[Record]:
    """The image levels of a snapshot chain (top first) checked as the image's own ``verify``.

    The image is the one of the chain's namespace whose top chain ID is the highest committed
    level of the chain (the parent of a Docker container's ``<id>-init``, for example). With no
    such image, each committed chain-ID level is one ``no-layer-blob`` record: nothing says
    which blob it was unpacked from.
    """
    if not chain:
        return []
    ns = chain[0].namespace
    tops = {i.chain_ids[-1]: i for i in state.images if i.namespace == ns and i.chain_ids}
    for snap in chain:
        image = tops.get(snap.key)
        if image is not None:
            return verify_image(state, image, set())
    return [_record("snapshot", "no-layer-blob", chain_id=s.key, cache_id=str(s.id),
                    namespace=s.namespace, snapshotter=s.snapshotter, path=s.dir)
            for s in chain if s.kind == "committed" and s.key.startswith("sha256:")]


def verify(state: State, obj: Container | Image | None) -> list[Record]:
    """``verify`` records: of everything, or of one image's (or container's image's) layers."""
    done: set[tuple[str, ...]] = set()
    if obj is None:
        present = {b.digest: b.size or 0 for b in state.blobs if b.blob_path and b.present}
        with progress.step("verifying blobs", total=sum(present.values())):
            out = verify_blobs(state)
        # Layer blobs decompressed and unpacked snapshots read: bytes, total not known.
        with progress.step("verifying layers and snapshots"):
            for each in state.images:
                out += verify_image(state, each, done)
        return out
    image: Image | None = state.image_of(obj) if isinstance(obj, Container) else obj
    if image is None:
        from storagekit.errors import UnknownReferenceError

        raise UnknownReferenceError("its image is not in this root")
    with progress.step("verifying layers and snapshots"):
        return verify_image(state, image, done)
