"""Make ``sample_roots/containerd-1.6/`` with a real, private containerd (run as root).

Usage::

    .venv/bin/python -m tools.make_containerd_root [--out sample_roots/containerd-1.6] [--work DIR]

A throw-away containerd (CRI disabled, real-engine.md) with its own root, state and socket; it
never talks to a system daemon. Images are written by ``tools.ociarchive`` (a docker-archive and
OCI layouts, one imported with ``--index-name``) and imported with ``ctr images import`` into
namespaces ``default``, ``k8s.io`` and ``moby``; containers, snapshots and leases are made with
``ctr`` and, for Docker >= 29's layout in ``moby`` (lease-held ``<id>-init``/``<id>`` snapshots),
with the snapshots and leases gRPC services (``grpcio``, optional: without it ``moby`` only holds
its image); the init snapshot gets what moby's ``initlayer.Setup`` writes, through the kernel's
overlay mount of it (``tools/ctrinit.py``). The engine's answers are saved (``expected.json``)
while it runs; then it is stopped by its pid and the root is archived with GNU tar
(``root.tar.xz``) and described (``PROVENANCE.md``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.support.engine import base_rootfs_tar
from tools.ctrinit import setup_snapshot
from tools.ctrtruth import capture
from tools.ociarchive import Image, docker_archive, layer_tar, oci_archive, sha

REPO = Path(__file__).resolve().parent.parent
APP, BASE = "docker.io/library/sk-app:1", "docker.io/library/sk-base:1"
MULTI, MULTI_INDEX = "docker.io/library/sk-multi:1", "docker.io/library/sk-multi:oci-index"


class Ctrd:
    """A private containerd and the ``ctr`` commands run against it (all recorded)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.root, self.state = work / "root", work / "state"
        self.sock = str(work / "c.sock")
        self.commands: list[str] = []
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.work.mkdir(parents=True)
        conf = self.work / "config.toml"
        conf.write_text(
            f'version = 2\nroot = "{self.root}"\nstate = "{self.state}"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{self.sock}"\n[ttrpc]\n  address = "{self.sock}.ttrpc"\n'
        )
        self.commands.append(f"containerd --config {conf} &  # config: {conf.read_text()!r}")
        log = open(self.work / "log", "wb")  # noqa: SIM115 - lives as long as the daemon
        self.proc = subprocess.Popen(["containerd", "--config", str(conf)], stdout=log, stderr=log)
        for _ in range(100):
            if subprocess.run(["ctr", "--address", self.sock, "version"],
                              capture_output=True).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("containerd did not start: " + (self.work / "log").read_text()[-2000:])

    def ctr(self, ns: str, *args: str, record: bool = True, input: bytes | None = None) -> str:
        argv = ["ctr", "--address", self.sock, "-n", ns, *args]
        if record:
            self.commands.append(shlex.join(["ctr", "-n", ns, *args]))
        r = subprocess.run(argv, capture_output=True, input=input)
        if r.returncode != 0:
            raise RuntimeError(f"{shlex.join(argv)}: {r.stderr.decode(errors='replace')}")
        return r.stdout.decode()

    def stop(self) -> None:
        assert self.proc is not None
        self.commands.append(f"kill -TERM {self.proc.pid}  # containerd, by pid")
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)

    def upper(self, ns: str, key: str) -> Path:
        """The directory of an active overlayfs snapshot (from its mount options)."""
        out = self.ctr(ns, "snapshots", "mounts", "/mnt", key, record=False)
        for opt in out.split(" -o ")[1].split()[0].split(","):
            if opt.startswith("upperdir="):
                return Path(opt[len("upperdir="):])
        raise RuntimeError(f"no upperdir for {key}: {out}")

    def grpc(self, ns: str, method: str, body: bytes, lease: str | None = None) -> bytes:
        import grpc  # optional; only for the moby namespace

        md = [("containerd-namespace", ns)] + ([("containerd-lease", lease)] if lease else [])
        self.commands.append(f"(grpc) {method} ns={ns} lease={lease} body={body.hex()}")
        with grpc.insecure_channel("unix://" + self.sock) as ch:
            out: bytes = ch.unary_unary(method)(body, metadata=md, timeout=30)
        return out


def _pb(n: int, data: str | bytes) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    out, length = bytes([n << 3 | 2]), len(raw)
    while length >= 0x80:
        out += bytes([length & 0x7F | 0x80])
        length >>= 7
    return out + bytes([length]) + raw


