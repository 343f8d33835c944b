"""The executor hands actions a full ActionContext: verbosity (debug's `verbosity:`), the
task, the play and a warning channel (pause without a terminal)."""

from __future__ import annotations

import pytest
from test_executor_play import play

from toolkit.actions.base import ActionContext

BOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - debug:
        msg: quiet
        verbosity: 1
    - pause:
        prompt: press enter
"""


def test_defaults_are_real_fields():
    ctx = ActionContext("debug", {}, "h", {}, None, None)
    assert (ctx.verbosity, ctx.task, ctx.play) == (0, None, None)
    ctx.warn("nobody listens")  # a no-op by default


@pytest.mark.parametrize("verbosity, status", [(0, "skipped"), (1, "ok")])
def test_debug_verbosity_and_pause_warning(tmp_path, verbosity, status, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)  # pytest's stdin is not a tty anyway
    code, stats, rec = play(tmp_path, BOOK, connection="local", verbosity=verbosity)
    assert code == 0
    assert rec.events[0].status == status
    assert rec.warnings == ["Not waiting for response to prompt as stdin is not interactive"]
