"""Pure functions of the container half (no root needed): the OCI spec for v1/v2 hosts, flag
parsing, user lookup, in-root path resolution, detach keys, log time filters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from toolkit.engine import attach, ctrfs, logs, spec
from toolkit.engine.cli_containers import CreateFailed, parse_restart, parse_size
from toolkit.engine.cli_ctrinfo import familiar
from toolkit.engine.runtime import _message
from toolkit.errors import UsageError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def record(**host) -> dict:
    return {
        "Id": "ab" * 32,
        "Path": "sh",
        "Args": ["-c", "true"],
        "Config": {"Env": ["PATH=/bin", "A=1"], "Tty": False, "WorkingDir": "", "Hostname": ""},
        "HostConfig": dict({"NetworkMode": "none"}, **host),
    }


def test_spec_defaults_match_docker():
    conf = spec.build(record(), "/m", "/c", (0, 0, []), layout="v1")
    proc = conf["process"]
    assert proc["args"] == ["sh", "-c", "true"] and proc["cwd"] == "/"
    assert "HOSTNAME=abababababab" in proc["env"] and "A=1" in proc["env"]
    assert proc["capabilities"]["bounding"] == spec.DEFAULT_CAPS
    assert [n["type"] for n in conf["linux"]["namespaces"]] == ["pid", "mount", "ipc", "uts",
                                                                 "network"]  # fmt: skip
    assert "/proc/kcore" in conf["linux"]["maskedPaths"]
    assert "/proc/sys" in conf["linux"]["readonlyPaths"]
    sysfs = next(m for m in conf["mounts"] if m["destination"] == "/sys")
    assert "ro" in sysfs["options"]
    assert {m["destination"] for m in conf["mounts"]} >= {"/etc/hosts", "/etc/resolv.conf",
                                                          "/dev/shm", "/dev/mqueue"}  # fmt: skip
    assert conf["linux"]["cgroupsPath"] == "/tke/" + "ab" * 32


def test_spec_v2_host_and_limits_and_privileged():
    conf = spec.build(
        record(Memory=64 << 20, NanoCpus=500_000_000, CpuShares=512, PidsLimit=30,
               Privileged=True, ReadonlyRootfs=True, NetworkMode="host"),
        "/m", "/c", (1000, 1000, [5]), layout="v2",
    )  # fmt: skip
    kinds = [n["type"] for n in conf["linux"]["namespaces"]]
    assert "cgroup" in kinds and "network" not in kinds
    res = conf["linux"]["resources"]
    assert res["memory"] == {"limit": 64 << 20}
    assert res["cpu"] == {"quota": 50_000, "period": 100_000, "shares": 512}
    assert res["pids"] == {"limit": 30}
    assert conf["process"]["capabilities"]["bounding"] == spec.held_caps()  # all tke holds
    assert set(spec.held_caps()) <= set(spec.ALL_CAPS) and "CAP_SYS_ADMIN" in spec.held_caps()
    assert conf["process"]["capabilities"]["effective"] == []  # non-root user
    assert conf["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [5]}
    assert conf["root"]["readonly"] is True and conf["linux"]["maskedPaths"] == []


def test_caps_add_drop_and_rlimits():
    assert spec.caps(False, ["net_admin"], ["CHOWN"]) == [
        c for c in spec.DEFAULT_CAPS if c != "CAP_CHOWN"
    ] + ["CAP_NET_ADMIN"]
    assert spec.caps(False, [], ["ALL"]) == []
    with pytest.raises(spec.SpecError):
        spec.caps(False, ["bogus"], [])
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert spec.rlimits()[0]["hard"] <= (hard if hard > 0 else 1048576)


def test_host_hard_limits_match_getrlimit():
    import resource

    limits = spec.host_hard_limits()
    known = [k for k in spec.LIMIT_ROWS.values() if hasattr(resource, k)]
    assert set(known) <= set(limits) and "RLIMIT_NOFILE" in known
    for kind in known:
        assert limits[kind] == resource.getrlimit(getattr(resource, kind))[1], kind


def test_rlimits_clamped_to_a_lowered_hard_limit():
    """A tke whose own hard limits were lowered (as by a service's LimitNOFILE=) asks the
    runtime for no more than that: setrlimit above it fails in the container."""
    code = (
        "import json, resource; from toolkit.engine import spec; "
        "resource.setrlimit(resource.RLIMIT_NOFILE, (512, 1000)); "
        "resource.setrlimit(resource.RLIMIT_NPROC, (100, 200)); "
        "print(json.dumps(spec.rlimits([{'Name': 'nproc', 'Soft': 300, 'Hard': 400},"
        " {'Name': 'core', 'Soft': -1, 'Hard': -1}])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    got = {r["type"]: (r["soft"], r["hard"]) for r in json.loads(out)}
    assert got["RLIMIT_NOFILE"] == (1000, 1000)
    assert got["RLIMIT_NPROC"] == (200, 200)
    core_hard = spec.host_hard_limits()["RLIMIT_CORE"]
    assert got["RLIMIT_CORE"] == (core_hard, core_hard)


def test_resolve_user(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\nweb:x:33:44::/:/bin/sh\n")
    (tmp_path / "etc" / "group").write_text("root:x:0:\nwww:x:44:\nextra:x:70:web\n")
    assert spec.resolve_user(str(tmp_path), "") == (0, 0, [])
    assert spec.resolve_user(str(tmp_path), "web") == (33, 44, [70])
    assert spec.resolve_user(str(tmp_path), "web:root") == (33, 0, [70])
    assert spec.resolve_user(str(tmp_path), "1234:99") == (1234, 99, [])
    with pytest.raises(spec.SpecError, match="unable to find user nobody"):
        spec.resolve_user(str(tmp_path), "nobody")
    os.unlink(tmp_path / "etc" / "passwd")
    on_host = "daemon"  # a user of the host's /etc/passwd, not of the image's
    assert any(line.startswith(on_host + ":") for line in open("/etc/passwd"))
    os.symlink("/etc/passwd", tmp_path / "etc" / "passwd")  # must not read the host's file
    with pytest.raises(spec.SpecError):
        spec.resolve_user(str(tmp_path), on_host)
    os.unlink(tmp_path / "etc" / "passwd")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "passwd").write_text("app:x:501:502::/:/bin/sh\n")
    os.symlink("../data/passwd", tmp_path / "etc" / "passwd")  # a link inside the image: read
    assert spec.resolve_user(str(tmp_path), "app") == (501, 502, [])
    os.unlink(tmp_path / "etc" / "passwd")
    os.symlink("/data/passwd", tmp_path / "etc" / "passwd")  # absolute: the image's /data
    assert spec.resolve_user(str(tmp_path), "app") == (501, 502, [])
    os.rename(tmp_path / "etc", tmp_path / "etc.real")
    os.symlink("/etc", tmp_path / "etc")  # nor through a linked directory
    with pytest.raises(spec.SpecError):
        spec.resolve_user(str(tmp_path), on_host)


def test_flag_parsing():
    assert parse_size("64m", "--memory") == 64 << 20 and parse_size("1g", "-m") == 1 << 30
    assert parse_restart("on-failure:3") == {"Name": "on-failure", "MaximumRetryCount": 3}
    for bad in ("sometimes", "always:3", "on-failure:x"):
        with pytest.raises(CreateFailed):
            parse_restart(bad)
    with pytest.raises(CreateFailed):
        parse_size("lots", "--memory")
    assert familiar("docker.io/library/busybox:latest") == "busybox"
    assert familiar("127.0.0.1:5000/app:1") == "127.0.0.1:5000/app:1"
    assert attach.parse_detach_keys(None) == b"\x10\x11"
    assert attach.parse_detach_keys("ctrl-a,x") == b"\x01x"
    assert attach._partial_suffix(b"abc\x10", b"\x10\x11") == 1
    assert _message('time="t" level=error msg="boom"\n') == 'time="t" level=error msg="boom"'
    assert _message('{"msg": "json boom", "level": "error"}') == "json boom"


def test_in_root_resolution_never_escapes(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/etc", root / "abs")
    os.symlink("../../../../..", root / "up")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    r = str(root)
    assert ctrfs.resolve(r, "/abs/passwd") == os.path.join(r, "etc", "passwd")
    assert ctrfs.resolve(r, "/up/etc") == os.path.join(r, "etc")
    assert ctrfs.resolve(r, "../../x") == os.path.join(r, "x")
    assert ctrfs.resolve(r, "/abs", follow_last=False) == os.path.join(r, "abs")
    with pytest.raises(ctrfs.CopyError):
        ctrfs.resolve(r, "/loop1/x")


def test_view_maps_mounts_and_keeps_links_inside(tmp_path):
    root, vol = tmp_path / "root", tmp_path / "vol"
    (root / "var" / "data").mkdir(parents=True)
    (root / "etc").mkdir()
    os.symlink("/var/data", root / "data")  # the image links /data; the volume lands in /var/data
    vol.mkdir()
    (vol / "f").write_text("v")
    os.symlink("/etc/passwd", vol / "abs")  # a link in the volume means the container's file
    view = ctrfs.View(str(root), {"/data": (str(vol), False)})
    assert view.host("/data/f") == str(vol / "f")
    assert view.host("/var/data/f") == str(vol / "f")
    assert view.host("/data/abs") == str(root / "etc" / "passwd")
    assert view.host("/data/../etc") == str(root / "var" / "etc")  # the link first, as the kernel
    assert not view.writable(view.inside("/data/new")) and view.writable("/etc/x")
    assert view.mount_of(view.inside("/data")) == "/var/data"


def test_log_time_filters(tmp_path):
    path = tmp_path / "log"
    path.write_text(
        '{"log":"old\\n","stream":"stdout","time":"2020-01-01T00:00:00.000000001Z"}\n'
        '{"log":"new\\n","stream":"stderr","time":"2030-01-01T00:00:00Z"}\n'
        '{"log":"partial'
    )
    assert [e["log"] for e in logs.read(str(path))] == ["old\n", "new\n"]
    assert [
        e["log"] for e in logs.read(str(path), since=logs.parse_since("2021-01-01T00:00:00Z"))
    ] == ["new\n"]
    assert [e["log"] for e in logs.read(str(path), tail=1)] == ["new\n"]
    assert abs(logs.parse_since("1h30m") - (time.time() - 5400)) < 5
    with pytest.raises(UsageError):
        logs.parse_since("10 minutes")
