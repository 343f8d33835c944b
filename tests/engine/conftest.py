"""Engine fixtures, reusable by the image and container tests.

- `registry`, `htpasswd_registry`, `token_registry`: real docker-registry processes on
  127.0.0.1 (session scope), already seeded by skopeo with `busybox:latest` (one layer) and
  `multi:latest` (three layers with whiteouts, opaque dir, hardlink).
- `fresh_registry`: an empty plain registry for one test (may be killed/restarted).
- `tke_root`: an empty store directory; `tke`: run the CLI in-process against it:
  `rc, out, err = tke("pull", f"{registry.host}/busybox")`.
- `docker_config`: a private DOCKER_CONFIG dir (login credentials) for the test.
- `busybox_layout`, `multi_layout`: OCI layouts on disk (session scope).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile

import pytest

from tests.engine.imagebuilder import busybox_layers, skopeo_copy, write_oci_layout
from tests.engine.regserver import RegistryServer

NEEDS = ("docker-registry", "skopeo")


def _require_tools() -> None:
    missing = [tool for tool in NEEDS if shutil.which(tool) is None]
    if missing:
        pytest.skip("missing tools: " + ", ".join(missing))


@pytest.fixture(scope="session")
def engine_workdir():
    path = tempfile.mkdtemp(prefix="tkt-img-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def busybox_layout(engine_workdir):
    path = os.path.join(engine_workdir, "layout-busybox")
    write_oci_layout(path, busybox_layers(), tag="latest")
    return path


@pytest.fixture(scope="session")
def multi_layout(engine_workdir):
    path = os.path.join(engine_workdir, "layout-multi")
    write_oci_layout(path, busybox_layers(multi=True), tag="latest")
    return path


def seed(reg: RegistryServer, busybox_layout: str, multi_layout: str) -> None:
    skopeo_copy(f"oci:{busybox_layout}:latest", f"docker://{reg.host}/busybox:latest", reg.creds)
    skopeo_copy(f"oci:{multi_layout}:latest", f"docker://{reg.host}/multi:latest", reg.creds)


def _server(engine_workdir, name, auth, busybox_layout, multi_layout):
    _require_tools()
    workdir = os.path.join(engine_workdir, name)
    os.makedirs(workdir)
    reg = RegistryServer(workdir, auth).start()
    try:
        seed(reg, busybox_layout, multi_layout)
    except BaseException:
        reg.stop()
        raise
    return reg


@pytest.fixture(scope="session")
def registry(engine_workdir, busybox_layout, multi_layout):
    reg = _server(engine_workdir, "reg-plain", "plain", busybox_layout, multi_layout)
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def htpasswd_registry(engine_workdir, busybox_layout, multi_layout):
    reg = _server(engine_workdir, "reg-htpasswd", "htpasswd", busybox_layout, multi_layout)
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def token_registry(engine_workdir, busybox_layout, multi_layout):
    reg = _server(engine_workdir, "reg-token", "token", busybox_layout, multi_layout)
    yield reg
    reg.stop()


@pytest.fixture
def fresh_registry(tmp_path):
    _require_tools()
    workdir = tmp_path / "registry"
    workdir.mkdir()
    reg = RegistryServer(str(workdir), "plain").start()
    yield reg
    reg.stop()


@pytest.fixture
def docker_config(tmp_path, monkeypatch):
    path = tmp_path / "docker-config"
    monkeypatch.setenv("DOCKER_CONFIG", str(path))
    return path


@pytest.fixture
def tke_root(tmp_path, monkeypatch, docker_config):
    root = tmp_path / "tke-root"
    root.mkdir()
    monkeypatch.setenv("TKE_ROOT", str(root))
    return root


@pytest.fixture
def tke(tke_root):
    """Run `tke ARGS...` in-process; returns (exit code, stdout, stderr)."""
    from toolkit.engine.cli import main

    def run(*argv: str, stdin: str = ""):
        out, err = io.StringIO(), io.StringIO()
        old_stdin = os.sys.stdin
        os.sys.stdin = io.StringIO(stdin)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = main(["--root", str(tke_root), *argv])
        finally:
            os.sys.stdin = old_stdin
        return rc, out.getvalue(), err.getvalue()

    return run
