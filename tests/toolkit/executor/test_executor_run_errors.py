"""Errors found while a play runs that stop the whole run (as Ansible raises them)."""

from __future__ import annotations

import pytest
from test_executor_play import play

from toolkit.errors import ParseError


def test_notify_of_missing_handler_in_an_include_stops_the_run(tmp_path):
    (tmp_path / "inc.yml").write_text("- command: /bin/true\n  notify: nosuch\n")
    with pytest.raises(ParseError) as caught:
        play(
            tmp_path,
            """
            - hosts: localhost
              gather_facts: false
              tasks:
                - include_tasks: inc.yml
                - debug: msg=never
            """,
            connection="local",
        )
    assert "'nosuch' was not found" in caught.value.message
    assert str(caught.value.location).startswith(f"{tmp_path / 'inc.yml'}:2")
