"""`tke save` archives load in a real Docker daemon, and `docker save` archives load in tke.

A private dockerd (20.10, Debian's docker.io) runs for this module with its own data root,
exec root and socket under a temporary directory; it never touches a system daemon or
/var/run/docker.sock and leaves host networking alone (no bridge, no iptables).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from tests.engine.imagebuilder import busybox_layers, skopeo_copy, write_oci_layout

pytestmark = pytest.mark.engine

CMD = ["/bin/sh", "-c", "cat /etc/motd"]
ENV = ["PATH=/bin", "TKT_INTEROP=yes"]


class Dockerd:
    """One private dockerd: start, talk to it with the docker client, stop by PID."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.sock = os.path.join(root, "docker.sock")
        self.client = shutil.which("docker", path="/usr/bin") or shutil.which("docker")
        self.proc: subprocess.Popen | None = None

    def start(self) -> Dockerd:
        argv = [
            "dockerd",
            "--iptables=false",
            "--ip-forward=false",
            "--bridge=none",
            "--data-root", os.path.join(self.root, "data"),
            "--exec-root", os.path.join(self.root, "exec"),
            "--pidfile", os.path.join(self.root, "pid"),
            "-H", "unix://" + self.sock,
        ]  # fmt: skip
        self.log = open(os.path.join(self.root, "dockerd.log"), "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited with {self.proc.returncode}: {self._tail()}")
            if os.path.exists(self.sock) and self.run("version", check=False).returncode == 0:
                return self
            time.sleep(0.3)
        raise RuntimeError(f"dockerd did not answer within 60 s: {self._tail()}")

    def _tail(self) -> str:
        with open(os.path.join(self.root, "dockerd.log"), "rb") as fh:
            return fh.read()[-1500:].decode(errors="replace")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [self.client, "-H", "unix://" + self.sock, *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check:
            assert proc.returncode == 0, f"docker {' '.join(args)}: {proc.stderr}"
        return proc

    def inspect(self, name: str) -> dict:
        return json.loads(self.run("image", "inspect", name).stdout)[0]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc is not None:
            self.log.close()
        self._umount_leftovers()
        shutil.rmtree(self.root, ignore_errors=True)

    def _umount_leftovers(self) -> None:
        with open("/proc/self/mounts") as fh:
            points = [line.split()[1] for line in fh]
        mine = [p for p in points if p == self.root or p.startswith(self.root + "/")]
        for point in sorted(mine, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)


@pytest.fixture(scope="module")
def dockerd():
    if (
        shutil.which("dockerd") is None
        or shutil.which("docker", path="/usr/bin:/usr/local/bin") is None
    ):
        pytest.skip("dockerd/docker not installed (Debian package docker.io)")
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root")
    daemon = Dockerd(tempfile.mkdtemp(prefix="tkt-dockerd-"))
    try:
        daemon.start()
    except (RuntimeError, OSError) as exc:
        daemon.stop()
        pytest.skip(f"dockerd cannot start here: {exc}")
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def interop_image(registry, engine_workdir):
    """A three-layer image (whiteout, opaque dir, hardlink) with its own Cmd/Env, pushed."""
    layout = os.path.join(engine_workdir, "layout-docker-interop")
    if not os.path.exists(layout):
        write_oci_layout(layout, busybox_layers(multi=True), config={"Cmd": CMD, "Env": ENV})
    ref = f"{registry.host}/tkt-interop/multi:v1"
    skopeo_copy(f"oci:{layout}:latest", f"docker://{ref}", registry.creds)
    return ref


def tke_inspect(tke, name: str) -> dict:
    rc, out, err = tke("image", "inspect", name)
    assert rc == 0, err
    return json.loads(out)[0]


def assert_same_image(tke_doc: dict, docker_doc: dict) -> None:
    assert docker_doc["Id"] == tke_doc["Id"]
    assert docker_doc["RootFS"]["Layers"] == tke_doc["RootFS"]["Layers"]
    assert docker_doc["Config"]["Cmd"] == tke_doc["Config"]["Cmd"]
    assert docker_doc["Config"]["Env"] == tke_doc["Config"]["Env"]


def docker_run(dockerd: Dockerd, image: str, *argv: str) -> str:
    proc = dockerd.run("run", "--rm", "--network", "none", image, *argv)
    return proc.stdout


def test_tke_save_loads_in_docker_and_back(dockerd, interop_image, tke, tmp_path):
    assert tke("pull", interop_image)[0] == 0
    ours = tke_inspect(tke, interop_image)
    assert len(ours["RootFS"]["Layers"]) == 3 and ours["Config"]["Cmd"] == CMD
    archive = tmp_path / "tke-save.tar"
    rc, _, err = tke("save", "-o", str(archive), interop_image)
    assert rc == 0, err

    out = dockerd.run("load", "-i", str(archive)).stdout
    assert f"Loaded image: {interop_image}" in out
    assert_same_image(ours, dockerd.inspect(interop_image))
    # docker's own runtime sees the merged layers: whiteout, opaque dir, hardlink
    shown = docker_run(dockerd, interop_image, "sh", "-c", "cat /etc/motd; ls /data /etc")
    assert "hello from layer 2" in shown and "removed" not in shown
    assert docker_run(dockerd, interop_image, "ls", "/data").split() == ["c"]
    assert docker_run(dockerd, interop_image).strip() == "hello from layer 2"

    # back: docker save -> tke load (into an empty store)
    back = tmp_path / "docker-save.tar"
    dockerd.run("save", "-o", str(back), interop_image)
    assert tke("rmi", interop_image)[0] == 0
    rc, out, err = tke("load", "-i", str(back))
    assert rc == 0, err
    assert f"Loaded image: {interop_image}" in out
    assert_same_image(tke_inspect(tke, interop_image), dockerd.inspect(interop_image))


def test_docker_committed_image_loads_in_tke(dockerd, interop_image, tke, tmp_path):
    """A layer docker made itself (overlay2 diff with a deletion) survives docker save -> tke."""
    assert tke("pull", interop_image)[0] == 0
    archive = tmp_path / "tke-save.tar"
    assert tke("save", "-o", str(archive), interop_image)[0] == 0
    dockerd.run("load", "-i", str(archive))
    name = "tkt-interop-commit"
    dockerd.run("rm", "-f", name, check=False)
    dockerd.run(
        "run", "--name", name, "--network", "none", interop_image,
        "sh", "-c", "rm /etc/motd && echo made-by-docker > /data/d",
    )  # fmt: skip
    committed = "tkt-interop/committed:v2"
    dockerd.run(
        "commit", "--change", 'CMD ["ls", "/data"]', "--change", "ENV DOCKER=1", name, committed
    )
    dockerd.run("rm", name)
    theirs = dockerd.inspect(committed)
    assert len(theirs["RootFS"]["Layers"]) == 4

    back = tmp_path / "docker-committed.tar"
    dockerd.run("save", "-o", str(back), committed)
    rc, out, err = tke("load", "-i", str(back))
    assert rc == 0, err
    assert "Loaded image: tkt-interop/committed:v2" in out
    ours = tke_inspect(tke, committed)
    assert_same_image(ours, theirs)
    assert ours["Config"]["Cmd"] == ["ls", "/data"] and "DOCKER=1" in ours["Config"]["Env"]


def test_tke_oci_archive_in_docker(dockerd, interop_image, tke, tmp_path):
    """The OCI archive carries docker's manifest.json too: docker 20.10 (no OCI reader) loads it."""
    assert tke("pull", interop_image)[0] == 0
    ours = tke_inspect(tke, interop_image)
    archive = tmp_path / "tke-oci.tar"
    rc, _, err = tke("save", "--format", "oci-archive", "-o", str(archive), interop_image)
    assert rc == 0, err
    dockerd.run("rmi", "-f", interop_image, check=False)
    out = dockerd.run("load", "-i", str(archive)).stdout
    assert f"Loaded image: {interop_image}" in out
    assert_same_image(ours, dockerd.inspect(interop_image))
    assert docker_run(dockerd, interop_image, "ls", "/data").split() == ["c"]
    # tke reads it back as an OCI layout (index.json wins): the manifest digest survives
    assert tke("rmi", interop_image)[0] == 0
    rc, out, err = tke("load", "-i", str(archive))
    assert rc == 0, err
    again = tke_inspect(tke, interop_image)
    assert again["Descriptor"] == ours["Descriptor"] and again["Id"] == ours["Id"]
