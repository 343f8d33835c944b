"""Randomly broken copies of the valid fixture: the loader must answer with a TkError (a
located message) or a Playbook, never any other exception (which would print a traceback)."""

from __future__ import annotations

import random
import shutil

import yaml
from playbook_testlib import FIXTURES, is_action

from toolkit.errors import TkError
from toolkit.playbook.loader import load_playbook

VALUES = [None, 1, 0, -1, "x", "", "{{ v }}", [], {}, [1], ["a", {"b": 1}], {"a": 1}, True,
          1.5, "yes", "a=b c", [[1]], {"block": []}, {"debug": "msg=x"}]  # fmt: skip
KEYS = ["whatever", "when", "loop", "with_items", "block", "command", "tags", "vars", "become",
        "rescue", "listen", "notify", "hosts", "roles", "import_tasks", "include_role", "args",
        "action", "local_action", "loop_control", "serial", 7]  # fmt: skip


def mutate(node, rnd: random.Random) -> None:
    if isinstance(node, dict) and node:
        key = rnd.choice(list(node))
        roll = rnd.random()
        if roll < 0.3:
            node[key] = rnd.choice(VALUES)
        elif roll < 0.45:
            del node[key]
        elif roll < 0.55:
            node[rnd.choice(KEYS)] = rnd.choice(VALUES)
        else:
            mutate(node[key], rnd)
    elif isinstance(node, list) and node:
        index = rnd.randrange(len(node))
        if rnd.random() < 0.3:
            node[index] = rnd.choice(VALUES)
        else:
            mutate(node[index], rnd)


def test_mutated_playbooks_never_crash(tmp_path):
    root = tmp_path / "pb"
    shutil.copytree(FIXTURES / "valid", root)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    outcomes = {"loaded": 0, "error": 0}
    for seed in range(150):
        rnd = random.Random(seed)
        path = rnd.choice(files)
        original = path.read_text()
        data = yaml.safe_load(original)
        data = [data] if data is None else data
        mutate(data, rnd)
        path.write_text(yaml.safe_dump(data))
        try:
            load_playbook(str(root / "site.yml"), is_action=is_action)
            outcomes["loaded"] += 1
        except TkError as err:
            assert "Traceback" not in err.render()
            outcomes["error"] += 1
        finally:
            path.write_text(original)
    assert outcomes["loaded"] > 10 and outcomes["error"] > 10, outcomes
