"""Volumes on real containers: -v bind mounts (rw, ro, made if missing), named and anonymous
volumes, --volumes-from, the seed primer's backup/restore with tar, rm -v, `tke volume`
verbs, and docker's errors for bad specifications."""

from __future__ import annotations

import json
import os

import pytest

from tests.engine.ctrhelpers import ctr_fixture, ctr_runc_fixture  # noqa: F401 - fixtures
from toolkit.engine import volumes

pytestmark = [pytest.mark.engine]


def test_bind_mounts_read_write_and_read_only(ctr, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "in").write_text("from host\n")
    spec = f"{host}:/h"
    out = ctr.ok("run", "--rm", "-v", spec, ctr.image, "sh", "-c", "cat /h/in; echo back > /h/out")
    assert out == "from host\n" and (host / "out").read_text() == "back\n"
    r = ctr.run("run", "--rm", "-v", f"{spec}:ro", ctr.image, "sh", "-c", "echo x > /h/no")
    assert r.returncode == 1 and "Read-only file system" in r.stderr
    assert not (host / "no").exists()
    made = tmp_path / "made" / "here"
    ctr.ok("run", "--rm", "-v", f"{made}:/m", ctr.image, "touch", "/m/t")
    assert (made / "t").exists()  # docker's -v creates a missing host directory


def test_seed_primer_backup_and_restore_with_volumes_from(ctr_runc, tmp_path):
    ctr = ctr_runc
    backup = tmp_path / "backup"
    backup.mkdir()
    ctr.ok("run", "-v", "/dbdata", "--name", "db1", ctr.image, "sh", "-c", "echo rows > /dbdata/t")
    tar = ["tar", "cvf", "/backup/backup.tar", "/dbdata"]
    ctr.ok("run", "--rm", "--volumes-from", "db1", "-v", f"{backup}:/backup", ctr.image, *tar)
    assert (backup / "backup.tar").stat().st_size > 0
    ctr.ok("run", "-v", "/dbdata", "--name", "dbdata2", ctr.image, "true")
    untar = ["tar", "xvf", "/backup/backup.tar"]
    ctr.ok("run", "--rm", "--volumes-from", "dbdata2", "-v", f"{backup}:/backup", ctr.image, *untar)
    out = ctr.ok("run", "--rm", "--volumes-from", "dbdata2", ctr.image, "cat", "/dbdata/t")
    assert out == "rows\n"
    r = ctr.run("run", "--rm", "--volumes-from", "db1:ro", ctr.image, "touch", "/dbdata/x")
    assert r.returncode == 1 and "Read-only file system" in r.stderr
    mounts = json.loads(ctr.ok("inspect", "-f", "{{json .Mounts}}", "db1"))
    assert [(m["Type"], m["Destination"], m["RW"]) for m in mounts] == [("volume", "/dbdata", True)]
    anonymous = mounts[0]["Name"]
    assert anonymous in ctr.ok("volume", "ls", "-q").split()
    ctr.ok("rm", "-v", "db1")  # its anonymous volume goes with it
    assert anonymous not in ctr.ok("volume", "ls", "-q").split()
    ctr.ok("rm", "dbdata2")  # without -v the anonymous volume stays (docker)
    assert len(ctr.ok("volume", "ls", "-q").split()) == 1
    out = ctr.ok("volume", "prune", "-f")  # dbdata2's volume holds /dbdata/t: "rows\n"
    assert out.startswith("Deleted Volumes:\n") and out.endswith("Total reclaimed space: 5B\n")
    assert ctr.ok("volume", "ls", "-q") == ""


