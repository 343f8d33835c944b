"""`tk play` through the real CLI: listings and the errors that stop a run before any task
(exit code, one ERROR! line naming file:line, nothing run)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import List

TK = Path(sys.executable).parent / "tk"


def tk_play(tmp_path: Path, book: str, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "site.yml").write_text(textwrap.dedent(book))
    argv = [str(TK), "play", "-i", "localhost,", "-c", "local", "site.yml", *args]
    return subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)


BLOCKS = """\
- name: P
  hosts: localhost
  tags: [pb, pa]
  tasks:
    - block:
        - debug: msg=x
          tags: [t1]
        - name: inner
          debug: msg=y
      rescue:
        - name: res
          debug: msg=r
          tags: [rescue_tag]
      always:
        - name: alw
          debug: msg=a
    - name: hidden
      debug: msg=n
      tags: [never]
"""


def lines(proc: subprocess.CompletedProcess) -> List[str]:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_list_tasks_shows_only_main_block_tasks(tmp_path):
    assert lines(tk_play(tmp_path, BLOCKS, "--list-tasks")) == [
        "",
        "playbook: site.yml",
        "",
        "  play #1 (localhost): P\tTAGS: [pa,pb]",
        "    tasks:",
        "      debug\tTAGS: [pa, pb, t1]",
        "      inner\tTAGS: [pa, pb]",
    ]


def test_list_tags_includes_never_but_not_rescue(tmp_path):
    assert lines(tk_play(tmp_path, BLOCKS, "--list-tags"))[-1] == (
        "      TASK TAGS: [never, pa, pb, t1]"
    )
    assert lines(tk_play(tmp_path, BLOCKS, "--list-tags", "--tags", "t1"))[-1] == (
        "      TASK TAGS: [pa, pb, t1]"
    )


WRITES = """\
    - copy: content=ran dest={{ playbook_dir }}/marker.txt
"""


def stopped(proc: subprocess.CompletedProcess, tmp_path: Path, code: int = 5) -> str:
    """The run stopped before any task with one ERROR! line; returns stderr."""
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("ERROR!")]
    assert not (tmp_path / "marker.txt").exists(), "a task ran"
    return proc.stderr


def test_missing_vars_file_stops_before_running(tmp_path):
    book = "- hosts: localhost\n  gather_facts: false\n  vars_files:\n    - nosuch.yml\n"
    err = stopped(tk_play(tmp_path, book + "  tasks:\n" + WRITES), tmp_path)
    assert "vars file nosuch.yml was not found" in err
    assert "site.yml:4" in err


def test_start_at_unknown_task_is_an_error(tmp_path):
    book = "- hosts: localhost\n  gather_facts: false\n  tasks:\n" + WRITES
    err = stopped(tk_play(tmp_path, book, "--start-at-task", "No such task"), tmp_path)
    assert 'ERROR! No matching task "No such task" found' in err
    ran = tk_play(tmp_path, book, "--start-at-task", "cop*")  # fnmatch on the action name
    assert ran.returncode == 0 and (tmp_path / "marker.txt").exists(), ran.stderr


def test_notify_of_missing_handler_stops_before_running(tmp_path):
    book = "- hosts: localhost\n  gather_facts: false\n  tasks:\n" + WRITES
    book += "    - command: /bin/true\n      notify:\n        - nosuch handler\n"
    book += "  handlers:\n    - name: real\n      debug: msg=h\n      listen: topic\n"
    err = stopped(tk_play(tmp_path, book), tmp_path)
    assert "The requested handler 'nosuch handler' was not found" in err
    assert "site.yml:7" in err
    fine = tk_play(tmp_path, book.replace("nosuch handler", "topic"))
    assert fine.returncode == 0 and "RUNNING HANDLER [real]" in fine.stdout, fine.stderr
