"""`included:` lines as Ansible prints them: the absolute file, every host that included it,
one line per loop item, after the hosts' results (a skipped host first)."""

from __future__ import annotations

import io
import textwrap

from toolkit.executor.options import Options
from toolkit.executor.runner import PlaybookRunner
from toolkit.inventory import Inventory
from toolkit.output.human import HumanCallback
from toolkit.playbook.loader import load_playbook

INVENTORY = "[web]\nweb1\nweb2\n[web:vars]\nansible_connection=local\n"


def run(tmp_path, text: str) -> list:
    (tmp_path / "inv.ini").write_text(INVENTORY)
    (tmp_path / "play.yml").write_text(textwrap.dedent(text))
    out = io.StringIO()
    runner = PlaybookRunner(
        load_playbook(str(tmp_path / "play.yml")),
        Inventory.load([str(tmp_path / "inv.ini")]),
        Options(forks=5),
        HumanCallback(stream=out, err=out),
    )
    assert runner.run() == 0, out.getvalue()
    return out.getvalue().splitlines()


def test_included_lines(tmp_path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "inc.yml").write_text("- debug: msg={{ item | default('x') }}\n")
    (tmp_path / "roles" / "r2" / "tasks").mkdir(parents=True)
    (tmp_path / "roles" / "r2" / "tasks" / "main.yml").write_text("- debug: msg=r2\n")
    lines = run(
        tmp_path,
        """
        - hosts: web
          gather_facts: false
          tasks:
            - include_tasks: tasks/inc.yml
              loop: [one, two]
            - include_tasks: tasks/inc.yml
              when: inventory_hostname == 'web1'
            - include_role: name=r2
        """,
    )
    inc = tmp_path / "tasks" / "inc.yml"
    shown = [line for line in lines if line.startswith(("included:", "skipping:", "TASK [inc"))]
    assert shown == [
        "TASK [include_tasks] " + "*" * 59,
        f"included: {inc} for web1, web2 => (item=one)",
        f"included: {inc} for web1, web2 => (item=two)",
        "TASK [include_tasks] " + "*" * 59,
        "skipping: [web2]",
        f"included: {inc} for web1",
        "TASK [include_role : r2] " + "*" * 55,
        "included: r2 for web1, web2",
    ]