def images() -> dict[str, Image]:
    base_tar = base_rootfs_tar()
    app2 = layer_tar([
        ("data", "dir", 0o755, b""), ("data/keep", "dir", 0o755, b""),
        ("data/keep/k1", "file", 0o644, "keep 1\n"), ("data/old", "dir", 0o755, b""),
        ("data/old/a", "file", 0o644, "old a\n"), ("data/old/b", "file", 0o600, "old b\n"),
        ("etc/app.conf", "file", 0o644, "mode=one\n"), ("opt", "dir", 0o755, b""),
        ("opt/cache", "dir", 0o755, b""), ("opt/cache/c1", "file", 0o644, "c1\n"),
        ("opt/cache/c2", "file", 0o644, "c2\n"),
        ("usr/bin/hello", "symlink", 0o777, "/bin/busybox"),
    ])
    app3 = layer_tar([
        ("data/.wh.old", "file", 0o644, b""), ("data/new.txt", "file", 0o644, "new in layer 3\n"),
        ("etc/.wh.app.conf", "file", 0o644, b""), ("etc/.wh.group", "file", 0o644, b""),
        ("opt/cache", "dir", 0o755, b""), ("opt/cache/.wh..wh..opq", "file", 0o644, b""),
        ("opt/cache/c3", "file", 0o644, "c3 after opaque\n"),
    ])
    return {
        "base": Image("sk-base:1", [(base_tar, False)], ["sh"]),
        "app": Image(APP, [(base_tar, False), (app2, True), (app3, True)],
                     ["sh", "-c", "cat /data/new.txt"], labels={"sk.image": "app"}),
        "amd64": Image(MULTI, [(base_tar, False),
                               (layer_tar([("etc/arch", "file", 0o644, "amd64\n")]), True)],
                       ["cat", "/etc/arch"]),
        "arm64": Image(MULTI, [(layer_tar([("etc/arch", "file", 0o644, "arm64\n")]), False)],
                       ["cat", "/etc/arch"], arch="arm64"),
    }