def test_named_volume_outlives_containers_and_is_protected_while_used(ctr_runc):
    ctr = ctr_runc
    ctr.ok("run", "--rm", "-v", "appdata:/x", ctr.image, "sh", "-c", "echo kept > /x/k")
    assert ctr.ok("run", "--rm", "-v", "appdata:/x:ro", ctr.image, "cat", "/x/k") == "kept\n"
    info = json.loads(ctr.ok("volume", "inspect", "appdata"))[0]
    assert info["Name"] == "appdata" and info["Driver"] == "local"
    assert os.path.isfile(os.path.join(info["Mountpoint"], "k"))
    row = [line.split() for line in ctr.ok("system", "df").splitlines() if "Volumes" in line]
    assert row == [["Local", "Volumes", "1", "0", "5B", "5B"]]  # unused: reclaimable
    ctr.ok("run", "-d", "--name", "user", "-v", "appdata:/x", ctr.image, "sleep", "60")
    r = ctr.run("volume", "rm", "appdata")
    assert r.returncode == 1 and "volume is in use - [user]" in r.stderr
    ctr.ok("rm", "-f", "-v", "user")  # -v leaves named volumes alone
    assert ctr.ok("volume", "ls", "-q").split() == ["appdata"]
    assert ctr.ok("volume", "rm", "appdata") == "appdata\n"
    assert ctr.ok("volume", "create", "--label", "a=b", "made") == "made\n"
    assert ctr.ok("volume", "inspect", "-f", "{{ .Labels.a }}", "made") == "b\n"
    ctr.ok("volume", "rm", "made")


def test_new_volume_gets_the_image_directory_it_covers(ctr_runc):
    """docker's copy-up: an empty volume over /etc starts with the image's /etc (and keeps
    /etc/hosts bind-mounted inside it); a volume with data, or `nocopy`, is left as it is."""
    ctr = ctr_runc
    plain = ctr.ok("run", "--rm", "-h", "box", ctr.image, "cat", "/etc/hosts", "/etc/hostname")
    out = ctr.ok("run", "--rm", "-h", "box", "-v", "etcvol:/etc", ctr.image, "sh", "-c",
                 "head -c 5 /etc/passwd; echo; cat /etc/hosts /etc/hostname")  # fmt: skip
    assert out == "root:\n" + plain and plain.endswith("box\n")
    out = ctr.ok("run", "--rm", "-v", "rootvol:/root", ctr.image, "stat", "-c", "%a", "/root")
    assert out == "700\n"  # the covered directory's mode
    ctr.ok("run", "--rm", "-v", "etcvol:/etc", ctr.image, "sh", "-c", "echo changed > /etc/passwd")
    out = ctr.ok("run", "--rm", "-v", "etcvol:/etc", ctr.image, "cat", "/etc/passwd")
    assert out == "changed\n"  # not copied again over existing data
    r = ctr.run("run", "--rm", "-v", "/etc:nocopy", ctr.image, "cat", "/etc/passwd")
    assert r.returncode != 0  # nothing copied
    ctr.ok("volume", "rm", "etcvol", "rootvol")


def test_run_rm_removes_its_anonymous_volumes(ctr_runc):
    ctr = ctr_runc
    ctr.ok("run", "--rm", "-v", "/scratch", ctr.image, "touch", "/scratch/f")
    assert ctr.ok("volume", "ls", "-q") == ""


@pytest.mark.parametrize(
    "args, words",
    [
        (["-v", "rel/path:/x"], '"rel/path" includes invalid characters'),
        (["-v", "/tmp:rel"], "'rel' mount path must be absolute"),
        (["-v", "/tmp:/x:bogus"], "invalid mode: bogus"),
        (["-v", "/a:/b:/c:/d"], "invalid volume specification"),
        (["--volumes-from", "nope"], "No such container: nope"),
    ],
)
def test_bad_volume_specifications_exit_125_and_create_nothing(ctr_runc, args, words):
    ctr = ctr_runc
    r = ctr.run("run", "--rm", "-v", "/anon", *args, ctr.image, "true")
    assert r.returncode == 125 and words in r.stderr and "Traceback" not in r.stderr
    assert ctr.ok("ps", "-aq") == "" and ctr.ok("volume", "ls", "-q") == ""


def test_parse_follows_docker():
    assert volumes.parse("/d") == {
        "Type": "volume", "Name": "", "Destination": "/d", "RW": True, "Mode": ""
    }  # fmt: skip
    assert volumes.parse("/h/./x/:/d:ro")["Source"] == "/h/x"
    assert volumes.parse("name:/d:rw,z")["RW"] is True
    with pytest.raises(volumes.VolumeError):
        volumes.parse("/h:/d:ro,rw")
