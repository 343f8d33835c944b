"""`tk` as a program: exit codes and output when it ends with os._exit, output piped into a
reader that stops early (as `tk play ... | head` does)."""

from __future__ import annotations

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
