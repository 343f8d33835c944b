"""The container modules over SSH on a lab host without tk: the controller ships the engine.

The host's Python cannot `import toolkit` and has no `tke`; `tk play` (run from a snapshot of
this checkout, so the engine's digest cannot change under the test) loads busybox from an
archive copied to the host, makes a volume and runs a container. The engine is installed by
the first container task and by no other task or run; the container is read back with the
shipped `tke` over SSH; the second run changes nothing. A broken install (no INSTALLED) and an
interrupted one (a .tmp-* directory) are replaced, not used. A host whose Python is 3.6 gets
the "needs Python 3.9" message. Containers never touch a network (TKE_BRIDGE=none and
network_mode none); the store is the lab host's /var/lib/tke (a tmpfs); teardown removes the
containers with the shipped tke and checks that no cgroup of theirs is left.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from tests.engine.imagebuilder import busybox_layers, write_oci_layout
from toolkit.engine import cgroups

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

REPO = Path(__file__).resolve().parents[3]
PY36 = "/root/.pyenv/versions/3.6.15"  # hidden by the lab host's own /root: bound in by SETUP
SETUP = f"""\
if [ -x {PY36}/bin/python3.6 ]; then mkdir -p "$1{PY36}" && mount --bind {PY36} "$1{PY36}"; fi
"""
BASE = "/usr/local/lib/tke"
HOST_ENV = "TKE_ROOT=/var/lib/tke TKE_BRIDGE=none"
IMAGE = "tkship/busybox:1"

PLAY = f"""\
- hosts: ship
  gather_facts: false
  environment: {{TKE_ROOT: /var/lib/tke, TKE_BRIDGE: none}}
  tasks:
    - name: archive
      copy: {{src: busybox.tar, dest: /root/busybox.tar}}
    - name: image
      container_image:
        name: tkship/busybox
        tag: "1"
        source: load
        load_path: /root/busybox.tar
    - name: volume
      community.docker.docker_volume: {{name: shipdata, labels: {{app: ship}}}}
      async: 120
      poll: 1
    - name: web
      container:
        name: shipweb
        image: {IMAGE}
        command: sleep 300
        network_mode: none
        volumes: ["shipdata:/data"]
        env: {{MODE: shipped}}
"""

# the plays below run on the lab host "ship", with a store of its own and no bridge
SHIP_HEAD = """\
- hosts: ship
  gather_facts: false
  environment: {TKE_ROOT: /var/lib/tke, TKE_BRIDGE: none}
  tasks:
"""

JOB_PLAY = (
    SHIP_HEAD
    + """\
    - name: job
      container_volume: {name: jobvol}
      async: 60
      poll: 0
      register: job
    - name: wait
      async_status: {jid: "{{ job.ansible_job_id }}"}
      register: done
      until: done.finished
      retries: 30
      delay: 1
"""
)

PATH_PLAY = (
    SHIP_HEAD
    + """\
    - name: named
      container_image: {name: tkship/busybox, tag: "1", source: local, tke_path: /opt/no/tke}
"""
)

NOWHERE_PLAY = """\
- hosts: ship
  gather_facts: false
  vars: {tke_engine_dir: /proc/tk-nowhere}
  environment: {TKE_ROOT: /var/lib/tke, TKE_BRIDGE: none}
  tasks:
    - name: nowhere
      container_volume: {name: never}
"""

OLD_PLAY = """\
- hosts: old
  gather_facts: false
  tasks:
    - name: image
      container_image: {name: tkship/busybox, tag: "1", source: local}
