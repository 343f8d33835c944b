"""A container's files: diff (A/C/D), commit (-m -a -c, history, a runnable new image), cp in
both directions (files, dirs, tar streams, symlinks that must not escape), export."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile

import pytest

from tests.engine.ctrhelpers import PYTHON, ctr_runc_fixture  # noqa: F401 - provides ctr_runc

pytestmark = [pytest.mark.engine]

CHANGES = (
    "echo new > /etc/added; echo more >> /etc/passwd; rm /bin/vi; mkdir -p /data/sub; "
    "echo d > /data/sub/f; ln -s /etc/passwd /data/link"
)


def test_diff_and_commit(ctr_runc):
    ctr = ctr_runc
    ctr.ok("run", "--name", "src", ctr.image, "sh", "-c", CHANGES)
    diff = ctr.ok("diff", "src").splitlines()
    assert "A /etc/added" in diff and "C /etc/passwd" in diff and "C /etc" in diff
    assert "D /bin/vi" in diff and "A /data" in diff and "A /data/sub/f" in diff
    assert not any(p.endswith(("/hostname", "/hosts", "/resolv.conf", "/proc")) for p in diff)
    image_id = ctr.ok(
        "commit", "-m", "my message", "-a", "Jo <jo@example.com>", "-c", "ENV MODE=committed",
        "-c", 'CMD ["cat", "/etc/added"]', "src", "snap:1",
    ).strip()  # fmt: skip
    assert image_id.startswith("sha256:")
    assert ctr.ok("run", "--rm", "snap:1") == "new\n"
    r = ctr.run("run", "--rm", "snap:1", "sh", "-c", "echo $MODE; ls /bin/vi; cat /data/sub/f")
    assert r.stdout == "committed\nd\n" and "No such file" in r.stderr
    info = json.loads(ctr.ok("image", "inspect", "snap:1"))[0]
    assert info["Author"] == "Jo <jo@example.com>" and info["Comment"] == "my message"
    history = ctr.ok("history", "--no-trunc", "snap:1")
    assert "my message" in history
    assert len(info["RootFS"]["Layers"]) == 2


def test_commit_running_container_pauses_and_resumes(ctr_runc):
    ctr = ctr_runc
    ctr.ok("run", "-d", "--name", "live", ctr.image, "sh", "-c", "echo x > /x; sleep 100")
    ctr.ok("exec", "live", "true")
    ctr.ok("commit", "live", "live:snap")
    assert ctr.ok("inspect", "-f", "{{.State.Status}}", "live") == "running\n"
    assert ctr.ok("run", "--rm", "live:snap", "cat", "/x") == "x\n"


def test_cp_both_directions_and_archives(ctr_runc, tmp_path):
    ctr = ctr_runc
    ctr.ok("run", "--name", "box", ctr.image, "sh", "-c", CHANGES)
    out = tmp_path / "out"
    out.mkdir()
    ctr.ok("cp", "box:/etc/added", str(out / "added.txt"))
    assert (out / "added.txt").read_text() == "new\n"
    ctr.ok("cp", "box:/data", str(out))
    assert (out / "data" / "sub" / "f").read_text() == "d\n"
    assert os.readlink(out / "data" / "link") == "/etc/passwd"  # copied as a link, not followed
    src = tmp_path / "in"
    (src / "deep").mkdir(parents=True)
    (src / "deep" / "file").write_text("host data\n")
    ctr.ok("cp", str(src), "box:/data/")
    ctr.ok("cp", str(src / "deep" / "file"), "box:/renamed")
    ctr.ok("commit", "-c", 'CMD ["sh"]', "box", "boxed:1")
    got = ctr.ok("run", "--rm", "boxed:1", "sh", "-c", "cat /data/in/deep/file /renamed")
    assert got == "host data\nhost data\n"
    tar = subprocess.run(
        [PYTHON, "-m", "toolkit.engine.cli", "cp", "box:/data/sub", "-"],
        env=ctr.env,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        assert sorted(tf.getnames()) == ["sub", "sub/f"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("streamed.txt")
        info.size = 7
        tf.addfile(info, io.BytesIO(b"stream\n"))
    subprocess.run(
        [PYTHON, "-m", "toolkit.engine.cli", "cp", "-", "box:/tmp"],
        env=ctr.env,
        input=buf.getvalue(),
        check=True,
    )
    ctr.ok("commit", "box", "boxed:2")
    assert ctr.ok("run", "--rm", "boxed:2", "cat", "/tmp/streamed.txt") == "stream\n"


def test_cp_never_escapes_through_symlinks(ctr_runc, tmp_path):
    ctr = ctr_runc
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("host file\n")
    ctr.ok("run", "--name", "evil", ctr.image, "sh", "-c",
           f"mkdir -p {victim}; ln -s {victim} /escape; ln -s {victim}/keep /escape-file; "
           "ln -s ../../../../.. /up")  # fmt: skip
    payload = tmp_path / "payload"
    payload.write_text("pwned\n")
    ctr.ok("cp", str(payload), "evil:/escape/keep")
    ctr.ok("cp", str(payload), "evil:/escape-file")
    ctr.ok("cp", str(payload), "evil:/up/tmp/x")
    assert (victim / "keep").read_text() == "host file\n"
    assert not (tmp_path / "tmp").exists() and not os.path.exists("/tmp/x-from-tke")
    r = ctr.run("cp", "evil:/escape/keep", str(tmp_path / "leak"))
    assert r.returncode != 0 or (tmp_path / "leak").read_text() != "host file\n"
    ctr.ok("commit", "-c", 'CMD ["sh"]', "evil", "evil:1")
    got = ctr.ok("run", "--rm", "evil:1", "sh", "-c",
                 f"cat {victim}/keep /escape-file /tmp/x")  # fmt: skip
    assert got == "pwned\npwned\npwned\n"


def test_cp_sees_the_containers_volumes_binds_and_etc_files(ctr_runc, tmp_path):
    ctr = ctr_runc
    bound = tmp_path / "bound"
    bound.mkdir()
    (bound / "b.txt").write_text("bound\n")
    cid = ctr.ok("run", "-d", "--name", "vols", "-v", "/data", "-v", f"{bound}:/b:ro",
                 ctr.image, "sh", "-c", "echo in-volume > /data/f; sleep 100").strip()  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    assert ctr.ok("exec", "vols", "cat", "/data/f") == "in-volume\n"
    ctr.ok("cp", "vols:/data/f", str(out / "f"))  # from the volume, not the mount point
    assert (out / "f").read_text() == "in-volume\n"
    ctr.ok("cp", "vols:/data", str(out))  # named as in the container
    assert (out / "data" / "f").read_text() == "in-volume\n"
    ctr.ok("cp", "vols:/etc/hostname", str(out / "hostname"))  # the bound file, not a stub
    assert (out / "hostname").read_text() == cid[:12] + "\n"
    ctr.ok("cp", str(bound / "b.txt"), "vols:/data/copied")  # into the volume: seen inside
    assert ctr.ok("exec", "vols", "cat", "/data/copied") == "bound\n"
    r = ctr.run("cp", str(out / "f"), "vols:/b/")
    assert r.returncode == 1 and "mounted volume is marked read-only" in r.stderr
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.addfile(tarfile.TarInfo("t.txt"), io.BytesIO(b""))
    r = subprocess.run([PYTHON, "-m", "toolkit.engine.cli", "cp", "-", "vols:/b"],
                       env=ctr.env, input=buf.getvalue(), capture_output=True)  # fmt: skip
    assert r.returncode == 1 and b"mounted volume is marked read-only" in r.stderr
    assert sorted(os.listdir(bound)) == ["b.txt"]
    ctr.ok("stop", "-t", "0", "vols")
    ctr.ok("cp", "vols:/data/copied", str(out / "after-stop"))  # a stopped one's volume too
    assert (out / "after-stop").read_text() == "bound\n"
    ctr.ok("create", "--name", "ro", "--read-only", "-v", "/scratch", ctr.image, "true")
    r = ctr.run("cp", str(out / "f"), "ro:/tmp/")
    assert r.returncode == 1 and "container rootfs is marked read-only" in r.stderr
    ctr.ok("cp", str(out / "f"), "ro:/scratch/")  # its volume is writable


def test_export(ctr_runc, tmp_path):
    ctr = ctr_runc
    ctr.ok("create", "--name", "ex", ctr.image, "true")
    target = tmp_path / "rootfs.tar"
    ctr.ok("export", "-o", str(target), "ex")
    with tarfile.open(target) as tf:
        names = set(tf.getnames())
    assert {"bin/busybox", "etc/passwd", "bin/sh"} <= names


def test_ps_size_and_system_df_count_the_writable_layers(ctr_runc):
    ctr = ctr_runc
    ctr.ok("run", "--name", "fat", ctr.image, "sh", "-c", "head -c 200000 /dev/zero > /big")
    ctr.ok("run", "-d", "--name", "thin", ctr.image, "sleep", "100")
    listed = ctr.ok("ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}").splitlines()
    sizes = dict(line.split(" ", 1) for line in listed)
    assert sizes["fat"].startswith("200kB (virtual ") and sizes["thin"].startswith("0B (virtual ")
    for verb in (["inspect"], ["container", "inspect"]):  # docker's --size fields
        got = ctr.ok(*verb, "-s", "-f", "{{.SizeRw}} {{.SizeRootFs}}", "fat").split()
        assert int(got[0]) == 200000 and int(got[1]) > 200000
    assert ctr.ok("inspect", "-f", "{{.SizeRw}}", "fat") == "<no value>\n"  # only with -s
    rows = {line.split()[0]: line.split() for line in ctr.ok("system", "df").splitlines()[1:]}
    assert list(rows) == ["Images", "Containers", "Local"]  # docker's rows, in its order
    assert rows["Containers"][1:4] == ["2", "1", "200kB"]  # total, running, size
    assert rows["Containers"][4:] == ["200kB", "(100%)"]  # the stopped one's, removable
    verbose = ctr.ok("system", "df", "-v")
    for section in ("Images space usage:", "Containers space usage:", "Local Volumes space"):
        assert section in verbose
    fat = next(line.split() for line in verbose.splitlines() if line.endswith(" fat"))
    assert "200kB" in fat and fat[-1] == "fat"


def test_container_and_system_prune_ask_first_and_remove_what_nothing_uses(ctr_runc):
    ctr = ctr_runc
    ctr.ok("run", "--name", "done", ctr.image, "sh", "-c", "head -c 50000 /dev/zero > /f")
    done_id = ctr.ok("inspect", "-f", "{{.Id}}", "done").strip()
    ctr.ok("run", "-d", "--name", "up", ctr.image, "sleep", "100")
    r = ctr.run("container", "prune", input="n\n")
    assert r.returncode == 0 and "WARNING! This will remove all stopped containers." in r.stdout
    assert sorted(ctr.ok("ps", "-a", "--format", "{{.Names}}").split()) == ["done", "up"]
    out = ctr.run("container", "prune", input="y\n").stdout
    assert f"Deleted Containers:\n{done_id}\n" in out and "Total reclaimed space: 50kB" in out
    assert ctr.ok("ps", "-a", "--format", "{{.Names}}").split() == ["up"]
    # system prune --volumes: a stopped container, its anonymous volume, a dangling image
    ctr.ok("run", "--name", "vol", "-v", "/scratch", ctr.image, "touch", "/scratch/x")
    ctr.ok("commit", "up", "snap:1")
    ctr.ok("commit", "up", "snap:1")  # the first one is dangling now
    assert ctr.ok("images", "-q", "--filter", "dangling=true").strip()
    out = ctr.ok("system", "prune", "-f", "--volumes")
    assert "Deleted Containers:" in out and "Deleted Volumes:" in out and "Deleted Images:" in out
    assert ctr.ok("images", "-q", "--filter", "dangling=true") == ""
    assert ctr.ok("volume", "ls", "-q") == "" and ctr.ok("ps", "-a", "--format", "{{.Names}}") == (
        "up\n"
    )
    assert ctr.ok("images", "--format", "{{.Repository}}:{{.Tag}}", "snap") == "snap:1\n"
