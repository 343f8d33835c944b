"""The `tke` launcher (toolkit/engine/launcher.py): what it writes, that the written command
runs containers and returns their status, and that the caller's Python environment (site,
PYTHONPATH) does not reach it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.engine.ctrhelpers import ctr_runc_fixture  # noqa: F401
from toolkit.engine import launcher


def test_launcher_text_names_this_interpreter_and_import_dirs(tmp_path):
    path = tmp_path / "tke"
    launcher.write(str(path))
    text = path.read_text()
    assert text.startswith(f"#!{os.path.abspath(sys.executable)} -IS\n")
    assert os.stat(path).st_mode & 0o777 == 0o755
    assert os.listdir(tmp_path) == ["tke"]  # no temporary file left
    assert repr(launcher.package_root()) in text
    pyroute2 = importlib.util.find_spec("pyroute2")
    if pyroute2 is not None:  # the bridge network imports it from site-packages
        where = os.path.dirname(os.path.dirname(pyroute2.origin))
        assert where == launcher.package_root() or repr(where) in text


def test_launcher_replaces_an_existing_command(tmp_path):
    path = tmp_path / "tke"
    path.write_text("#!/bin/sh\necho old\n")
    assert launcher.main([str(path)]) == 0
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True)
    assert (out.returncode, out.stdout) == (0, "tke version 0.1.0\n")


def test_launcher_command_line_errors(tmp_path, capsys):
    assert launcher.main([]) == 2
    assert "usage: python -m toolkit.engine.launcher PATH" in capsys.readouterr().err
    missing = tmp_path / "no" / "such" / "dir" / "tke"
    assert launcher.main([str(missing)]) == 1
    assert f"cannot write {missing}" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


@pytest.fixture
def written(tmp_path):
    path = tmp_path / "bin" / "tke"
    path.parent.mkdir()
    launcher.write(str(path))
    return str(path)


def test_written_command_runs_a_container_and_returns_its_status(ctr_runc, written, tmp_path):
    ctr = ctr_runc
    # a PYTHONPATH that shadows the engine and the stdlib: the launcher (-I) never sees it
    trap = tmp_path / "trap"
    (trap / "toolkit").mkdir(parents=True)
    for name in ("toolkit/__init__", "__future__", "argparse", "json", "platform"):
        (trap / f"{name}.py").write_text("raise SystemExit('imported from PYTHONPATH')\n")
    env = dict(ctr.env, PYTHONPATH=str(trap))

    def tke(*argv):
        return subprocess.run(
            [written, *argv], capture_output=True, text=True, env=env, timeout=60,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip

    r = tke("run", "--rm", "--network", "none", ctr.image, "echo", "hi")
    assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr
    r = tke("run", "--rm", "--network", "none", ctr.image, "sh", "-c", "echo err >&2; exit 3")
    assert (r.returncode, r.stderr) == (3, "err\n")
    r = tke("run", "--rm", "--network", "none", ctr.image, "/no/such/program")
    assert r.returncode == 127 and "Traceback" not in r.stderr
    assert ctr.ids() == []