"""


@dataclass
class Site:
    """A lab host, a workdir with the playbooks, the snapshot `tk` runs from, the engine dir."""

    host: str
    ssh_config: str
    workdir: Path
    pythonpath: str
    engine: str  # BASE/VERSION-DIGEST16 of the snapshot's engine

    def ssh(self, command: str, check: bool = True) -> subprocess.CompletedProcess:
        argv = ["ssh", "-F", self.ssh_config, "-o", "BatchMode=yes", self.host, command]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"{command}: {proc.returncode} {proc.stdout}{proc.stderr}")
        return proc

    def tke(self, *argv: str) -> str:
        return self.ssh(" ".join([HOST_ENV, f"{self.engine}/bin/tke", *argv])).stdout

    def play(self, book: str) -> dict:
        """`tk play --json`; the parsed document, with `rc`."""
        argv = [sys.executable, "-m", "toolkit", "play", "--json", "-i", "hosts.ini", book]
        env = dict(os.environ, PYTHONPATH=self.pythonpath)
        proc = subprocess.run(
            argv, cwd=self.workdir, env=env, capture_output=True, text=True, timeout=300
        )
        doc = json.loads(proc.stdout)
        doc["rc"], doc["stderr"] = proc.returncode, proc.stderr
        return Doc(doc)


class Doc(dict):
    """A --json document whose repr (in assertion messages) shows the failed results."""

    def __repr__(self) -> str:
        failed = [
            (t["task"]["name"], r.get("msg"))
            for p in self["plays"] for t in p["tasks"] for r in t["hosts"].values()
            if r.get("failed") or r.get("unreachable")
        ]  # fmt: skip
        return f"rc={self['rc']} failed={failed} stderr={self['stderr'][-2000:]}"


def results(doc: dict, host: str) -> Dict[str, dict]:
    """{task name: result} of one host."""
    return {t["task"]["name"]: t["hosts"][host] for p in doc["plays"] for t in p["tasks"]}


def snapshot(dest: Path) -> str:
    """A copy of toolkit/ and modules/ (the other engineers' edits cannot reach the test)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("toolkit", "modules"):
        shutil.copytree(REPO / name, dest / name, ignore=ignore)
    return str(dest)


def engine_dir(pythonpath: str) -> str:
    code = "from toolkit.enginebundle import engine_bundle as b; print(b().version, b().digest)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=pythonpath),
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return f"{BASE}/{out[0]}-{out[1][:16]}"


def busybox_archive(workdir: Path) -> None:
    """workdir/busybox.tar: a docker-archive of busybox as tkship/busybox:1 (made by tke
    in-process in a scratch store: nothing is pulled)."""
    from toolkit.engine.cli import main

    scratch = workdir / "scratch"
    write_oci_layout(str(scratch / "layout"), busybox_layers(), tag="latest")
    root = ["--root", str(scratch / "store")]
    assert main([*root, "load", "-q", "-i", str(scratch / "layout")]) == 0
    assert main([*root, "tag", image_id(scratch / "store"), IMAGE]) == 0
    assert main([*root, "save", "-o", str(workdir / "busybox.tar"), IMAGE]) == 0
    shutil.rmtree(scratch / "store", ignore_errors=True)


def image_id(store: Path) -> str:
    with open(store / "db.json") as fh:
        return next(iter(json.load(fh)["images"]))


def inventory(lab, host: str) -> str:
    info = lab.host_vars(host)
    common = "\n".join(f"{k}='{v}'" for k, v in info.items() if k != "ansible_host")
    address = info["ansible_host"]
    return (
        f"[ship]\n{host} ansible_host={address}\n\n"
        f"[old]\n{host}-py36 ansible_host={address} "
        f"ansible_python_interpreter={PY36}/bin/python3.6\n\n"
        f"[all:vars]\n{common}\n"
    )


def remove_containers(site: Site) -> List[str]:
    """Remove every container with the shipped tke; return the cgroups that are left."""
    if site.ssh(f"test -x {site.engine}/bin/tke", check=False).returncode != 0:
        return []
    ids = site.tke("ps", "-aq", "--no-trunc").split()
    if ids:
        site.tke("rm", "-f", *ids)
    left = [path for cid in ids for path in cgroups.leftover(cid)]
    for path in sorted(left, key=len, reverse=True):
        try:
            os.rmdir(path)
        except OSError:
            pass
    return left


@pytest.fixture(scope="module")
def site(lab_hosts, tmp_path_factory) -> Iterator[Site]:
    host = f"t{os.getpid()}k-1"
    lab = lab_hosts(1, name="k", setup={host: SETUP})
    workdir = tmp_path_factory.mktemp("ship")
    pythonpath = snapshot(tmp_path_factory.mktemp("snapshot"))
    (workdir / "hosts.ini").write_text(inventory(lab, host))
    (workdir / "site.yml").write_text(PLAY)
    (workdir / "old.yml").write_text(OLD_PLAY)
    (workdir / "path.yml").write_text(PATH_PLAY)
    (workdir / "job.yml").write_text(JOB_PLAY)
    (workdir / "nowhere.yml").write_text(NOWHERE_PLAY)
    busybox_archive(workdir)
    site = Site(host, lab.ssh_config, workdir, pythonpath, engine_dir(pythonpath))
    try:
        yield site
    finally:
        left = remove_containers(site)
        assert not left, f"cgroups left: {left}"


def test_host_has_no_tk(site: Site) -> None:
    proc = site.ssh("cd / && python3 -c 'import toolkit'", check=False)
    assert proc.returncode != 0 and "No module named 'toolkit'" in proc.stderr
    assert site.ssh("command -v tke", check=False).returncode != 0


def test_engine_shipped_once_and_container_runs(site: Site) -> None:
    site.ssh(f"rm -rf {BASE}")
    first = site.play("site.yml")
    assert first["rc"] == 0, first
    got = results(first, site.host)
    assert got["image"]["tke_engine_installed"] == site.engine
    assert got["image"]["changed"] is True and got["image"]["image"]["RepoTags"] == [IMAGE]
    assert [n for n, r in got.items() if "tke_engine_installed" in r] == ["image"]
    assert got["volume"]["changed"] is True and got["web"]["changed"] is True
    assert got["volume"]["ansible_job_id"]  # async with poll: the action under a deadline
    installed = site.ssh(f"stat -c '%i %Y' {site.engine}/INSTALLED").stdout

    state = site.tke("inspect", "--type", "container", "-f",
                     "'{{.State.Running}} {{.HostConfig.NetworkMode}}'", "shipweb")  # fmt: skip
    assert state.split() == ["true", "none"]
    assert site.tke("exec", "shipweb", "sh", "-c", "'echo $MODE; ls -d /data'") == (
        "shipped\n/data\n"
    )
    assert site.tke("volume", "inspect", "-f", "'{{json .Labels}}'", "shipdata").strip() == (
        '{"app":"ship"}'
    )

    again = site.play("site.yml")
    assert again["rc"] == 0, again
    assert again["stats"][site.host]["changed"] == 0
    assert not [n for n, r in results(again, site.host).items() if "tke_engine_installed" in r]
    assert site.ssh(f"stat -c '%i %Y' {site.engine}/INSTALLED").stdout == installed
    assert site.ssh(f"ls -A {BASE}").stdout.split() == [".lock", os.path.basename(site.engine)]


def test_boot_unit_runs_the_shipped_engine(site: Site) -> None:
    """`tke system service --install` names the shipped launcher, which runs as systemd runs it
    (by its #! line, with no PYTHONPATH)."""
    assert site.play("site.yml")["rc"] == 0
    site.tke("system", "service", "--install", "--no-enable", "--unit-path", "/tmp/tke.service")
    unit = site.ssh("cat /tmp/tke.service && rm /tmp/tke.service").stdout
    assert f"ExecStart={site.engine}/bin/tke system service --watch\n" in unit
    boot = f"env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin {HOST_ENV} {site.engine}/bin/tke"
    assert site.ssh(f"{boot} system service").stdout == ""  # shipweb runs already


def test_broken_and_interrupted_installs_are_not_used(site: Site) -> None:
    assert site.play("site.yml")["rc"] == 0  # an engine and the container are there
    site.ssh(
        f"rm {site.engine}/INSTALLED && echo junk > {site.engine}/lib/toolkit/engine/cli.py"
        f" && mkdir -p {BASE}/.tmp-dead-1/lib && touch {BASE}/.tmp-dead-1/lib/half"
    )
    doc = site.play("site.yml")
    assert doc["rc"] == 0, doc
    got = results(doc, site.host)
    assert got["image"]["tke_engine_installed"] == site.engine
    assert doc["stats"][site.host]["changed"] == 0  # the store and its container were kept
    assert site.ssh(f"ls -A {BASE}").stdout.split() == [".lock", os.path.basename(site.engine)]
    assert "junk" not in site.ssh(f"cat {site.engine}/lib/toolkit/engine/cli.py").stdout
    assert site.tke("ps", "--format", "'{{.Names}}'").split() == ["shipweb"]


def test_fire_and_forget_job_uses_the_shipped_engine(site: Site) -> None:
    assert site.play("site.yml")["rc"] == 0  # the engine is there
    doc = site.play("job.yml")
    assert doc["rc"] == 0, doc
    assert results(doc, site.host)["wait"]["changed"] is True
    assert "jobvol" in site.tke("volume", "ls", "-q").split()


def test_tke_path_then_an_installed_tke_come_first(site: Site) -> None:
    """tke_path is used as given; a tke on the host's PATH is used before the shipped one."""
    named = site.play("path.yml")
    result = results(named, site.host)["named"]
    assert result["failed"] is True and result["msg"].startswith("/opt/no/tke: "), result
    assert "tke_engine_installed" not in result

    assert site.play("site.yml")["rc"] == 0  # the shipped engine is there
    wrapper = f'#!/bin/sh\necho "$*" >> /tmp/installed-tke.log\nexec {site.engine}/bin/tke "$@"\n'
    site.ssh(f"printf '%s' '{wrapper}' > /usr/local/bin/tke && chmod 755 /usr/local/bin/tke")
    try:
        doc = site.play("site.yml")
        assert doc["rc"] == 0 and doc["stats"][site.host]["changed"] == 0, doc
        used = site.ssh("cat /tmp/installed-tke.log").stdout.splitlines()
        assert "inspect --type container shipweb" in used and "volume inspect shipdata" in used
    finally:
        site.ssh("rm -f /usr/local/bin/tke /tmp/installed-tke.log")


def test_engine_dir_that_cannot_be_made_is_named(site: Site) -> None:
    result = results(site.play("nowhere.yml"), site.host)["nowhere"]
    assert result["failed"] is True
    assert result["msg"].startswith("cannot make /proc/tk-nowhere for the tke engine"), result


def test_python_36_host_is_told_what_it_needs(site: Site) -> None:
    if site.ssh(f"test -x {PY36}/bin/python3.6", check=False).returncode != 0:
        pytest.skip(f"no Python 3.6 at {PY36}")
    listing = site.ssh(f"ls -A {BASE} 2>/dev/null; true").stdout
    doc = site.play("old.yml")
    assert doc["rc"] == 2
    result = results(doc, f"{site.host}-py36")["image"]
    assert result["failed"] is True
    assert result["msg"].startswith("tke needs Python 3.9 or newer on the host"), result
    assert "Python 3.6" in result["msg"] and "ansible_python_interpreter" in result["msg"]
    assert "Traceback" not in json.dumps(doc) + doc["stderr"]
    assert site.ssh(f"ls -A {BASE} 2>/dev/null; true").stdout == listing  # nothing was sent
