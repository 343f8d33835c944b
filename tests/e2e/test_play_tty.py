"""On a terminal `tk play` colours its output and shows a progress line for slow tasks;
NO_COLOR turns the colours off (real pty via pexpect)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect

TK = str(Path(sys.executable).parent / "tk")
BOOK = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: slow
      pause: seconds=3.5
    - debug: msg=done
"""


def _run(tmp_path, **env):
    book = tmp_path / "slow.yml"
    book.write_text(BOOK)
    environ = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    environ.update(env)
    child = pexpect.spawn(
        TK,
        ["play", "-c", "local", "-i", "localhost,", str(book)],
        env=environ,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 120),
    )
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, child.before


def test_colours_and_progress_on_a_tty(tmp_path):
    code, out = _run(tmp_path)
    assert code == 0, out
    assert "\x1b[0;32mok: [localhost]\x1b[0m" in out
    assert "... slow: 0/1 hosts done" in out


def test_no_color(tmp_path):
    code, out = _run(tmp_path, NO_COLOR="1")
    assert code == 0
    assert "\x1b[0;32m" not in out
    assert "ok: [localhost]" in out
