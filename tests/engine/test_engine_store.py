"""Store consistency: concurrent pulls and rmis, gc/prune, rmi rules, holds, commit API, df."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from tests.engine.imagebuilder import TarBuilder
from toolkit.engine import commit, images
from toolkit.engine.layers import LayerError, write_layer
from toolkit.engine.store import Store

pytestmark = pytest.mark.engine


def test_concurrent_pulls_and_rmis_keep_store_consistent(registry, tke_root):
    env = dict(os.environ, TKE_ROOT=str(tke_root))
    names = [f"{registry.host}/busybox", f"{registry.host}/multi"]
    procs = []
    for i in range(20):
        name = names[i % 2]
        verb = ["rmi", "-f", name] if i % 5 == 4 else ["pull", "-q", name]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "toolkit.engine.cli", *verb],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = [(p.wait(120), p.stdout.read(), p.stderr.read()) for p in procs]
    for i, (rc, _out, err) in enumerate(results):
        assert "Traceback" not in err, err
        if i % 5 != 4:
            assert rc == 0, err
        else:
            assert rc == 0 or "No such image" in err, err
    store = Store(str(tke_root))
    assert store.check() == []
    for name in names:
        subprocess.run(
            [sys.executable, "-m", "toolkit.engine.cli", "pull", "-q", name],
            env=env,
            check=True,
            capture_output=True,
        )
        info = images.resolve(store, name)
        assert all(os.path.isdir(d) for d in info.layer_dirs)
    assert store.check() == []
    assert os.listdir(store.tmp_dir) in ([], ["downloads"])


def test_rmi_rules_holds_and_prune(registry, tke, tke_root):
    host = registry.host
    tke("pull", f"{host}/multi")
    tke("tag", f"{host}/multi", "mine:1")
    store = Store(str(tke_root))
    image_id = images.resolve(store, "mine:1").id
    rc, _, err = tke("rmi", image_id[7:19])
    assert rc == 1 and "must be forced" in err and "referenced in multiple repositories" in err
    rc, out, _ = tke("rmi", "mine:1")
    assert rc == 0 and out == "Untagged: mine:1\n"
    images.hold(store, image_id, "c0ffee" * 10)
    rc, _, err = tke("rmi", f"{host}/multi")  # its last name, and a container uses it
    assert rc == 1 and "(must force) - container c0ffeec0ffee is using its referenced" in err
    rc, out, _ = tke("rmi", "-f", f"{host}/multi")  # docker: untagged, kept for the container
    assert rc == 0 and out == f"Untagged: {host}/multi:latest\n"
    rc, _, err = tke("rmi", "-f", image_id[7:19])
    assert rc == 1 and "being used by container c0ffeec0ffee" in err
    rc, out, _ = tke("system", "df")
    assert out.splitlines()[1].split()[:3] == ["Images", "1", "1"]
    images.release(store, image_id, "c0ffee" * 10)
    rc, out, _ = tke("rmi", image_id[7:19])
    assert rc == 0
    assert out.splitlines()[-1] == f"Deleted: {image_id}"
    assert os.listdir(store.layers_dir) == [] and os.listdir(store.blobs_dir) == []
    # prune: an untagged (dangling) image goes, a tagged one stays
    tke("pull", f"{host}/busybox")
    tke("pull", f"{host}/multi")
    with store.transaction() as db:
        del db["tags"][f"{host}/multi:latest"]
        db["digests"].clear()
    rc, out, _ = tke("images", "-f", "dangling=true", "-q")
    assert out.strip() == image_id[7:19]
    rc, out, _ = tke("image", "prune", "-f")
    assert rc == 0 and f"deleted: {image_id}" in out and "Total reclaimed space:" in out
    assert tke("images", "-q")[1].count("\n") == 1
    assert store.check() == []


def test_commit_api_and_history(registry, tke, tke_root, tmp_path):
    tke("pull", f"{registry.host}/busybox")
    store = Store(str(tke_root))
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "added").write_text("new file\n")
    os.mknod(upper / "etc" / "passwd", 0o20600, os.makedev(0, 0))
    stream = io.BytesIO()
    write_layer(str(upper), stream, mtime=0)
    stream.seek(0)
    record = commit.commit(
        store,
        stream,
        parent=f"{registry.host}/busybox",
        changes={"Cmd": ["cat", "/etc/added"]},
        created_by="tke commit test",
        comment="a commit",
        tag="committed:v1",
    )
    info = images.resolve(store, "committed:v1")
    assert info.id == record["id"]
    assert len(info.layer_dirs) == 2
    assert info.layer_dirs[0] == images.resolve(store, f"{registry.host}/busybox").layer_dirs[0]
    assert open(os.path.join(info.layer_dirs[1], "etc", "added")).read() == "new file\n"
    assert os.major(os.lstat(os.path.join(info.layer_dirs[1], "etc", "passwd")).st_rdev) == 0
    assert info.config["config"]["Cmd"] == ["cat", "/etc/added"]
    assert info.config["config"]["Env"] == ["PATH=/bin"]
    rc, out, _ = tke("history", "committed:v1")
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["IMAGE", "CREATED"]
    assert lines[1].startswith(info.id[7:19]) and "tke commit test" in lines[1]
    assert "a commit" in lines[1]
    assert lines[2].startswith("<missing>")
    rc, out, _ = tke(
        "image", "inspect", "-f", "{{.Config.Cmd}} {{len .RootFS.Layers}}", "committed:v1"
    )
    assert out == "[cat /etc/added] 2\n"
    rc, out, _ = tke("inspect", "--format", "{{json .RepoTags}}", "committed:v1")
    assert out == '["committed:v1"]\n'
    # a broken tar stream leaves nothing behind
    before = sorted(os.listdir(store.layers_dir))
    with pytest.raises(LayerError):
        commit.commit(store, io.BytesIO(TarBuilder().file("../x", b"1").bytes()), tag="bad:1")
    assert sorted(os.listdir(store.layers_dir)) == before
    assert "docker.io/library/bad:1" not in store.load()["tags"]
    assert store.check() == []


def test_images_output_formats(registry, tke):
    tke("pull", f"{registry.host}/busybox")
    rc, out, _ = tke("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert out == f"{registry.host}/busybox:latest\n"
    rc, out, _ = tke("images", "--format", "table {{.Repository}}\\t{{.Tag}}")
    assert out.splitlines()[0].split() == ["REPOSITORY", "TAG"]
    rc, out, _ = tke("images", "--digests")
    header = out.splitlines()[0].split()
    assert header[:3] == ["REPOSITORY", "TAG", "DIGEST"]
    assert out.splitlines()[1].split()[2].startswith("sha256:")
    rc, out, err = tke("images", "-f", "bogus=1")
    assert rc == 1 and "invalid filter 'bogus'" in err


def test_commit_dir_from_upper(registry, tke, tke_root, tmp_path):
    tke("pull", f"{registry.host}/busybox")
    store = Store(str(tke_root))
    upper = tmp_path / "upper"
    (upper / "srv").mkdir(parents=True)
    (upper / "srv" / "big").write_bytes(os.urandom(3 << 20))
    record = commit.commit_dir(
        store,
        str(upper),
        parent=f"{registry.host}/busybox",
        changes=commit.parse_changes(["WORKDIR /srv", "ENV X=1"]),
        tag="fromdir:1",
    )
    info = images.resolve(store, "fromdir:1")
    assert info.id == record["id"]
    assert (
        open(os.path.join(info.layer_dirs[-1], "srv", "big"), "rb").read()
        == (upper / "srv" / "big").read_bytes()
    )
    assert info.config["config"]["WorkingDir"] == "/srv"
    assert "X=1" in info.config["config"]["Env"]
    assert store.check() == []
