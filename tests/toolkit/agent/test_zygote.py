"""Preloading: a module's PRELOAD names are imported by a zygote the agent forks when the
controller hints at them, and every run of such a module is a child of that zygote (a real
agent subprocess, a real module directory, real tk plays in local mode)."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from toolkit.transport.local import LocalConnection

HEAVY = """
    import sys
    ARGUMENT_SPEC = {"exit": {"type": "int"}, "sleep": {"type": "float"},
                     "kill": {"type": "bool", "default": False}}
    PRELOAD = ["tkt_heavy_dep"]
    def main(module):
        import os, signal, time
        inherited = "tkt_heavy_dep" in sys.modules
        import tkt_heavy_dep
        if module.params["exit"] is not None:
            os._exit(module.params["exit"])
        if module.params["kill"]:
            os.kill(os.getpid(), signal.SIGKILL)
        if module.params["sleep"]:
            time.sleep(module.params["sleep"])
        return {"inherited": inherited, "pid": os.getpid(), "ppid": os.getppid(),
                "imported_in": tkt_heavy_dep.IMPORTED_IN}
"""
PLAIN = """
    import os
    ARGUMENT_SPEC = {}
    def main(module):
        return {"pid": os.getpid(), "ppid": os.getppid()}
"""
DEP = "import os, time\ntime.sleep(0.3)\nIMPORTED_IN = os.getpid()\n"


@pytest.fixture
def library(tmp_path, monkeypatch):
    lib = tmp_path / "library"
    lib.mkdir()
    (lib / "tkt_heavy.py").write_text(textwrap.dedent(HEAVY))
    (lib / "tkt_plain.py").write_text(textwrap.dedent(PLAIN))
    deps = tmp_path / "deps"
    deps.mkdir()
    (deps / "tkt_heavy_dep.py").write_text(DEP)
    monkeypatch.setenv("PYTHONPATH", str(deps))
    return lib


@pytest.fixture
def conn(library):
    with LocalConnection(python=sys.executable, module_dirs=(str(library),)) as connection:
        yield connection


def hinted(conn):
    """Run the plain module with the hint a play whose later task is tkt_heavy sends."""
    return conn.run_module("tkt_plain", {}, preload=["tkt_heavy_dep"])


def test_hinted_runs_are_children_of_one_zygote_that_imported_ahead(conn):
    agent = hinted(conn)["ppid"]
    runs = [conn.run_module("tkt_heavy", {}) for _ in range(3)]
    assert all(r["inherited"] for r in runs), runs
    zygote = runs[0]["ppid"]
    assert zygote != agent and all(r["ppid"] == zygote for r in runs)
    assert runs[0]["imported_in"] == zygote  # imported once, in the zygote
    assert len({r["pid"] for r in runs}) == 3  # a fresh child per run
    assert hinted(conn)["ppid"] == agent  # the hint again: the same zygote serves
    assert conn.run_module("tkt_heavy", {})["ppid"] == zygote


def test_without_a_hint_the_module_imports_in_its_own_child(conn):
    first = conn.run_module("tkt_heavy", {})
    assert first["failed"] is False and first["inherited"] is False
    assert first["imported_in"] == first["pid"]


def test_a_crashing_or_killed_run_fails_alone_and_the_zygote_serves_on(conn):
    hinted(conn)
    zygote = conn.run_module("tkt_heavy", {})["ppid"]
    crashed = conn.run_module("tkt_heavy", {"exit": 3})
    assert crashed["failed"] is True
    assert crashed["msg"] == "module tkt_heavy died: exited with code 3 without a result"
    assert crashed["rc"] == 3
    killed = conn.run_module("tkt_heavy", {"kill": True})
    assert killed["failed"] is True and "killed by signal 9 (SIGKILL)" in killed["msg"]
    after = conn.run_module("tkt_heavy", {})
    assert after["failed"] is False and after["inherited"] and after["ppid"] == zygote


def test_a_timed_out_run_is_killed_and_the_zygote_serves_on(conn):
    hinted(conn)
    zygote = conn.run_module("tkt_heavy", {})["ppid"]
    slow = conn.run_module("tkt_heavy", {"sleep": 30}, timeout=0.5)
    assert slow["failed"] is True and slow["timeout"] is True
    after = conn.run_module("tkt_heavy", {})
    assert after["failed"] is False and after["ppid"] == zygote


def test_a_killed_zygote_is_replaced(conn):
    hinted(conn)
    zygote = conn.run_module("tkt_heavy", {})["ppid"]
    os.kill(zygote, signal.SIGKILL)
    fallback = conn.run_module("tkt_heavy", {})  # runs in a plain child meanwhile
    assert fallback["failed"] is False and fallback["ppid"] != zygote
    hinted(conn)
    again = conn.run_module("tkt_heavy", {})
    assert again["inherited"] and again["ppid"] not in (zygote, fallback["ppid"])


def test_closing_the_agent_ends_the_zygote(library):
    with LocalConnection(python=sys.executable, module_dirs=(str(library),)) as connection:
        hinted(connection)
        zygote = connection.run_module("tkt_heavy", {})["ppid"]
    assert not Path(f"/proc/{zygote}").exists() or _state(zygote) == "Z"


def _state(pid: int) -> str:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text.rsplit(")", 1)[1].split()[0]


PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - tkt_plain:
    - tkt_heavy:
      register: heavy
    - tkt_heavy:
      register: again
    - debug:
        msg: "RESULT {{ heavy.inherited }} {{ again.inherited }} {{ heavy.ppid == again.ppid }}"
"""


def test_a_play_hints_at_later_tasks_preloads(library, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY)
    env = dict(os.environ, TK_LIBRARY=str(library))
    tk = [sys.executable, "-m", "toolkit", "play", str(playbook)]
    proc = subprocess.run(tk, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"msg": "RESULT True True True"' in proc.stdout, proc.stdout


def test_a_zygote_whose_preloaded_files_changed_steps_aside(conn, library):
    """A play that upgrades the preloaded package (dnf upgrading dnf): later runs must not
    mix the zygote's old imports with the new files."""
    hinted(conn)
    zygote = conn.run_module("tkt_heavy", {})["ppid"]
    dep = library.parent / "deps" / "tkt_heavy_dep.py"
    dep.write_text(DEP + "UPGRADED = True\n")
    after = conn.run_module("tkt_heavy", {})
    assert after["failed"] is False and after["ppid"] != zygote and not after["inherited"]
    hinted(conn)  # the next hint makes a new zygote, with the new files imported
    fresh = conn.run_module("tkt_heavy", {})
    assert fresh["inherited"] and fresh["ppid"] not in (zygote, after["ppid"])
