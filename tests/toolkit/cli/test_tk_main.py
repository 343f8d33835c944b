"""`tk` as a program: exit codes and output when it ends with os._exit, output piped into a
reader that stops early (as `tk play ... | head` does)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TK = Path(sys.executable).parent / "tk"
PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
{tasks}
"""


def playbook(tmp_path: Path, tasks: str) -> Path:
    path = tmp_path / "play.yml"
    path.write_text(PLAY.format(tasks=tasks))
    return path


def test_exit_code_and_whole_recap_reach_a_pipe(tmp_path):
    tasks = "".join(f"    - debug: msg=line{i}\n" for i in range(50)) + "    - fail: msg=boom\n"
    proc = subprocess.run([TK, "play", playbook(tmp_path, tasks)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "line49" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].startswith("localhost")
    assert "failed=1" in proc.stdout


def test_reader_that_stops_early_is_not_a_bug(tmp_path):
    tasks = "".join(f"    - debug: msg={'x' * 200}{i}\n" for i in range(400))
    proc = subprocess.Popen([TK, "play", playbook(tmp_path, tasks)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    first = proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert first.strip() == b"" or b"PLAY" in first
    assert "Unexpected Exception" not in err and "Traceback" not in err


def keeper_env(tmp_path: Path) -> dict:
    return dict(os.environ, TK_KEEPER_DIR=str(tmp_path / "keeper"), TK_SSH_PERSIST="30")


def test_run_against_an_inventory_starts_the_keeper_early(tmp_path):
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("localhost ansible_connection=local\n")
    env = keeper_env(tmp_path)
    book = playbook(tmp_path, "    - debug: msg=hi\n")
    proc = subprocess.run([TK, "play", "-i", inventory, book], env=env, capture_output=True)
    try:
        assert proc.returncode == 0
        status = subprocess.run([TK, "keeper", "status"], env=env, capture_output=True, text=True)
        assert status.returncode == 0 and "no keeper running" not in status.stdout
        assert list((tmp_path / "keeper").glob("keeper-*.sock"))
    finally:
        subprocess.run([TK, "keeper", "stop"], env=env, capture_output=True)


def test_connection_local_starts_no_keeper(tmp_path):
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("localhost\n")
    env = keeper_env(tmp_path)
    book = playbook(tmp_path, "    - debug: msg=hi\n")
    for flags in (["-c", "local"], ["--connection=local"]):
        proc = subprocess.run([TK, "play", "-i", inventory, *flags, book], env=env,
                              capture_output=True)  # fmt: skip
        assert proc.returncode == 0
    assert not list((tmp_path / "keeper").glob("keeper-*.sock"))