def build(d: Ctrd, tmp: Path) -> dict[str, Any]:
    imgs = images()
    (tmp / "base.tar").write_bytes(docker_archive(imgs["base"]))
    (tmp / "app.tar").write_bytes(oci_archive([imgs["app"]]))
    (tmp / "multi.tar").write_bytes(oci_archive([imgs["amd64"], imgs["arm64"]], nested_index=MULTI))
    for ns in ("default", "k8s.io", "moby"):
        d.ctr(ns, "images", "import", str(tmp / "base.tar"))
    for ns in ("default", "k8s.io"):
        d.ctr(ns, "images", "import", str(tmp / "app.tar"))
    d.ctr("default", "images", "import", "--index-name", MULTI_INDEX, str(tmp / "multi.tar"))
    base_chain = sha(base_rootfs_tar())
    app = imgs["app"].describe()
    chain = app["diff_ids"][0]
    for diff in app["diff_ids"][1:]:
        chain = sha(f"{chain} {diff}".encode())

    # default: a created container, one that ran, one on the native snapshotter
    hostdir = tmp / "hostdir"
    hostdir.mkdir()
    d.ctr("default", "containers", "create", "--label", "sk.role=created", "--env", "FOO=bar",
          "--cwd", "/data", "--mount", f"type=bind,src={hostdir},dst=/host,options=rbind:ro",
          APP, "c-created", "--", "sh", "-c", "sleep 1")
    script = ("echo changed >> /etc/passwd; echo fresh > /data/fresh.txt; rm /data/new.txt; "
              "rm -rf /opt/cache; mkdir /opt/cache; echo again > /opt/cache/again; "
              "mkdir -p /var/log/app; echo log > /var/log/app/out.log; rm /bin/wc; "
              "ln -s /data/fresh.txt /data/link; chmod 0600 /etc/passwd; exit 0")
    d.ctr("default", "run", "--label", "sk.role=ran", APP, "c-ran", "sh", "-ec", script)
    d.ctr("default", "containers", "create", "--snapshotter", "native", "--label", "sk.role=native",
          BASE, "c-native", "--", "sh")
    # dangling snapshots: an active one with files, a committed one with a non-chain key
    d.ctr("default", "snapshots", "prepare", "dangling-active", chain)
    up = d.upper("default", "dangling-active")
    (up / "dangling.txt").write_text("left behind\n")
    d.commands.append(f"echo 'left behind' > <dangling-active upperdir>/dangling.txt  # {up}")
    d.ctr("default", "snapshots", "prepare", "orphan-key", base_chain)
    up = d.upper("default", "orphan-key")
    (up / "orphan.txt").write_text("orphan\n")
    d.commands.append(f"echo orphan > <orphan-key upperdir>/orphan.txt  # {up}")
    d.ctr("default", "snapshots", "commit", "orphan-committed", "orphan-key")
    d.ctr("default", "leases", "create", "--id", "sk-lease", "--expires", "1h", "sk.purpose=test")
    d.ctr("default", "leases", "create", "--id", "sk-forever", "--expires", "0")
    lease_res = []
    try:
        arm = imgs["arm64"].describe()["manifest"]
        d.grpc("default", "/containerd.services.leases.v1.Leases/AddResource",
               _pb(1, "sk-lease") + _pb(2, _pb(1, arm) + _pb(2, "content")))
        d.grpc("default", "/containerd.services.leases.v1.Leases/AddResource",
               _pb(1, "sk-forever")
               + _pb(2, _pb(1, "dangling-active") + _pb(2, "snapshots/overlayfs")))
        lease_res = ["default/sk-lease: content " + arm,
                     "default/sk-forever: snapshots/overlayfs dangling-active"]
    except ImportError:
        pass

    # k8s.io: CRI-like sandbox and container records (CRI plugin disabled: labels by hand)
    uid = "0b7e4f6c-1d2e-4c3b-9a8f-5e6d7c8b9a01"
    sandbox = hashlib.sha256(b"sk sandbox web-0").hexdigest()
    ctr_id = hashlib.sha256(b"sk container web-0/app").hexdigest()
    pod = ["--label", "io.kubernetes.pod.name=web-0", "--label", "io.kubernetes.pod.namespace=shop",
           "--label", f"io.kubernetes.pod.uid={uid}"]
    d.ctr("k8s.io", "containers", "create", "--label", "io.cri-containerd.kind=sandbox", *pod,
          BASE, sandbox, "--", "sleep", "3600")
    d.ctr("k8s.io", "containers", "create", "--label", "io.cri-containerd.kind=container", *pod,
          "--label", "io.kubernetes.container.name=app", "--env", "MODE=prod", APP, ctr_id,
          "--", "sh", "-c", "cat /data/new.txt; sleep 3600")

    # moby: Docker >= 29's layout, a lease per container holding <id>-init and <id>
    moby_id = hashlib.sha256(b"sk moby container 1").hexdigest()
    moby: dict[str, Any] = {"container": moby_id, "lease_resources": False}
    d.ctr("moby", "leases", "create", "--id", moby_id, "--expires", "0")
    try:
        snap = "/containerd.services.snapshots.v1.Snapshots/"
        d.grpc("moby", snap + "Prepare",
               _pb(1, "overlayfs") + _pb(2, moby_id + "-init-key") + _pb(3, base_chain), moby_id)
        mounts = d.ctr("moby", "snapshots", "mounts", "/target", moby_id + "-init-key",
                       record=False)
        setup_snapshot(mounts, d.work / "init-mnt")
        d.commands.append("(init layer) mount <id>-init-key as `ctr snapshots mounts` says, run "
                          "moby's initlayer.Setup there (tools/ctrinit.py), unmount")
        d.grpc("moby", snap + "Commit",
               _pb(1, "overlayfs") + _pb(2, moby_id + "-init") + _pb(3, moby_id + "-init-key"),
               moby_id)
        d.grpc("moby", snap + "Prepare",
               _pb(1, "overlayfs") + _pb(2, moby_id) + _pb(3, moby_id + "-init"), moby_id)
        up = d.upper("moby", moby_id)
        (up / "root").mkdir(mode=0o700, exist_ok=True)
        (up / "root" / ".ash_history").write_text("ls\n")
        d.commands.append("(rw layer) write root/.ash_history")
        moby["lease_resources"] = True
    except ImportError:
        pass
    return {
        "images": {k: v.describe() for k, v in imgs.items()},
        "base_chain": base_chain, "app_chain": chain, "lease_resources": lease_res,
        "k8s": {"sandbox": sandbox, "container": ctr_id, "pod_uid": uid}, "moby": moby,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=REPO / "sample_roots" / "containerd-1.6")
    ap.add_argument("--work", type=Path, default=Path("/tmp/skctrd"))
    args = ap.parse_args()
    if args.work.exists():
        raise SystemExit(f"{args.work} exists: remove it first")
    d = Ctrd(args.work)
    d.start()
    tmp = args.work / "in"
    tmp.mkdir()
    try:
        scenario = build(d, tmp)
        exp = capture(d, args.work / "mnt")
        exp["scenario"] = scenario
    finally:
        d.stop()
    leftovers = [ln for ln in Path("/proc/self/mountinfo").read_text().splitlines()
                 if str(args.work) in ln]
    if leftovers:
        raise SystemExit("mounts left under the work dir: " + "\n".join(leftovers))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "expected.json").write_text(json.dumps(exp, indent=1, sort_keys=True) + "\n")
    tar = ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "--one-file-system",
           "--sort=name", "-I", "xz -9e -T1", "-C", str(d.root), "-cf",
           str(args.out / "root.tar.xz"), "."]
    subprocess.run(tar, check=True)
    d.commands.append(shlex.join(tar).replace(str(d.root), "<root>"))
    digest = hashlib.sha256((args.out / "root.tar.xz").read_bytes()).hexdigest()
    from tools.ctrprov import write_provenance

    write_provenance(args.out / "PROVENANCE.md", d.commands, exp, digest,
                     kernel=platform.release(),
                     when=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    print(args.out, digest, os.path.getsize(args.out / "root.tar.xz"))


if __name__ == "__main__":
    main()
