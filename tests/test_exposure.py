"""The audit's exposure section: exactly the risky settings a container was given."""

from __future__ import annotations

import json

from tests.rootbuilder import simple_root

RISKY_HOST = {
    "Privileged": True,
    "CapAdd": ["NET_ADMIN", "CAP_SYS_ADMIN"],
    "NetworkMode": "host",
    "PidMode": "host",
    "IpcMode": "host",
    "UsernsMode": "host",
    "SecurityOpt": ["seccomp=unconfined", "apparmor:unconfined"],
    "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
    "Devices": [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda"}],
}
BINDS = {
    "/sock": {
        "Type": "bind",
        "Source": "/var/run/docker.sock",
        "Destination": "/sock",
        "RW": False,
    },
    "/host": {"Type": "bind", "Source": "/", "Destination": "/host", "RW": True},
    "/etc-h": {"Type": "bind", "Source": "/etc", "Destination": "/etc-h", "RW": True},
    "/etc-ro": {"Type": "bind", "Source": "/etc", "Destination": "/etc-ro", "RW": False},
    "/data": {"Type": "bind", "Source": "/srv/data", "Destination": "/data", "RW": True},
}


def _configure(root, cid, host, mounts=None, **config):
    cdir = root / "containers" / cid
    (cdir / "hostconfig.json").write_text(json.dumps(host))
    data = json.loads((cdir / "config.v2.json").read_text())
    data["MountPoints"] = mounts or {}
    data.update(config)
    (cdir / "config.v2.json").write_text(json.dumps(data))


def test_every_risky_setting_is_named(tmp_path, run):
    b, image, cid = simple_root(tmp_path)
    _configure(tmp_path, cid, RISKY_HOST, BINDS)
    safe = b.add_container(image, "safe")
    _configure(tmp_path, safe, {"SecurityOpt": ["no-new-privileges"]})
    report = run("-r", str(tmp_path), "audit", "--format", "json").json()
    got = [(e["name"], e["severity"], e["setting"], e["value"]) for e in report["exposure"]]
    assert got == [
        ("/c1", "high", "Privileged", True),
        ("/c1", "high", "CapAdd", "SYS_ADMIN"),
        ("/c1", "high", "PidMode", "host"),
        ("/c1", "high", "Mounts", "/ -> /host"),  # mounts in the order of their destinations
        ("/c1", "high", "Mounts", "/var/run/docker.sock -> /sock"),
        ("/c1", "medium", "CapAdd", "NET_ADMIN"),
        ("/c1", "medium", "NetworkMode", "host"),
        ("/c1", "medium", "IpcMode", "host"),
        ("/c1", "medium", "UsernsMode", "host"),
        ("/c1", "medium", "Mounts", "/etc -> /etc-h"),
        ("/c1", "medium", "SecurityOpt", "seccomp=unconfined"),
        ("/c1", "medium", "SecurityOpt", "apparmor=unconfined"),
        ("/c1", "medium", "Devices", "/dev/sda"),
        ("/c1", "medium", "PortBindings", ["0.0.0.0:8080->80/tcp"]),
        ("/c1", "low", "NoNewPrivileges", False),
    ]
    assert {e["container"] for e in report["exposure"]} == {cid}
    table = run("-r", str(tmp_path), "audit").out.splitlines()
    start = table.index("EXPOSURE (15: containers' settings that weaken isolation from the host)")
    assert table[start + 1].split() == [
        "SEVERITY",
        "CONTAINER",
        "SETTING",
        "VALUE",
        "WHY",
        "IT",
        "MATTERS",
    ]
    assert table[start + 2].split()[:4] == ["high", "c1", "Privileged", "True"]


def test_recorded_profiles_and_no_new_privileges_in_config(tmp_path, run):
    _, _, cid = simple_root(tmp_path)
    _configure(
        tmp_path, cid, {}, SeccompProfile="unconfined", AppArmorProfile="", NoNewPrivileges=True
    )
    report = run("-r", str(tmp_path), "audit", "--format", "json").json()
    assert [(e["setting"], e["value"]) for e in report["exposure"]] == [
        ("SecurityOpt", "seccomp=unconfined")
    ]
